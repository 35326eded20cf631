"""Finite timestamps: messages and conversations keep only instants the API can load.

PostgreSQL accepts 'infinity', '-infinity', BC dates and years past 9999 in a timestamptz; Python's
datetime does not, so psycopg raises ``DataError: timestamp too large`` (or too small) on every
list_conversations and load_messages of the user who owns such a row, not just once. And an
'infinity' last_activity_at breaks the send order: greatest(statement_timestamp(),
last_activity_at + 1 us) stays 'infinity', so every later message of that conversation gets the
same created_at and (created_at, id) stops growing. So the schema forbids them rather than the
API returning them: each timestamp column must be finite and within 0001-01-02 .. 9999-12-31 UTC
(a day inside datetime's years either side, so a session in any TimeZone still loads it).

The CHECKs are added NOT VALID (ACCESS EXCLUSIVE for milliseconds, no scan) and validated after that
transaction commits, each VALIDATE in its own under SHARE UPDATE EXCLUSIVE with the long timeouts:
reads and writes continue during the scans. Rows that would fail are found by the pre-flight
before anything changes (`chatschema upgrade --dry-run` names them). If a VALIDATE fails or
times out, the constraints stay NOT VALID and the revision is not recorded; the re-run replaces them.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from alembic import op

from chatschema.migrations import ops

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Lock order: conversations first, then messages, as the send deployed from 0003 on takes them
    # (parsed or prepared, send_message.ROLLOUT_0003 and the head send lock the conversation before
    # inserting the message; tests/test_lock_order.py). The other order deadlocks with in-flight
    # sends, and PostgreSQL's deadlock detector may then cancel the application's send.
    # DROP ... IF EXISTS first: a re-run after a failed VALIDATE meets the NOT VALID constraints.
    # chatschema-lint: ignore ban-drop-constraint -- it drops only this revision's own constraints, left NOT
    # VALID by a failed run, to add them again
    op.execute(
        """
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
                NOT VALID
        """
    )
    # chatschema-lint: ignore ban-drop-constraint -- it drops only this revision's own constraint, left NOT VALID
    # by a failed run, to add it again
    op.execute(
        """
        ALTER TABLE messages
            DROP CONSTRAINT IF EXISTS ck_messages_created_at_finite,
            ADD CONSTRAINT ck_messages_created_at_finite CHECK (isfinite(created_at)
                AND created_at >= '0001-01-02 00:00:00+00' AND created_at < '9999-12-31 00:00:00+00') NOT VALID
        """
    )
    with op.get_context().autocommit_block():
        ops.validate_constraint_committed("messages", "ck_messages_created_at_finite")
        ops.validate_constraint_committed("conversations", "ck_conversations_created_at_finite")
        ops.validate_constraint_committed("conversations", "ck_conversations_updated_at_finite")
        ops.validate_constraint_committed("conversations", "ck_conversations_last_activity_at_finite")


# chatschema-lint: ignore ban-drop-constraint -- the downgrade removes exactly what 0008 added
def downgrade() -> None:
    op.execute(
        """
        ALTER TABLE messages
            DROP CONSTRAINT IF EXISTS ck_messages_created_at_finite
        """
    )
    op.execute(
        """
        ALTER TABLE conversations
            DROP CONSTRAINT IF EXISTS ck_conversations_last_activity_at_finite,
            DROP CONSTRAINT IF EXISTS ck_conversations_updated_at_finite,
            DROP CONSTRAINT IF EXISTS ck_conversations_created_at_finite
        """
    )
