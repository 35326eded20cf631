"""Bad: an ignore marker that does not say why.

Revision ID: b008
Revises: b007
"""

from alembic import op

revision = "b008"
down_revision = "b007"


def upgrade() -> None:
    # chatschema-lint: ignore ban-drop-column
    op.execute("ALTER TABLE messages DROP COLUMN created_at")


def downgrade() -> None:
    op.execute("ALTER TABLE messages ADD COLUMN created_at timestamptz")
