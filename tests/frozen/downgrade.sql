SET lock_timeout = '500ms';

SET statement_timeout = '60000ms';

BEGIN;

-- Running downgrade 0017 -> 0016

ALTER MATERIALIZED VIEW IF EXISTS daily_message_totals RENAME TO daily_message_totals_next;

ALTER INDEX IF EXISTS ux_daily_message_totals RENAME TO ux_daily_message_totals_next;

ALTER MATERIALIZED VIEW IF EXISTS user_daily_messages RENAME TO user_daily_messages_next;

ALTER INDEX IF EXISTS ux_user_daily_messages RENAME TO ux_user_daily_messages_next;

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

UPDATE chatschema_version SET version_num='0016' WHERE chatschema_version.version_num = '0017';

COMMIT;

BEGIN;

-- Running downgrade 0016 -> 0015

DROP MATERIALIZED VIEW IF EXISTS daily_message_totals_next;

DROP MATERIALIZED VIEW IF EXISTS user_daily_messages_next;

UPDATE chatschema_version SET version_num='0015' WHERE chatschema_version.version_num = '0016';

COMMIT;

BEGIN;

-- Running downgrade 0015 -> 0014

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

ALTER TABLE messages DROP CONSTRAINT fk_messages_conversation_owner;

CREATE UNIQUE INDEX ux_conversations_id_user_id ON conversations (id, user_id);

CREATE UNIQUE INDEX ux_messages_id_user_id ON messages (id, user_id);

ALTER TABLE messages DROP CONSTRAINT messages_pkey, ADD CONSTRAINT messages_pkey PRIMARY KEY (id);

ALTER TABLE conversations DROP CONSTRAINT conversations_pkey, ADD CONSTRAINT conversations_pkey PRIMARY KEY (id);

ALTER TABLE messages
            ADD CONSTRAINT messages_conversation_id_fkey FOREIGN KEY (conversation_id)
            REFERENCES conversations (id) ON DELETE CASCADE,
            ADD CONSTRAINT fk_messages_conversation_owner FOREIGN KEY (user_id, conversation_id)
            REFERENCES conversations (user_id, id) ON DELETE CASCADE;

UPDATE chatschema_version SET version_num='0014' WHERE chatschema_version.version_num = '0015';

COMMIT;

BEGIN;

-- Running downgrade 0014 -> 0013

UPDATE chatschema_version SET version_num='0013' WHERE chatschema_version.version_num = '0014';

COMMIT;

BEGIN;

-- Running downgrade 0013 -> 0012

ALTER TABLE messages DROP CONSTRAINT IF EXISTS fk_messages_conversation_owner;

ALTER TABLE messages ADD CONSTRAINT ck_messages_user_id_not_null CHECK (user_id IS NOT NULL) NOT VALID;

ALTER TABLE messages ALTER COLUMN user_id DROP NOT NULL;

UPDATE chatschema_version SET version_num='0012' WHERE chatschema_version.version_num = '0013';

COMMIT;

BEGIN;

-- Running downgrade 0012 -> 0011

COMMIT;

SET lock_timeout = '900000ms';

SET statement_timeout = '0ms';

DROP INDEX CONCURRENTLY IF EXISTS "ux_messages_id_user_id";

SET lock_timeout = '500ms';

SET statement_timeout = '60000ms';

SET lock_timeout = '900000ms';

SET statement_timeout = '0ms';

DROP INDEX CONCURRENTLY IF EXISTS "ux_conversations_id_user_id";

SET lock_timeout = '500ms';

SET statement_timeout = '60000ms';

BEGIN;

UPDATE chatschema_version SET version_num='0011' WHERE chatschema_version.version_num = '0012';

COMMIT;

BEGIN;

-- Running downgrade 0011 -> 0010

UPDATE chatschema_version SET version_num='0010' WHERE chatschema_version.version_num = '0011';

COMMIT;

BEGIN;

-- Running downgrade 0010 -> 0009

DO $$
BEGIN
    IF to_regclass('chatschema_backfill') IS NOT NULL THEN
        DELETE FROM chatschema_backfill WHERE name = 'message_user_ids';
    END IF;
END $$;

UPDATE chatschema_version SET version_num='0009' WHERE chatschema_version.version_num = '0010';

COMMIT;

BEGIN;

-- Running downgrade 0009 -> 0008

DROP TRIGGER IF EXISTS chatschema_messages_fill_user_id ON messages;

DROP FUNCTION IF EXISTS chatschema_messages_fill_user_id();

DROP STATISTICS IF EXISTS st_messages_owner;

ALTER TABLE messages
            DROP CONSTRAINT IF EXISTS ck_messages_user_id_not_null,
            DROP COLUMN IF EXISTS user_id;

UPDATE chatschema_version SET version_num='0008' WHERE chatschema_version.version_num = '0009';

COMMIT;

BEGIN;

-- Running downgrade 0008 -> 0007

ALTER TABLE messages
            DROP CONSTRAINT IF EXISTS ck_messages_created_at_finite;

ALTER TABLE conversations
            DROP CONSTRAINT IF EXISTS ck_conversations_last_activity_at_finite,
            DROP CONSTRAINT IF EXISTS ck_conversations_updated_at_finite,
            DROP CONSTRAINT IF EXISTS ck_conversations_created_at_finite;

UPDATE chatschema_version SET version_num='0007' WHERE chatschema_version.version_num = '0008';

COMMIT;

BEGIN;

-- Running downgrade 0007 -> 0006

DROP MATERIALIZED VIEW IF EXISTS daily_message_totals;

DROP MATERIALIZED VIEW IF EXISTS user_daily_messages;

UPDATE chatschema_version SET version_num='0006' WHERE chatschema_version.version_num = '0007';

COMMIT;

BEGIN;

-- Running downgrade 0006 -> 0005

COMMIT;

SET lock_timeout = '900000ms';

SET statement_timeout = '0ms';

DO $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE c.relname = 'ix_conversations_user_id' AND c.relnamespace = current_schema()::regnamespace AND NOT i.indisvalid
    ) THEN
        RAISE EXCEPTION 'index ix_conversations_user_id is INVALID (left by a failed build): DROP INDEX CONCURRENTLY ix_conversations_user_id; then re-run';
    END IF;
END $$;

CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_conversations_user_id ON conversations (user_id);

DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE c.relname = 'ix_conversations_user_id' AND c.relnamespace = current_schema()::regnamespace AND i.indisvalid
    ) THEN
        RAISE EXCEPTION 'index ix_conversations_user_id is missing or INVALID after CREATE INDEX CONCURRENTLY';
    END IF;
END $$;

SET lock_timeout = '500ms';

SET statement_timeout = '60000ms';

SET lock_timeout = '900000ms';

SET statement_timeout = '0ms';

DROP INDEX CONCURRENTLY IF EXISTS "ix_conversations_user_activity";

SET lock_timeout = '500ms';

SET statement_timeout = '60000ms';

BEGIN;

UPDATE chatschema_version SET version_num='0005' WHERE chatschema_version.version_num = '0006';

COMMIT;

BEGIN;

-- Running downgrade 0005 -> 0004

UPDATE chatschema_version SET version_num='0004' WHERE chatschema_version.version_num = '0005';

COMMIT;

BEGIN;

-- Running downgrade 0004 -> 0003

DROP TABLE IF EXISTS chatschema_backfill;

UPDATE chatschema_version SET version_num='0003' WHERE chatschema_version.version_num = '0004';

COMMIT;

BEGIN;

-- Running downgrade 0003 -> 0002

ALTER TABLE messages ALTER COLUMN conversation_id SET STATISTICS -1;

ALTER TABLE messages
            DROP CONSTRAINT IF EXISTS ck_messages_role,
            RESET (autovacuum_vacuum_insert_scale_factor);

ALTER TABLE conversations
            DROP CONSTRAINT IF EXISTS ck_conversations_preview_length,
            DROP CONSTRAINT IF EXISTS ck_conversations_message_count,
            DROP COLUMN IF EXISTS last_message_preview,
            DROP COLUMN IF EXISTS last_message_id,
            DROP COLUMN IF EXISTS message_count,
            DROP COLUMN IF EXISTS last_activity_at,
            RESET (autovacuum_vacuum_scale_factor);

UPDATE chatschema_version SET version_num='0002' WHERE chatschema_version.version_num = '0003';

COMMIT;

BEGIN;

-- Running downgrade 0002 -> 0001

COMMIT;

SET lock_timeout = '900000ms';

SET statement_timeout = '0ms';

DO $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE c.relname = 'ix_messages_conversation_id' AND c.relnamespace = current_schema()::regnamespace AND NOT i.indisvalid
    ) THEN
        RAISE EXCEPTION 'index ix_messages_conversation_id is INVALID (left by a failed build): DROP INDEX CONCURRENTLY ix_messages_conversation_id; then re-run';
    END IF;
END $$;

CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_messages_conversation_id ON messages (conversation_id);

DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE c.relname = 'ix_messages_conversation_id' AND c.relnamespace = current_schema()::regnamespace AND i.indisvalid
    ) THEN
        RAISE EXCEPTION 'index ix_messages_conversation_id is missing or INVALID after CREATE INDEX CONCURRENTLY';
    END IF;
END $$;

SET lock_timeout = '500ms';

SET statement_timeout = '60000ms';

SET lock_timeout = '900000ms';

SET statement_timeout = '0ms';

DROP INDEX CONCURRENTLY IF EXISTS "ix_messages_conversation_recent";

SET lock_timeout = '500ms';

SET statement_timeout = '60000ms';

BEGIN;

UPDATE chatschema_version SET version_num='0001' WHERE chatschema_version.version_num = '0002';

COMMIT;

BEGIN;

-- Running downgrade 0001 -> 

DROP TABLE messages;

DROP TABLE conversations;

DROP TABLE users;

DELETE FROM chatschema_version WHERE chatschema_version.version_num = '0001';

COMMIT;

