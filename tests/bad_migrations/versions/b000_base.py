"""Clean base: three tables, created the way squawk accepts.

Revision ID: b000
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "b000"
down_revision = None


def upgrade() -> None:
    op.create_table("users", sa.Column("id", sa.Uuid, primary_key=True), sa.Column("name", sa.Text, nullable=False))
    op.create_table(
        "conversations",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("user_id", sa.Uuid, sa.ForeignKey("users.id"), nullable=False),
    )
    op.create_table(
        "messages",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("conversation_id", sa.Uuid, sa.ForeignKey("conversations.id"), nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )


# chatschema-lint: ignore ban-drop-table -- a test fixture: downgrading to base empties the test database
def downgrade() -> None:
    op.drop_table("messages")
    op.drop_table("conversations")
    op.drop_table("users")
