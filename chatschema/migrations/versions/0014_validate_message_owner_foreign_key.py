"""Validate fk_messages_conversation_owner (added NOT VALID in 0013).

VALIDATE takes SHARE UPDATE EXCLUSIVE on messages and ROW SHARE on conversations: reads, sends
and new conversations continue while it checks every message against its conversation's owner.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

from chatschema.migrations import ops

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    ops.validate_constraint("messages", "fk_messages_conversation_owner")


def downgrade() -> None:
    # A validated constraint cannot be marked NOT VALID again; 0013's downgrade drops it.
    pass
