"""Bad: a concurrent build shares its revision with an ALTER TABLE.

autocommit_block() commits the ALTER before the build starts: if the build fails, the column
stays, the revision is not stamped, and a re-run fails on the existing column.

Revision ID: b002
Revises: b001
"""

from alembic import op

from chatschema.migrations.ops import create_index_concurrently, drop_index_concurrently

revision = "b002"
down_revision = "b001"


def upgrade() -> None:
    op.execute("ALTER TABLE conversations ADD COLUMN archived_at timestamptz")
    with op.get_context().autocommit_block():
        create_index_concurrently("ix_conversations_archived_at", "conversations", "(archived_at)")


# chatschema-lint: ignore ban-drop-column -- a test fixture: the column exists only in this test chain
def downgrade() -> None:
    with op.get_context().autocommit_block():
        drop_index_concurrently("ix_conversations_archived_at")
    op.execute("ALTER TABLE conversations DROP COLUMN archived_at")
