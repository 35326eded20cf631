"""Bad: the view's only unique index is partial, so REFRESH ... CONCURRENTLY refuses the view.

Revision ID: b004
Revises: b003
"""

from alembic import op

revision = "b004"
down_revision = "b003"


def upgrade() -> None:
    op.execute(
        "CREATE MATERIALIZED VIEW conversation_sizes AS "
        "SELECT conversation_id, count(*) AS n FROM messages GROUP BY conversation_id WITH NO DATA"
    )
    # chatschema-lint: ignore require-concurrent-index-creation -- the view was created just above, empty
    op.execute("CREATE UNIQUE INDEX ux_conversation_sizes ON conversation_sizes (conversation_id) WHERE n > 0")


# chatschema-lint: ignore ban-drop-view -- a test fixture: the view exists only in this test chain
def downgrade() -> None:
    op.execute("DROP MATERIALIZED VIEW conversation_sizes")
