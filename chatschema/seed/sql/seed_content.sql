-- A message's content: an opener for the role, then 0..124 filler sentences, from two characters
-- ("ok") to about 9 kB. 1 in 100 user messages (pastes) and 3 in 100 replies are long, past the
-- ~2.7 kB a B-tree entry can hold. Long bodies repeat phrases, so TOAST compresses them well.
--
-- The generated text is ASCII, which every server and client encoding writes alike.
CREATE FUNCTION pg_temp.seed_content(seed bigint, g bigint, role text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
SELECT CASE role
           WHEN 'user' THEN (ARRAY[
               'ok', 'thanks!', 'yes', 'go on', 'why?', 'Can you explain this?', 'Summarize the thread above.',
               'Write a SQL query that lists the top customers by revenue.', 'What does this error mean?',
               'Translate this into French, please.', 'Make it shorter.', 'Here is my draft:',
               'How do I paginate without OFFSET?', 'Compare these two options for me.', 'hmm, not quite',
               'Give me three alternatives.'])[1 + floor(pg_temp.seed_unit(g, seed * 16 + 3) * 16)::int]
           WHEN 'assistant' THEN (ARRAY[
               'Sure.', 'Here is a summary:', 'Good question.', 'Let us go through it step by step.',
               'The short answer is no.', 'There are three options.', 'Here is the query:',
               'That error means the lock could not be taken in time.'])[1 + floor(pg_temp.seed_unit(g, seed * 16 + 3) * 8)::int]
           WHEN 'tool' THEN '{"status": "ok", "rows": ' || floor(pg_temp.seed_unit(g, seed * 16 + 3) * 500)::int::text || '}'
           ELSE 'You are a helpful assistant for a database team.'
       END
       || repeat(' ' || (ARRAY[
               'The index serves the query when its leading column is compared with equality.',
               'A keyset cursor remembers the last row seen and continues strictly after it.',
               'Vacuum marks pages all-visible so that index-only scans can skip the heap.',
               'Statistics come from a sample, so a skewed column needs a larger target.',
               'Each migration takes the weakest lock that still makes the change safe.',
               'Long text is compressed and moved out of line once a row passes two kilobytes.',
               'Reading the plan from the inside out shows where the rows come from.',
               'Short transactions hold their locks briefly and keep the queue moving.'
           ])[1 + floor(pg_temp.seed_unit(g, seed * 16 + 4) * 8)::int],
           CASE
               WHEN role IN ('user', 'assistant')
                    AND pg_temp.seed_unit(g, seed * 16 + 7) < CASE role WHEN 'user' THEN 0.01::float8 ELSE 0.03::float8 END
                   THEN 45 + floor(pg_temp.seed_unit(g, seed * 16 + 6) * 80)::int
               WHEN role = 'user' THEN floor(-ln(1 - pg_temp.seed_unit(g, seed * 16 + 6)) * 1.2)::int
               WHEN role = 'assistant' THEN 1 + floor(-ln(1 - pg_temp.seed_unit(g, seed * 16 + 6)) * 4)::int
               WHEN role = 'tool' THEN floor(-ln(1 - pg_temp.seed_unit(g, seed * 16 + 6)) * 3)::int
               ELSE 1 + floor(pg_temp.seed_unit(g, seed * 16 + 6) * 5)::int
           END)
$$
