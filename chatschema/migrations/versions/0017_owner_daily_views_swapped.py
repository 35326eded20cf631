"""Swap in 0016's analytics views: drop the old ones, rename the new ones, in one short transaction.

ACCESS EXCLUSIVE on the four views for the catalog changes only (no data is read or written): an
analytics reader waits at most lock_timeout and then reads the new view. Between 0016's population
and this swap the new views may miss the newest messages, as any view between refreshes does.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

from alembic import op

from chatschema.migrations import ops

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


# chatschema-lint: ignore ban-drop-view,renaming-object -- each old view is replaced in the same transaction
# by its copy built in 0016, renamed to the name (and index name) its readers already use, with the same rows;
# nobody reads the *_next names
def upgrade() -> None:
    op.execute("DROP MATERIALIZED VIEW daily_message_totals")
    op.execute("DROP MATERIALIZED VIEW user_daily_messages")
    op.execute("ALTER MATERIALIZED VIEW user_daily_messages_next RENAME TO user_daily_messages")
    op.execute("ALTER INDEX ux_user_daily_messages_next RENAME TO ux_user_daily_messages")
    op.execute("ALTER MATERIALIZED VIEW daily_message_totals_next RENAME TO daily_message_totals")
    op.execute("ALTER INDEX ux_daily_message_totals_next RENAME TO ux_daily_message_totals")


# chatschema-lint: ignore renaming-object,require-concurrent-index-creation -- the downgrade puts 0016's
# state back: the views of 0016 under their *_next names again, and 0007's views (with the join) rebuilt
# under the readers' names; analytics reads wait for it, the rebuilt views are unread until it commits
def downgrade() -> None:
    op.execute("ALTER MATERIALIZED VIEW IF EXISTS daily_message_totals RENAME TO daily_message_totals_next")
    op.execute("ALTER INDEX IF EXISTS ux_daily_message_totals RENAME TO ux_daily_message_totals_next")
    op.execute("ALTER MATERIALIZED VIEW IF EXISTS user_daily_messages RENAME TO user_daily_messages_next")
    op.execute("ALTER INDEX IF EXISTS ux_user_daily_messages RENAME TO ux_user_daily_messages_next")
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
    op.execute("CREATE UNIQUE INDEX IF NOT EXISTS ux_daily_message_totals ON daily_message_totals (day)")
    with op.get_context().autocommit_block():
        ops.populate_materialized_view("user_daily_messages")
        ops.populate_materialized_view("daily_message_totals")
