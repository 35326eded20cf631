SET lock_timeout = '500ms';

SET statement_timeout = '60000ms';

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

