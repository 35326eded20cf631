-- Messages k_from..k_to (1-based) of one conversation: id, global number g, place j in the
-- user/assistant alternation (0 is the system prompt) and time (s in seconds, created_at).
--
-- A user message and the reply to it share a turn, hence a timestamp, as when the application
-- stores both in one transaction. Ids are md5 of (seed, global number), as the 16 bytes uuid_send
-- gives.
CREATE FUNCTION pg_temp.seed_message_keys(
    seed bigint, start_s bigint, gap_s integer, system_first boolean, first_message bigint,
    k_from bigint, k_to bigint)
RETURNS TABLE (id bytea, g bigint, j bigint, s bigint, created_at timestamptz)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
SELECT decode(md5(seed::text || '/m/' || (first_message + k)::text), 'hex'),
       first_message + k,
       k - system_first::int,
       start_s + (k - system_first::int + 1) / 2 * gap_s,
       pg_temp.seed_time(start_s + (k - system_first::int + 1) / 2 * gap_s)
FROM generate_series(k_from, k_to) AS k
$$
