-- Wraps a SELECT of rows to load (users.sql, conversations.sql, messages.sql) into chunks of
-- binary COPY data: one result row per chunk, the string_agg of its rows, each row already in
-- COPY's binary format (the field expressions are built in chatschema/seed/load.py). So rows cross
-- the client a chunk at a time, never one by one.
--
-- The SELECT ends with ORDER BY bucket, then the load order: PostgreSQL never flattens a sorted
-- subquery, so a column the row names twice (a text's length and its bytes) is computed once, and
-- its order is what grouping and string_agg's ORDER BY ask for, so nothing sorts again (on
-- PostgreSQL 15 string_agg still sorts each chunk's rows: the order stays certain).
SELECT string_agg({row}, ''::bytea ORDER BY {order}) AS chunk,
       count(*) AS row_count
FROM ({select}) AS r
GROUP BY r.bucket
ORDER BY r.bucket
