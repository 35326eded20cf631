"""Bad: the view's unique key has a column the LEFT JOIN leaves NULL for users without conversations.

The index is acceptable to REFRESH ... CONCURRENTLY, so only the data shows the problem: rows
with a NULL key never match the fresh result and are deleted and re-inserted on every refresh.
Static lint passes; ``chatschema lint --dsn`` on a database with such a user finds it.

Revision ID: b006
Revises: b005
"""

from alembic import op

revision = "b006"
down_revision = "b005"


def upgrade() -> None:
    op.execute(
        "CREATE MATERIALIZED VIEW user_conversations AS "
        "SELECT u.id AS user_id, c.id AS conversation_id FROM users u LEFT JOIN conversations c ON c.user_id = u.id"
    )
    # chatschema-lint: ignore require-concurrent-index-creation -- the view was created just above
    op.execute("CREATE UNIQUE INDEX ux_user_conversations ON user_conversations (user_id, conversation_id)")


# chatschema-lint: ignore ban-drop-view -- a test fixture: the view exists only in this test chain
def downgrade() -> None:
    op.execute("DROP MATERIALIZED VIEW user_conversations")
