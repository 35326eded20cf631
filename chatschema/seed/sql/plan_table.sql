-- The plan: one row per conversation, from which every generated row follows. Each generating
-- session builds its own copy as a temporary table, private to it (the plan is deterministic, so
-- the copies are equal), rather than leaving a shared table in the user's schema.
CREATE TEMP TABLE seed_plan (
    n             bigint NOT NULL,     -- 1: the longest conversation; 2..5: the next biggest
    id            bytea NOT NULL,      -- a uuid's 16 bytes, as uuid_send gives them
    user_id       bytea NOT NULL,
    start_s       bigint NOT NULL,     -- created_at, seconds after the epoch
    gap_s         integer NOT NULL,    -- seconds between turns; 0 when imported (every message at start_s)
    system_first  boolean NOT NULL,
    messages      integer NOT NULL,
    first_message bigint NOT NULL,     -- global number of its first message, minus one
    turns         integer NOT NULL,
    last_s        bigint NOT NULL      -- its last message's time; start_s when empty
)
