-- The plan's extent: the end of time (one second after the last message) and the longest
-- conversation's duration, which bounds how far back a window must look for conversations alive in it.
SELECT coalesce(max(last_s), 0) + 1 AS span,
       coalesce(max(last_s - start_s), 0) AS max_span
FROM seed_plan
