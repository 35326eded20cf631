-- The longest conversation (most messages), a typical one (the median number of messages, among
-- non-empty ones) and an empty one. Ties go to the smallest id, so the answer is stable.
--
-- The sizes come from conversation_sizes_from_summaries.sql when the schema has the summary
-- columns (revision 0003 on), else from conversation_sizes_from_messages.sql.
WITH per_conv AS MATERIALIZED ({source})
(SELECT 'longest' AS kind, id, user_id, n FROM per_conv ORDER BY n DESC, id LIMIT 1)
UNION ALL
(SELECT 'typical', id, user_id, n FROM per_conv
  WHERE n >= (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY n) FROM per_conv WHERE n > 0)
  ORDER BY n, id LIMIT 1)
UNION ALL
(SELECT 'empty', id, user_id, n FROM per_conv WHERE n = 0 ORDER BY id LIMIT 1)
