"""Analytics materialized views, each with the unique index REFRESH ... CONCURRENTLY needs.

user_daily_messages: per user and UTC day, messages by role and active conversations.
daily_message_totals: per UTC day, service-wide, computed from user_daily_messages.
The views are created empty inside the revision's transaction (catalog work only) and
populated afterwards outside it; CREATE ... IF NOT EXISTS makes a re-run after a failed
population pick up where it stopped. Refresh later with `chatschema views refresh --concurrently`.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from alembic import op

from chatschema.migrations import ops

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE MATERIALIZED VIEW IF NOT EXISTS user_daily_messages AS
        SELECT c.user_id,
               (m.created_at AT TIME ZONE 'UTC')::date                 AS day,
               count(*)::bigint                                         AS messages,
               count(*) FILTER (WHERE m.role = 'user')::bigint          AS user_messages,
               count(*) FILTER (WHERE m.role = 'assistant')::bigint     AS assistant_messages,
               count(DISTINCT m.conversation_id)::bigint                AS active_conversations
        FROM messages m
        JOIN conversations c ON c.id = m.conversation_id
        GROUP BY c.user_id, (m.created_at AT TIME ZONE 'UTC')::date
        WITH NO DATA
        """
    )
    # chatschema-lint: ignore require-concurrent-index-creation -- the view was created just above, in this
    # transaction, WITH NO DATA: the build locks an empty relation nobody can read yet
    op.execute("CREATE UNIQUE INDEX IF NOT EXISTS ux_user_daily_messages ON user_daily_messages (user_id, day)")
    op.execute(
        """
        CREATE MATERIALIZED VIEW IF NOT EXISTS daily_message_totals AS
        SELECT day,
               sum(messages)::bigint             AS messages,
               count(*)::bigint                  AS active_users,
               sum(active_conversations)::bigint AS active_conversations
        FROM user_daily_messages
        GROUP BY day
        WITH NO DATA
        """
    )
    # chatschema-lint: ignore require-concurrent-index-creation -- the view was created just above, in this
    # transaction, WITH NO DATA: the build locks an empty relation nobody can read yet
    op.execute("CREATE UNIQUE INDEX IF NOT EXISTS ux_daily_message_totals ON daily_message_totals (day)")
    with op.get_context().autocommit_block():
        # The first refresh cannot be CONCURRENTLY; it locks only the new, unread views.
        ops.populate_materialized_view("user_daily_messages")
        ops.populate_materialized_view("daily_message_totals")


# chatschema-lint: ignore ban-drop-view -- the downgrade removes the views 0007 added; stop the analytics
# readers first
def downgrade() -> None:
    op.execute("DROP MATERIALIZED VIEW IF EXISTS daily_message_totals")
    op.execute("DROP MATERIALIZED VIEW IF EXISTS user_daily_messages")
