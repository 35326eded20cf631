"""Bad: the backfill runs in the revision that adds the column.

One transaction: the UPDATE holds the ALTER's ACCESS EXCLUSIVE lock on conversations for as long
as it takes to count every conversation's messages, and cannot be batched or resumed.

Revision ID: b003
Revises: b002
"""

from alembic import op

revision = "b003"
down_revision = "b002"


def upgrade() -> None:
    op.execute("ALTER TABLE conversations ADD COLUMN message_count bigint")
    op.execute(
        """
        UPDATE conversations
           SET message_count = (SELECT count(*) FROM messages m WHERE m.conversation_id = conversations.id)
        """
    )


# chatschema-lint: ignore ban-drop-column -- a test fixture: the column exists only in this test chain
def downgrade() -> None:
    op.execute("ALTER TABLE conversations DROP COLUMN message_count")
