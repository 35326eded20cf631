-- A uniform number in [0, 1) from a row number and a salt: every random choice of the seed.
--
-- Every generator function is IMMUTABLE SQL with a single SELECT, so the planner inlines it and a
-- call costs what its expression costs. That holds only while the body calls nothing merely
-- STABLE: hence ::text before every || (text || bigint is STABLE).
--
-- Salts keep independent choices independent: seed * 16 + k, one k per choice.
CREATE FUNCTION pg_temp.seed_unit(n bigint, salt bigint) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT (hashint8extended(n, salt) & 4503599627370495)::float8 / 4503599627370496 $$
