"""Bad: an index built without CONCURRENTLY blocks every write to messages for the whole build.

Revision ID: b001
Revises: b000
"""

from alembic import op

revision = "b001"
down_revision = "b000"


def upgrade() -> None:
    op.create_index("ix_messages_created_at", "messages", ["created_at"])


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS ix_messages_created_at")
