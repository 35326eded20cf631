"""Bad: the view's only unique index is on an expression, so REFRESH ... CONCURRENTLY refuses the view.

Revision ID: b005
Revises: b004
"""

from alembic import op

revision = "b005"
down_revision = "b004"


def upgrade() -> None:
    op.execute(
        "CREATE MATERIALIZED VIEW role_counts AS SELECT role, count(*) AS n FROM messages GROUP BY role WITH NO DATA"
    )
    # chatschema-lint: ignore require-concurrent-index-creation -- the view was created just above, empty
    op.execute("CREATE UNIQUE INDEX ux_role_counts ON role_counts (lower(role))")


# chatschema-lint: ignore ban-drop-view -- a test fixture: the view exists only in this test chain
def downgrade() -> None:
    op.execute("DROP MATERIALIZED VIEW role_counts")
