"""Backfill the conversation summaries from messages, in committed, resumable batches.

Runs outside the revision's transaction: each batch of conversations is locked, recomputed
from messages and committed with a checkpoint row, so a stopped backfill resumes where it
stopped and a finished one is exact. See chatschema.migrations.ops.BatchedBackfill for why each batch locks first.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

from chatschema.migrations import ops

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.get_context().autocommit_block():
        ops.backfill(ops.SUMMARY_BACKFILL)


def downgrade() -> None:
    # The summary columns themselves go with 0003; forget the checkpoint so a re-upgrade recomputes.
    # chatschema-lint: ignore ban-drop-table -- chatschema_backfill is chatschema's own checkpoint table; no
    # client reads it
    ops.drop_checkpoint_table()
