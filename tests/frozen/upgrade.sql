SET lock_timeout = '500ms';

SET statement_timeout = '60000ms';

BEGIN;

CREATE TABLE chatschema_version (
    version_num VARCHAR(32) NOT NULL, 
    CONSTRAINT chatschema_version_pkc PRIMARY KEY (version_num)
);

-- Running upgrade  -> 0001

CREATE TABLE users (
    id UUID NOT NULL, 
    name TEXT NOT NULL, 
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL, 
    PRIMARY KEY (id)
);

CREATE TABLE conversations (
    id UUID NOT NULL, 
    user_id UUID NOT NULL, 
    title TEXT DEFAULT '' NOT NULL, 
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL, 
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL, 
    PRIMARY KEY (id), 
    FOREIGN KEY(user_id) REFERENCES users (id) ON DELETE CASCADE
);

CREATE INDEX ix_conversations_user_id ON conversations (user_id);

CREATE TABLE messages (
    id UUID NOT NULL, 
    conversation_id UUID NOT NULL, 
    role VARCHAR(20) NOT NULL, 
    content TEXT NOT NULL, 
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL, 
    PRIMARY KEY (id), 
    FOREIGN KEY(conversation_id) REFERENCES conversations (id) ON DELETE CASCADE
);

CREATE INDEX ix_messages_conversation_id ON messages (conversation_id);

INSERT INTO chatschema_version (version_num) VALUES ('0001') RETURNING chatschema_version.version_num;

COMMIT;

BEGIN;

-- Running upgrade 0001 -> 0002

COMMIT;

SET lock_timeout = '900000ms';

SET statement_timeout = '0ms';

DO $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE c.relname = 'ix_messages_conversation_recent' AND c.relnamespace = current_schema()::regnamespace AND NOT i.indisvalid
    ) THEN
        RAISE EXCEPTION 'index ix_messages_conversation_recent is INVALID (left by a failed build): DROP INDEX CONCURRENTLY ix_messages_conversation_recent; then re-run';
    END IF;
END $$;

CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_messages_conversation_recent ON messages (conversation_id, created_at DESC, id DESC) INCLUDE (role);

DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE c.relname = 'ix_messages_conversation_recent' AND c.relnamespace = current_schema()::regnamespace AND i.indisvalid
    ) THEN
        RAISE EXCEPTION 'index ix_messages_conversation_recent is missing or INVALID after CREATE INDEX CONCURRENTLY';
    END IF;
END $$;

SET lock_timeout = '500ms';

SET statement_timeout = '60000ms';

SET lock_timeout = '900000ms';

SET statement_timeout = '0ms';

DROP INDEX CONCURRENTLY IF EXISTS "ix_messages_conversation_id";

SET lock_timeout = '500ms';

SET statement_timeout = '60000ms';

BEGIN;

UPDATE chatschema_version SET version_num='0002' WHERE chatschema_version.version_num = '0001';

COMMIT;

BEGIN;

-- Running upgrade 0002 -> 0003

ALTER TABLE messages
            ADD CONSTRAINT ck_messages_role CHECK (role IN ('system', 'user', 'assistant', 'tool')) NOT VALID,
            SET (autovacuum_vacuum_insert_scale_factor = 0.02);

ALTER TABLE messages ALTER COLUMN conversation_id SET STATISTICS 1000;

ALTER TABLE conversations
            ADD COLUMN last_activity_at timestamptz NOT NULL DEFAULT now(),
            ADD COLUMN message_count integer NOT NULL DEFAULT 0,
            ADD COLUMN last_message_id uuid,
            ADD COLUMN last_message_preview text,
            ADD CONSTRAINT ck_conversations_message_count CHECK (message_count >= 0) NOT VALID,
            ADD CONSTRAINT ck_conversations_preview_length CHECK (char_length(last_message_preview) <= 100) NOT VALID,
            SET (autovacuum_vacuum_scale_factor = 0.02);

UPDATE chatschema_version SET version_num='0003' WHERE chatschema_version.version_num = '0002';

COMMIT;

BEGIN;

-- Running upgrade 0003 -> 0004

COMMIT;

CREATE TABLE IF NOT EXISTS chatschema_backfill (
    name        text PRIMARY KEY,
    last_id     uuid,
    rows_done   bigint NOT NULL DEFAULT 0,
    finished_at timestamptz,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

DO $$
DECLARE
    after uuid;
    ids uuid[];
    finished timestamptz;
BEGIN
    SELECT last_id, finished_at INTO after, finished FROM chatschema_backfill WHERE name = 'conversation_summaries';
    IF finished IS NOT NULL THEN
        RETURN;
    END IF;
    LOOP
        IF after IS NULL THEN
            SELECT array_agg(id) INTO ids FROM (
                SELECT id FROM conversations ORDER BY id LIMIT 2000 FOR UPDATE) AS batch;
        ELSE
            SELECT array_agg(id) INTO ids FROM (
                SELECT id FROM conversations WHERE id > after ORDER BY id LIMIT 2000 FOR UPDATE) AS batch;
        END IF;
        EXIT WHEN ids IS NULL;
        UPDATE conversations AS c
   SET message_count        = s.n,
       last_activity_at     = COALESCE(l.created_at, c.created_at),
       last_message_id      = l.id,
       last_message_preview = left(l.content, 100)
  FROM unnest(ids::uuid[]) AS b(id)
  CROSS JOIN LATERAL (
        SELECT count(*)::int AS n FROM messages m WHERE m.conversation_id = b.id
  ) AS s
  LEFT JOIN LATERAL (
        SELECT m.id, m.created_at, m.content
          FROM messages m
         WHERE m.conversation_id = b.id
         ORDER BY m.created_at DESC, m.id DESC
         LIMIT 1
  ) AS l ON true
 WHERE c.id = b.id;
        after := ids[array_upper(ids, 1)];
        INSERT INTO chatschema_backfill (name, last_id, rows_done, updated_at)
        VALUES ('conversation_summaries', after, array_length(ids, 1), now())
        ON CONFLICT (name) DO UPDATE SET last_id = EXCLUDED.last_id,
            rows_done = chatschema_backfill.rows_done + EXCLUDED.rows_done, updated_at = now();
        COMMIT;
    END LOOP;
    INSERT INTO chatschema_backfill (name, finished_at) VALUES ('conversation_summaries', now())
    ON CONFLICT (name) DO UPDATE SET finished_at = now(), updated_at = now();
    COMMIT;
END $$;

BEGIN;

UPDATE chatschema_version SET version_num='0004' WHERE chatschema_version.version_num = '0003';

COMMIT;

BEGIN;

-- Running upgrade 0004 -> 0005

SET LOCAL lock_timeout = '900000ms';

SET LOCAL statement_timeout = '0ms';

ALTER TABLE "conversations" VALIDATE CONSTRAINT "ck_conversations_message_count";

SET LOCAL lock_timeout = '500ms';

SET LOCAL statement_timeout = '60000ms';

SET LOCAL lock_timeout = '900000ms';

SET LOCAL statement_timeout = '0ms';

ALTER TABLE "conversations" VALIDATE CONSTRAINT "ck_conversations_preview_length";

SET LOCAL lock_timeout = '500ms';

SET LOCAL statement_timeout = '60000ms';

SET LOCAL lock_timeout = '900000ms';

SET LOCAL statement_timeout = '0ms';

ALTER TABLE "messages" VALIDATE CONSTRAINT "ck_messages_role";

SET LOCAL lock_timeout = '500ms';

SET LOCAL statement_timeout = '60000ms';

UPDATE chatschema_version SET version_num='0005' WHERE chatschema_version.version_num = '0004';

COMMIT;

BEGIN;

-- Running upgrade 0005 -> 0006

COMMIT;

SET lock_timeout = '900000ms';

SET statement_timeout = '0ms';

DO $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE c.relname = 'ix_conversations_user_activity' AND c.relnamespace = current_schema()::regnamespace AND NOT i.indisvalid
    ) THEN
        RAISE EXCEPTION 'index ix_conversations_user_activity is INVALID (left by a failed build): DROP INDEX CONCURRENTLY ix_conversations_user_activity; then re-run';
    END IF;
END $$;

CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_conversations_user_activity ON conversations (user_id, last_activity_at DESC, id DESC);

DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE c.relname = 'ix_conversations_user_activity' AND c.relnamespace = current_schema()::regnamespace AND i.indisvalid
    ) THEN
        RAISE EXCEPTION 'index ix_conversations_user_activity is missing or INVALID after CREATE INDEX CONCURRENTLY';
    END IF;
END $$;

SET lock_timeout = '500ms';

SET statement_timeout = '60000ms';

SET lock_timeout = '900000ms';

SET statement_timeout = '0ms';

DROP INDEX CONCURRENTLY IF EXISTS "ix_conversations_user_id";

SET lock_timeout = '500ms';

SET statement_timeout = '60000ms';

BEGIN;

UPDATE chatschema_version SET version_num='0006' WHERE chatschema_version.version_num = '0005';

COMMIT;

BEGIN;

-- Running upgrade 0006 -> 0007

CREATE MATERIALIZED VIEW IF NOT EXISTS user_daily_messages AS
        SELECT c.user_id,
               (m.created_at AT TIME ZONE 'UTC')::date                 AS day,
               count(*)::bigint                                         AS messages,
               count(*) FILTER (WHERE m.role = 'user')::bigint          AS user_messages,
               count(*) FILTER (WHERE m.role = 'assistant')::bigint     AS assistant_messages,
               count(DISTINCT m.conversation_id)::bigint                AS active_conversations
        FROM messages m
        JOIN conversations c ON c.id = m.conversation_id
        GROUP BY c.user_id, (m.created_at AT TIME ZONE 'UTC')::date
        WITH NO DATA;

CREATE UNIQUE INDEX IF NOT EXISTS ux_user_daily_messages ON user_daily_messages (user_id, day);

CREATE MATERIALIZED VIEW IF NOT EXISTS daily_message_totals AS
        SELECT day,
               sum(messages)::bigint             AS messages,
               count(*)::bigint                  AS active_users,
               sum(active_conversations)::bigint AS active_conversations
        FROM user_daily_messages
        GROUP BY day
        WITH NO DATA;

CREATE UNIQUE INDEX IF NOT EXISTS ux_daily_message_totals ON daily_message_totals (day);

COMMIT;

SET statement_timeout = '0ms';

REFRESH MATERIALIZED VIEW "user_daily_messages";

SET statement_timeout = '60000ms';

SET statement_timeout = '0ms';

REFRESH MATERIALIZED VIEW "daily_message_totals";

SET statement_timeout = '60000ms';

BEGIN;

UPDATE chatschema_version SET version_num='0007' WHERE chatschema_version.version_num = '0006';

COMMIT;

BEGIN;

-- Running upgrade 0007 -> 0008

ALTER TABLE conversations
            DROP CONSTRAINT IF EXISTS ck_conversations_created_at_finite,
            DROP CONSTRAINT IF EXISTS ck_conversations_updated_at_finite,
            DROP CONSTRAINT IF EXISTS ck_conversations_last_activity_at_finite,
            ADD CONSTRAINT ck_conversations_created_at_finite CHECK (isfinite(created_at)
                AND created_at >= '0001-01-02 00:00:00+00' AND created_at < '9999-12-31 00:00:00+00') NOT VALID,
            ADD CONSTRAINT ck_conversations_updated_at_finite CHECK (isfinite(updated_at)
                AND updated_at >= '0001-01-02 00:00:00+00' AND updated_at < '9999-12-31 00:00:00+00') NOT VALID,
            ADD CONSTRAINT ck_conversations_last_activity_at_finite CHECK (isfinite(last_activity_at)
                AND last_activity_at >= '0001-01-02 00:00:00+00' AND last_activity_at < '9999-12-31 00:00:00+00')
                NOT VALID;

ALTER TABLE messages
            DROP CONSTRAINT IF EXISTS ck_messages_created_at_finite,
            ADD CONSTRAINT ck_messages_created_at_finite CHECK (isfinite(created_at)
                AND created_at >= '0001-01-02 00:00:00+00' AND created_at < '9999-12-31 00:00:00+00') NOT VALID;

COMMIT;

SET lock_timeout = '900000ms';

SET statement_timeout = '0ms';

ALTER TABLE "messages" VALIDATE CONSTRAINT "ck_messages_created_at_finite";

SET lock_timeout = '500ms';

SET statement_timeout = '60000ms';

SET lock_timeout = '900000ms';

SET statement_timeout = '0ms';

ALTER TABLE "conversations" VALIDATE CONSTRAINT "ck_conversations_created_at_finite";

SET lock_timeout = '500ms';

SET statement_timeout = '60000ms';

SET lock_timeout = '900000ms';

SET statement_timeout = '0ms';

ALTER TABLE "conversations" VALIDATE CONSTRAINT "ck_conversations_updated_at_finite";

SET lock_timeout = '500ms';

SET statement_timeout = '60000ms';

SET lock_timeout = '900000ms';

SET statement_timeout = '0ms';

ALTER TABLE "conversations" VALIDATE CONSTRAINT "ck_conversations_last_activity_at_finite";

SET lock_timeout = '500ms';

SET statement_timeout = '60000ms';

BEGIN;

UPDATE chatschema_version SET version_num='0008' WHERE chatschema_version.version_num = '0007';

COMMIT;

BEGIN;

-- Running upgrade 0008 -> 0009

ALTER TABLE messages
            ADD COLUMN user_id uuid,
            ADD CONSTRAINT ck_messages_user_id_not_null CHECK (user_id IS NOT NULL) NOT VALID;

CREATE STATISTICS IF NOT EXISTS st_messages_owner (dependencies) ON conversation_id, user_id FROM messages;

CREATE FUNCTION chatschema_messages_fill_user_id() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.user_id IS NULL THEN
                SELECT c.user_id INTO NEW.user_id FROM conversations c WHERE c.id = NEW.conversation_id;
            END IF;
            RETURN NEW;
        END
        $$;

CREATE TRIGGER chatschema_messages_fill_user_id BEFORE INSERT ON messages
        FOR EACH ROW EXECUTE FUNCTION chatschema_messages_fill_user_id();

UPDATE chatschema_version SET version_num='0009' WHERE chatschema_version.version_num = '0008';

COMMIT;

BEGIN;

-- Running upgrade 0009 -> 0010

COMMIT;

CREATE TABLE IF NOT EXISTS chatschema_backfill (
    name        text PRIMARY KEY,
    last_id     uuid,
    rows_done   bigint NOT NULL DEFAULT 0,
    finished_at timestamptz,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

DO $$
DECLARE
    after uuid;
    ids uuid[];
    finished timestamptz;
BEGIN
    SELECT last_id, finished_at INTO after, finished FROM chatschema_backfill WHERE name = 'message_user_ids';
    IF finished IS NOT NULL THEN
        RETURN;
    END IF;
    LOOP
        IF after IS NULL THEN
            SELECT array_agg(id) INTO ids FROM (
                SELECT id FROM messages ORDER BY id LIMIT 2000) AS batch;
        ELSE
            SELECT array_agg(id) INTO ids FROM (
                SELECT id FROM messages WHERE id > after ORDER BY id LIMIT 2000) AS batch;
        END IF;
        EXIT WHEN ids IS NULL;
        UPDATE messages AS m
   SET user_id = c.user_id
  FROM unnest(ids::uuid[]) AS b(id), conversations AS c
 WHERE m.id = b.id
   AND c.id = m.conversation_id
   AND m.user_id IS DISTINCT FROM c.user_id;
        after := ids[array_upper(ids, 1)];
        INSERT INTO chatschema_backfill (name, last_id, rows_done, updated_at)
        VALUES ('message_user_ids', after, array_length(ids, 1), now())
        ON CONFLICT (name) DO UPDATE SET last_id = EXCLUDED.last_id,
            rows_done = chatschema_backfill.rows_done + EXCLUDED.rows_done, updated_at = now();
        COMMIT;
    END LOOP;
    INSERT INTO chatschema_backfill (name, finished_at) VALUES ('message_user_ids', now())
    ON CONFLICT (name) DO UPDATE SET finished_at = now(), updated_at = now();
    COMMIT;
END $$;

BEGIN;

UPDATE chatschema_version SET version_num='0010' WHERE chatschema_version.version_num = '0009';

COMMIT;

BEGIN;

-- Running upgrade 0010 -> 0011

SET LOCAL lock_timeout = '900000ms';

SET LOCAL statement_timeout = '0ms';

ALTER TABLE "messages" VALIDATE CONSTRAINT "ck_messages_user_id_not_null";

SET LOCAL lock_timeout = '500ms';

SET LOCAL statement_timeout = '60000ms';

UPDATE chatschema_version SET version_num='0011' WHERE chatschema_version.version_num = '0010';

COMMIT;

BEGIN;

-- Running upgrade 0011 -> 0012

COMMIT;

SET lock_timeout = '900000ms';

SET statement_timeout = '0ms';

DO $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE c.relname = 'ux_conversations_id_user_id' AND c.relnamespace = current_schema()::regnamespace AND NOT i.indisvalid
    ) THEN
        RAISE EXCEPTION 'index ux_conversations_id_user_id is INVALID (left by a failed build): DROP INDEX CONCURRENTLY ux_conversations_id_user_id; then re-run';
    END IF;
END $$;

CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS ux_conversations_id_user_id ON conversations (id, user_id);

DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE c.relname = 'ux_conversations_id_user_id' AND c.relnamespace = current_schema()::regnamespace AND i.indisvalid
    ) THEN
        RAISE EXCEPTION 'index ux_conversations_id_user_id is missing or INVALID after CREATE INDEX CONCURRENTLY';
    END IF;
END $$;

SET lock_timeout = '500ms';

SET statement_timeout = '60000ms';

SET lock_timeout = '900000ms';

SET statement_timeout = '0ms';

DO $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE c.relname = 'ux_messages_id_user_id' AND c.relnamespace = current_schema()::regnamespace AND NOT i.indisvalid
    ) THEN
        RAISE EXCEPTION 'index ux_messages_id_user_id is INVALID (left by a failed build): DROP INDEX CONCURRENTLY ux_messages_id_user_id; then re-run';
    END IF;
END $$;

CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS ux_messages_id_user_id ON messages (id, user_id);

DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE c.relname = 'ux_messages_id_user_id' AND c.relnamespace = current_schema()::regnamespace AND i.indisvalid
    ) THEN
        RAISE EXCEPTION 'index ux_messages_id_user_id is missing or INVALID after CREATE INDEX CONCURRENTLY';
    END IF;
END $$;

SET lock_timeout = '500ms';

SET statement_timeout = '60000ms';

BEGIN;

UPDATE chatschema_version SET version_num='0012' WHERE chatschema_version.version_num = '0011';

COMMIT;

BEGIN;

-- Running upgrade 0012 -> 0013

LOCK TABLE conversations IN EXCLUSIVE MODE;

ALTER TABLE messages ALTER COLUMN user_id SET NOT NULL;

ALTER TABLE messages DROP CONSTRAINT ck_messages_user_id_not_null;

ALTER TABLE messages
            ADD CONSTRAINT fk_messages_conversation_owner FOREIGN KEY (user_id, conversation_id)
            REFERENCES conversations (user_id, id) ON DELETE CASCADE NOT VALID;

UPDATE chatschema_version SET version_num='0013' WHERE chatschema_version.version_num = '0012';

COMMIT;

BEGIN;

-- Running upgrade 0013 -> 0014

SET LOCAL lock_timeout = '900000ms';

SET LOCAL statement_timeout = '0ms';

ALTER TABLE "messages" VALIDATE CONSTRAINT "fk_messages_conversation_owner";

SET LOCAL lock_timeout = '500ms';

SET LOCAL statement_timeout = '60000ms';

UPDATE chatschema_version SET version_num='0014' WHERE chatschema_version.version_num = '0013';

COMMIT;

BEGIN;

-- Running upgrade 0014 -> 0015

LOCK TABLE conversations IN ACCESS EXCLUSIVE MODE;

LOCK TABLE messages IN ACCESS EXCLUSIVE MODE;

ALTER TABLE messages DROP CONSTRAINT messages_conversation_id_fkey;

ALTER TABLE messages
            DROP CONSTRAINT messages_pkey,
            ADD CONSTRAINT messages_pkey PRIMARY KEY USING INDEX ux_messages_id_user_id;

ALTER TABLE conversations
            DROP CONSTRAINT conversations_pkey,
            ADD CONSTRAINT conversations_pkey PRIMARY KEY USING INDEX ux_conversations_id_user_id;

DROP TRIGGER chatschema_messages_fill_user_id ON messages;

DROP FUNCTION chatschema_messages_fill_user_id();

UPDATE chatschema_version SET version_num='0015' WHERE chatschema_version.version_num = '0014';

COMMIT;

BEGIN;

-- Running upgrade 0015 -> 0016

CREATE MATERIALIZED VIEW IF NOT EXISTS user_daily_messages_next AS
        SELECT m.user_id,
               (m.created_at AT TIME ZONE 'UTC')::date                 AS day,
               count(*)::bigint                                         AS messages,
               count(*) FILTER (WHERE m.role = 'user')::bigint          AS user_messages,
               count(*) FILTER (WHERE m.role = 'assistant')::bigint     AS assistant_messages,
               count(DISTINCT m.conversation_id)::bigint                AS active_conversations
        FROM messages m
        GROUP BY m.user_id, (m.created_at AT TIME ZONE 'UTC')::date
        WITH NO DATA;

CREATE UNIQUE INDEX IF NOT EXISTS ux_user_daily_messages_next ON user_daily_messages_next (user_id, day);

CREATE MATERIALIZED VIEW IF NOT EXISTS daily_message_totals_next AS
        SELECT day,
               sum(messages)::bigint             AS messages,
               count(*)::bigint                  AS active_users,
               sum(active_conversations)::bigint AS active_conversations
        FROM user_daily_messages_next
        GROUP BY day
        WITH NO DATA;

CREATE UNIQUE INDEX IF NOT EXISTS ux_daily_message_totals_next ON daily_message_totals_next (day);

COMMIT;

SET statement_timeout = '0ms';

REFRESH MATERIALIZED VIEW "user_daily_messages_next";

SET statement_timeout = '60000ms';

SET statement_timeout = '0ms';

REFRESH MATERIALIZED VIEW "daily_message_totals_next";

SET statement_timeout = '60000ms';

BEGIN;

UPDATE chatschema_version SET version_num='0016' WHERE chatschema_version.version_num = '0015';

COMMIT;

BEGIN;

-- Running upgrade 0016 -> 0017

DROP MATERIALIZED VIEW daily_message_totals;

DROP MATERIALIZED VIEW user_daily_messages;

ALTER MATERIALIZED VIEW user_daily_messages_next RENAME TO user_daily_messages;

ALTER INDEX ux_user_daily_messages_next RENAME TO ux_user_daily_messages;

ALTER MATERIALIZED VIEW daily_message_totals_next RENAME TO daily_message_totals;

ALTER INDEX ux_daily_message_totals_next RENAME TO ux_daily_message_totals;

UPDATE chatschema_version SET version_num='0017' WHERE chatschema_version.version_num = '0016';

COMMIT;

