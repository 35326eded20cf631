"""Unique indexes (id, user_id) on conversations and messages, built CONCURRENTLY.

They become the primary keys in 0015 (ADD CONSTRAINT ... PRIMARY KEY USING INDEX, no build under a
strong lock). conversations' one is also what the new foreign key from messages (user_id,
conversation_id) references (0013: a foreign key needs a unique index on the same set of columns, in
any order). Writes continue throughout both builds.

Why (id, user_id) and not (user_id, id): Citus needs the distribution column in the key, anywhere in
it. Led by user_id, the key is a second index on user_id = $1, and the planner took it for the
conversation list of a typical user (a bitmap scan and a sort instead of the activity index) and
for the generic plan of the longest conversation's view (a bitmap scan of messages by user_id and a
14k-row sort): measured by the plan contracts. Led by id it serves only what a key serves, point
lookups by (id, user_id), with both columns in its Index Cond.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from alembic import op

from chatschema.migrations import ops

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.get_context().autocommit_block():
        ops.create_unique_index_concurrently("ux_conversations_id_user_id", "conversations", "(id, user_id)")
        ops.create_unique_index_concurrently("ux_messages_id_user_id", "messages", "(id, user_id)")


def downgrade() -> None:
    with op.get_context().autocommit_block():
        ops.drop_index_concurrently("ux_messages_id_user_id")
        ops.drop_index_concurrently("ux_conversations_id_user_id")
