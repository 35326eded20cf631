"""Bad: an ignore marker for a rule that does not fire (stale suppressions hide future findings).

Revision ID: b009
Revises: b008
"""

from alembic import op

revision = "b009"
down_revision = "b008"


def upgrade() -> None:
    # chatschema-lint: ignore ban-drop-table -- nothing is dropped here any more
    op.execute("COMMENT ON TABLE messages IS 'chat messages'")


def downgrade() -> None:
    op.execute("COMMENT ON TABLE messages IS NULL")
