-- The heaviest user (most conversations), a typical one (the median number of conversations, among
-- users with any) and an idle one (none). Ties go to the smallest id, so the answer is stable.
WITH per_user AS MATERIALIZED (SELECT user_id, count(*) AS n FROM conversations GROUP BY user_id)
(SELECT 'heaviest' AS kind, user_id, n FROM per_user ORDER BY n DESC, user_id LIMIT 1)
UNION ALL
(SELECT 'typical', user_id, n FROM per_user
  WHERE n >= (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY n) FROM per_user)
  ORDER BY n, user_id LIMIT 1)
UNION ALL
(SELECT 'idle', u.id, 0 FROM users u
  WHERE NOT EXISTS (SELECT 1 FROM conversations c WHERE c.user_id = u.id)
  ORDER BY u.id LIMIT 1)
