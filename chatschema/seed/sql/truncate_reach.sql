-- Every table TRUNCATE users, conversations, messages CASCADE would empty, and the foreign key that
-- takes the cascade there: the tables whose foreign keys refer to one of them, then those referring
-- to those, and so on (a partition's copy of its parent's key adds nothing). Parameter tables: the
-- names of chatschema's three tables; they are left out of the result.
WITH RECURSIVE reach(relid, via, referenced) AS (
    SELECT k.conrelid, k.conname, k.confrelid
      FROM pg_constraint k
     WHERE k.contype = 'f' AND k.conparentid = 0
       AND k.confrelid = ANY(%(tables)s::text[]::regclass[])
       AND k.conrelid <> ALL(%(tables)s::text[]::regclass[])
    UNION
    SELECT k.conrelid, k.conname, k.confrelid
      FROM pg_constraint k
      JOIN reach r ON k.confrelid = r.relid
     WHERE k.contype = 'f' AND k.conparentid = 0
       AND k.conrelid <> ALL(%(tables)s::text[]::regclass[])
)
SELECT DISTINCT ON (relid) relid::regclass::text AS table_name,
       via AS constraint_name,
       referenced::regclass::text AS referenced
  FROM reach
 ORDER BY relid, via
