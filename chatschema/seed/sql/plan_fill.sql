-- Fills seed_plan: who owns each conversation, when it starts, how many messages it holds.
--
--   owner: user 1 (the whale), users 2..4 (heavy), else a normal user drawn with a power law, so
--          some have several times the median; the last idle users own nothing.
--   time: created uniformly over 180 days, 1 in 10 on the hour; turns 5 s to 1 h apart, squeezed
--         so that no conversation lasts more than 30 days. 1 in 20 was imported in bulk: created,
--         and every message stamped, at its owner's import instant, as a migration relying on
--         DEFAULT now() leaves them. Those tie everywhere: only the id orders them.
--   messages: conversation 1 and 2..5 take fixed shares; of the rest 6 in 100 are empty, each
--             other one gets one message plus a share by weight (geometric, x30 for 1 in 100).
--             Floor differences of the running sum make the total exactly the scale's count.
--
-- Parameters are psycopg's named ones (a percent sign, the name in parentheses, then s), from
-- chatschema.seed.scales.plan_params; a doubled percent sign is the modulo operator.
WITH draws AS MATERIALIZED (
    SELECT n, user_no, imported, system_first, u_gap, weight,
           CASE
               WHEN imported THEN floor(pg_temp.seed_unit(user_no, %(seed)s * 16 + 11) * 180)::bigint * 86400
               WHEN u_hour < 0.1 THEN s - s %% 3600
               ELSE s
           END AS start_s
    FROM (
        SELECT n, s, u_hour, u_gap,
               CASE
                   WHEN n = 1 THEN 2
                   WHEN n <= 1 + %(big_count)s THEN n - 1
                   WHEN u_owner < %(whale_share)s THEN 1
                   WHEN u_owner < %(whale_share)s + %(heavy_share)s
                       THEN 2 + floor((u_owner - %(whale_share)s) / %(heavy_share)s * %(heavy_users)s)::int
                   ELSE 2 + %(heavy_users)s + floor(%(normal_users)s * power(u_pick, 1.5))::int
               END AS user_no,
               n > 1 + %(big_count)s AND u_import < 0.05 AS imported,
               u_system < 0.3 AS system_first,
               CASE
                   WHEN n <= 1 + %(big_count)s OR u_empty < 0.06 THEN 0
                   ELSE (1 + floor(-ln(1 - u_size) * 6)::int) * CASE WHEN u_long < 0.01 THEN 30 ELSE 1 END
               END AS weight
        FROM (
            SELECT n,
                   floor(pg_temp.seed_unit(n, %(seed)s * 16 + 1) * 15552000)::bigint AS s,
                   pg_temp.seed_unit(n, %(seed)s * 16 + 2) AS u_owner,
                   pg_temp.seed_unit(n, %(seed)s * 16 + 3) AS u_pick,
                   pg_temp.seed_unit(n, %(seed)s * 16 + 4) AS u_hour,
                   pg_temp.seed_unit(n, %(seed)s * 16 + 5) AS u_system,
                   pg_temp.seed_unit(n, %(seed)s * 16 + 6) AS u_gap,
                   pg_temp.seed_unit(n, %(seed)s * 16 + 7) AS u_empty,
                   pg_temp.seed_unit(n, %(seed)s * 16 + 8) AS u_size,
                   pg_temp.seed_unit(n, %(seed)s * 16 + 9) AS u_long,
                   pg_temp.seed_unit(n, %(seed)s * 16 + 12) AS u_import
            FROM generate_series(1, %(conversations)s) AS n
            OFFSET 0  -- draw each number once, not once per reference
        ) AS u
    ) AS owned
),
sized AS (
    SELECT d.n, d.user_no, d.start_s, d.system_first, d.u_gap, d.imported,
           CASE
               WHEN d.n = 1 THEN %(longest)s
               WHEN d.n <= 1 + %(big_count)s THEN %(big)s
               WHEN d.weight = 0 THEN 0
               ELSE 1 + (t.extra * d.cum / t.total - t.extra * (d.cum - d.weight) / t.total)::int
           END AS messages
    FROM (SELECT *, sum(weight) OVER (ORDER BY n) AS cum FROM draws) AS d
    CROSS JOIN (
        SELECT sum(weight) AS total, %(rest)s - count(*) FILTER (WHERE weight > 0) AS extra FROM draws
    ) AS t
),
numbered AS (
    SELECT *,
           sum(messages) OVER (ORDER BY n) - messages AS first_message,
           greatest(0, messages - system_first::int + 1) / 2 AS turns
    FROM sized
)
INSERT INTO seed_plan (n, id, user_id, start_s, gap_s, system_first, messages, first_message, turns, last_s)
SELECT n,
       decode(md5(%(seed)s::text || '/c/' || n::text), 'hex'),
       decode(md5(%(seed)s::text || '/u/' || user_no::text), 'hex'),
       start_s, gap_s, system_first, messages, first_message, turns,
       start_s + turns * gap_s
FROM (
    SELECT *,
           CASE
               WHEN imported THEN 0
               ELSE greatest(1, least(floor(5 * power(720, u_gap)), 2592000 / greatest(turns, 1)))::int
           END AS gap_s
    FROM numbered
) AS timed
