-- The foreign keys of the tables (parameter tables: their names) that the load drops and adds
-- again afterwards, checked by one join of the two tables instead of row by row. Not a partition's
-- copy of its parent's key, nor one with a comment (adding it back would lose the comment).
SELECT n.nspname AS schema_name,
       t.relname AS table_name,
       k.conname AS constraint_name,
       pg_get_constraintdef(k.oid) AS definition
  FROM pg_constraint k
  JOIN pg_class t ON t.oid = k.conrelid
  JOIN pg_namespace n ON n.oid = t.relnamespace
 WHERE k.conrelid = ANY(%(tables)s::text[]::regclass[]) AND k.contype = 'f' AND k.conparentid = 0
   AND obj_description(k.oid, 'pg_constraint') IS NULL
 ORDER BY t.relname, k.conname
