"""Conversation activity summary: the columns, with no table rewrite.

Every ADD COLUMN here has no default or a non-volatile one (now() is stable: evaluated once,
stored in the catalog), so conversations is not rewritten and the ACCESS EXCLUSIVE lock lasts
milliseconds. last_activity_at defaults to now() so rows inserted by the application before it
switches to the new send statement still get a sensible value; the backfill (0004) sets the
real ones. CHECK constraints are added NOT VALID (no scan under ACCESS EXCLUSIVE) and validated in
0005 under SHARE UPDATE EXCLUSIVE, which does not block reads or writes.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Lock order: messages first, then conversations, the order the application's plain INSERT takes
    # them (the row, then its foreign-key parent). The other order deadlocks with in-flight inserts,
    # and PostgreSQL's deadlock detector then cancels the application's INSERT, not this revision.
    # messages is append-mostly: insert-triggered autovacuum keeps its visibility map set for
    # index-only scans.
    op.execute(
        """
        ALTER TABLE messages
            ADD CONSTRAINT ck_messages_role CHECK (role IN ('system', 'user', 'assistant', 'tool')) NOT VALID,
            SET (autovacuum_vacuum_insert_scale_factor = 0.02)
        """
    )
    # A few conversations hold most messages: sample more so per-conversation estimates hold.
    op.execute("ALTER TABLE messages ALTER COLUMN conversation_id SET STATISTICS 1000")
    # Every send updates its conversation row, and last_activity_at is indexed, so those updates
    # are never HOT: vacuum conversations early.
    # chatschema-lint: ignore prefer-bigint-over-int -- message_count counts one conversation's messages,
    # far below 2^31, and int4 keeps the row that every send updates narrow
    op.execute(
        """
        ALTER TABLE conversations
            ADD COLUMN last_activity_at timestamptz NOT NULL DEFAULT now(),
            ADD COLUMN message_count integer NOT NULL DEFAULT 0,
            ADD COLUMN last_message_id uuid,
            ADD COLUMN last_message_preview text,
            ADD CONSTRAINT ck_conversations_message_count CHECK (message_count >= 0) NOT VALID,
            ADD CONSTRAINT ck_conversations_preview_length CHECK (char_length(last_message_preview) <= 100) NOT VALID,
            SET (autovacuum_vacuum_scale_factor = 0.02)
        """
    )


# chatschema-lint: ignore ban-drop-column,ban-drop-constraint -- the downgrade removes exactly what 0003
# added; roll the application back to the plain INSERT first (docs/design.md)
def downgrade() -> None:
    op.execute("ALTER TABLE messages ALTER COLUMN conversation_id SET STATISTICS -1")
    op.execute(
        """
        ALTER TABLE messages
            DROP CONSTRAINT IF EXISTS ck_messages_role,
            RESET (autovacuum_vacuum_insert_scale_factor)
        """
    )
    op.execute(
        """
        ALTER TABLE conversations
            DROP CONSTRAINT IF EXISTS ck_conversations_preview_length,
            DROP CONSTRAINT IF EXISTS ck_conversations_message_count,
            DROP COLUMN IF EXISTS last_message_preview,
            DROP COLUMN IF EXISTS last_message_id,
            DROP COLUMN IF EXISTS message_count,
            DROP COLUMN IF EXISTS last_activity_at,
            RESET (autovacuum_vacuum_scale_factor)
        """
    )
