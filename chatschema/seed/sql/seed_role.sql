-- A message's role: mostly user and assistant in turn; 4 in 100 replies are tool output.
CREATE FUNCTION pg_temp.seed_role(seed bigint, g bigint, j bigint) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
SELECT CASE
           WHEN j = 0 THEN 'system'
           WHEN j % 2 = 1 THEN 'user'
           WHEN pg_temp.seed_unit(g, seed * 16 + 5) < 0.04 THEN 'tool'
           ELSE 'assistant'
       END
$$
