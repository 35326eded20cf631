-- The messages whose time falls in the window [a, b) of seconds, in time order, in buckets of
-- step seconds (one chunk each): so a conversation's messages lie scattered over the heap as in
-- production.
--
-- For each conversation alive in the window (it started at most max_span seconds before it): its
-- first and last turn inside the window (all of them for an imported one: greatest and least skip
-- the NULLs), then those turns' messages. Sorting narrow keys first and writing the content after
-- keeps the sort small.
SELECT m.id, m.conversation_id, m.user_id, m.role, pg_temp.seed_content(%(seed)s, m.g, m.role) AS content, m.created_at,
       m.g, m.bucket
FROM (
    SELECT k.id, p.id AS conversation_id, p.user_id, k.g, k.created_at, pg_temp.seed_role(%(seed)s, k.g, k.j) AS role,
           (k.s - %(a)s) / %(step)s AS bucket
    FROM seed_plan AS p
    CROSS JOIN LATERAL (
        SELECT greatest(1 - p.system_first::int, (%(a)s - p.start_s + p.gap_s - 1) / nullif(p.gap_s, 0)) AS first_turn,
               least(p.turns, (%(b)s - 1 - p.start_s) / nullif(p.gap_s, 0)) AS last_turn
    ) AS t
    CROSS JOIN LATERAL pg_temp.seed_message_keys(
        %(seed)s, p.start_s, p.gap_s, p.system_first, p.first_message,
        CASE WHEN t.first_turn = 0 THEN 1 ELSE 2 * t.first_turn - 1 + p.system_first::int END,
        least(p.messages, 2 * t.last_turn + p.system_first::int)) AS k
    WHERE p.start_s >= %(a)s - %(max_span)s
      AND p.start_s < %(b)s
      AND p.last_s >= %(a)s
      AND p.messages > 0
    ORDER BY bucket, k.created_at, k.g
) AS m
ORDER BY m.bucket, m.created_at, m.g
