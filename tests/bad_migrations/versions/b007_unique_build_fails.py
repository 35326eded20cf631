"""Bad: a unique concurrent build on a column with duplicates fails and leaves an INVALID index.

Nothing in the text is wrong to squawk; applying it to a database where two messages share a
role fails with a unique violation, and the index stays behind, INVALID. ``chatschema lint --dsn``
(and ``chatschema doctor``) then report it.

Revision ID: b007
Revises: b006
"""

from alembic import op

revision = "b007"
down_revision = "b006"


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS ux_messages_role ON messages (role)")


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS ux_messages_role")
