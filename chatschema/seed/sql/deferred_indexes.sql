-- The indexes of the tables (parameter tables: their names) that the load drops and builds again
-- afterwards by sorting, instead of maintaining them row by row; read before they are dropped and
-- re-executed verbatim after.
--
-- Only what its definition recreates exactly: a valid index in the default tablespace, neither the
-- clustering nor the replica-identity index, with no comment and no statistics target; of the
-- constraints behind indexes only a primary key (no unique or exclusion constraint, nothing
-- deferrable) without a comment.
SELECT n.nspname AS schema_name,
       t.relname AS table_name,
       i.relname AS index_name,
       k.conname AS constraint_name,
       pg_get_indexdef(x.indexrelid) AS definition
  FROM pg_index x
  JOIN pg_class i ON i.oid = x.indexrelid
  JOIN pg_class t ON t.oid = x.indrelid
  JOIN pg_namespace n ON n.oid = t.relnamespace
  LEFT JOIN pg_constraint k
         ON k.conindid = x.indexrelid AND k.conrelid = x.indrelid AND k.contype IN ('p', 'u', 'x')
 WHERE x.indrelid = ANY(%(tables)s::text[]::regclass[])
   AND x.indisvalid AND x.indisready AND x.indislive AND NOT x.indisclustered AND NOT x.indisreplident
   AND i.reltablespace = 0
   AND obj_description(x.indexrelid, 'pg_class') IS NULL
   AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = x.indexrelid AND a.attstattarget >= 0)
   AND (k.oid IS NULL
        OR k.contype = 'p' AND NOT k.condeferrable AND obj_description(k.oid, 'pg_constraint') IS NULL)
 ORDER BY t.relname, i.relname
