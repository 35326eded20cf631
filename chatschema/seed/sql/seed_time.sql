-- The generator counts time in whole seconds after 2025-01-01 00:00 UTC; this makes them timestamptz.
CREATE FUNCTION pg_temp.seed_time(s bigint) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT to_timestamp(1735689600 + s) $$  -- 2025-01-01 00:00:00 UTC
