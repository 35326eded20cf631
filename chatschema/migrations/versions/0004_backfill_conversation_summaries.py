"""Backfill the conversation summaries from messages, in committed, resumable batches.

Runs outside the revision's transaction: each batch of conversations is locked, recomputed
from messages and committed with a checkpoint row, so a stopped backfill resumes where it
stopped and a finished one is exact. See chatschema.backfill for why each batch locks first.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import context, op

from chatschema.migrate import backfill

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.get_context().autocommit_block():
        attrs = context.config.attributes
        if context.is_offline_mode():
            for stmt in backfill.offline_statements(
                attrs.get("backfill_batch_size", backfill.DEFAULT_BATCH), attrs.get("backfill_pause_s", 0.0)
            ):
                op.execute(stmt)
        else:
            backfill.run(
                op.get_bind().connection.driver_connection,
                batch_size=attrs.get("backfill_batch_size", backfill.DEFAULT_BATCH),
                pause_s=attrs.get("backfill_pause_s", 0.0),
                progress=attrs.get("progress"),
            )


def downgrade() -> None:
    # The summary columns themselves go with 0003; forget the checkpoint so a re-upgrade recomputes.
    # chatschema-lint: ignore ban-drop-table -- chatschema_backfill is chatschema's own checkpoint table; no
    # client reads it
    op.execute(f"DROP TABLE IF EXISTS {backfill.CHECKPOINT_TABLE}")
