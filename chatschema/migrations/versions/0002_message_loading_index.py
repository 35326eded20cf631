"""Message loading index: (conversation_id, created_at DESC, id DESC) INCLUDE (role).

Serves "newest messages of a conversation, keyset by (created_at, id)" as one index range scan
whatever the conversation's size, and makes ix_messages_conversation_id redundant (its column is
this index's leading column, so the foreign key's cascade lookups keep an index). Both the build
and the drop are CONCURRENTLY: writes to messages continue throughout.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

from chatschema.migrations import ops

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.get_context().autocommit_block():
        ops.create_index_concurrently(
            "ix_messages_conversation_recent",
            "messages",
            "(conversation_id, created_at DESC, id DESC) INCLUDE (role)",
        )
        ops.drop_index_concurrently("ix_messages_conversation_id")


def downgrade() -> None:
    with op.get_context().autocommit_block():
        ops.create_index_concurrently("ix_messages_conversation_id", "messages", "(conversation_id)")
        ops.drop_index_concurrently("ix_messages_conversation_recent")
