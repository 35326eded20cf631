"""Backfill messages.user_id from each message's conversation, in committed, resumable batches.

Batches of messages in key order, each written and committed with its checkpoint row
(chatschema.migrations.ops.MESSAGE_USER_ID_BACKFILL says why these batches take no row locks);
rows that already have the right user_id (every row written since 0009) are not rewritten.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from alembic import op

from chatschema.migrations import ops

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.get_context().autocommit_block():
        ops.backfill(ops.MESSAGE_USER_ID_BACKFILL)


def downgrade() -> None:
    # The column goes with 0009; forget this backfill's checkpoint so a re-upgrade runs it again.
    op.execute(ops.forget_backfill(ops.MESSAGE_USER_ID_BACKFILL))
