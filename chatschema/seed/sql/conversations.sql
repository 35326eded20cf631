-- The conversations created in the window [a, b) of seconds, in creation order, in buckets of
-- step seconds (one chunk each).
--
-- Each comes with its summary (revision 0003 on), taken from its last message as the message
-- generator makes it: the greatest (created_at, id) of its last two messages (a turn holds at most
-- two, and turns are at least a second apart), or of all of them when imported (all at one
-- instant). So each conversation row is written once, never updated.
--
-- preview_chars is chatschema.vocabulary.PREVIEW_CHARS.
SELECT p.id,
       p.user_id,
       'conversation ' || p.n AS title,
       pg_temp.seed_time(p.start_s) AS created_at,
       coalesce(lm.created_at, pg_temp.seed_time(p.start_s)) AS updated_at,
       coalesce(lm.created_at, pg_temp.seed_time(p.start_s)) AS last_activity_at,
       p.messages AS message_count,
       lm.id AS last_message_id,
       CASE WHEN lm.id IS NOT NULL THEN left(pg_temp.seed_content(%(seed)s, lm.g, lm.role), %(preview_chars)s) END
           AS last_message_preview,
       p.start_s,
       p.n,
       p.bucket
FROM (
    SELECT *, (start_s - %(a)s) / %(step)s AS bucket
    FROM seed_plan WHERE start_s >= %(a)s AND start_s < %(b)s
    ORDER BY bucket, start_s, n
) AS p
LEFT JOIN LATERAL (
    SELECT k.id, k.g, k.created_at, pg_temp.seed_role(%(seed)s, k.g, k.j) AS role
    FROM pg_temp.seed_message_keys(%(seed)s, p.start_s, p.gap_s, p.system_first, p.first_message,
                                   CASE WHEN p.gap_s = 0 THEN 1 ELSE greatest(p.messages - 1, 1) END,
                                   p.messages) AS k
    ORDER BY k.created_at DESC, k.id DESC
    LIMIT 1
) AS lm ON true
ORDER BY p.bucket, p.start_s, p.n
