"""Conversation list index: (user_id, last_activity_at DESC, id DESC), built CONCURRENTLY.

Serves "a user's conversations by newest activity, keyset by (last_activity_at, id)": a range
scan of one page whatever the number of conversations the user owns. It makes
ix_conversations_user_id redundant (same leading column, which also serves the users foreign key).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op

from chatschema.migrations import ops

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.get_context().autocommit_block():
        ops.create_index_concurrently(
            "ix_conversations_user_activity", "conversations", "(user_id, last_activity_at DESC, id DESC)"
        )
        ops.drop_index_concurrently("ix_conversations_user_id")


def downgrade() -> None:
    with op.get_context().autocommit_block():
        ops.create_index_concurrently("ix_conversations_user_id", "conversations", "(user_id)")
        ops.drop_index_concurrently("ix_conversations_user_activity")
