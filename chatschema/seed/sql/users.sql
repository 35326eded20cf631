-- The users, signing up over the year before the first conversation. Few enough for one chunk
-- (bucket 0).
--
-- Like every SELECT of rows to load, it ends with ORDER BY bucket (the chunk a row goes out in),
-- then the load order; chunks.sql turns its rows into chunks of binary COPY data.
SELECT decode(md5(%(seed)s::text || '/u/' || u::text), 'hex') AS id,
       'user ' || u AS name,
       pg_temp.seed_time(floor((pg_temp.seed_unit(u, %(seed)s * 16 + 10) - 1) * 31536000)::bigint) AS created_at,
       0 AS bucket
FROM generate_series(1, %(users)s) AS u
ORDER BY bucket, created_at, id
