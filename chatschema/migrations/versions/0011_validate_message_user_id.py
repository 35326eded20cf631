"""Validate ck_messages_user_id_not_null (added NOT VALID in 0009, true after the 0010 backfill).

VALIDATE scans messages under SHARE UPDATE EXCLUSIVE: reads and writes continue. The validated
CHECK is what lets 0013's SET NOT NULL skip its own scan under ACCESS EXCLUSIVE.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from chatschema.migrations import ops

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    ops.validate_constraint("messages", "ck_messages_user_id_not_null")


def downgrade() -> None:
    # A validated constraint cannot be marked NOT VALID again; 0009's downgrade drops it.
    pass
