"""Validate the CHECK constraints added NOT VALID in 0003.

VALIDATE CONSTRAINT scans the table under SHARE UPDATE EXCLUSIVE: reads and writes continue,
so it runs with the long (online) timeouts rather than the short ones meant for strong locks.
A row that breaks a rule (a role outside system/user/assistant/tool, say) stops the revision
with PostgreSQL's message naming the constraint; nothing else changes.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from chatschema.migrations import ops

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    ops.validate_constraint("conversations", "ck_conversations_message_count")
    ops.validate_constraint("conversations", "ck_conversations_preview_length")
    ops.validate_constraint("messages", "ck_messages_role")


def downgrade() -> None:
    # A validated constraint cannot be marked NOT VALID again; 0003's downgrade drops them.
    pass
