"""The analytics views again, computed from messages.user_id alone: built beside the old ones.

0007's user_daily_messages joins messages to conversations for the owner. Since 0013 every message
carries its owner, so the view groups messages alone: no join (a cheaper refresh on one node), and on
Citus a refresh whose GROUP BY is the distribution column runs on each shard, where the join on
conversation_id is one Citus refuses ("the query contains a join that requires repartitioning").
The new views are created WITH NO DATA under *_next names, indexed and populated here while the old
ones keep serving; 0017 swaps the names in one short transaction.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

from alembic import op

from chatschema.migrations import ops

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE MATERIALIZED VIEW IF NOT EXISTS user_daily_messages_next AS
        SELECT m.user_id,
               (m.created_at AT TIME ZONE 'UTC')::date                 AS day,
               count(*)::bigint                                         AS messages,
               count(*) FILTER (WHERE m.role = 'user')::bigint          AS user_messages,
               count(*) FILTER (WHERE m.role = 'assistant')::bigint     AS assistant_messages,
               count(DISTINCT m.conversation_id)::bigint                AS active_conversations
        FROM messages m
        GROUP BY m.user_id, (m.created_at AT TIME ZONE 'UTC')::date
        WITH NO DATA
        """
    )
    # chatschema-lint: ignore require-concurrent-index-creation -- the view was created just above, in this
    # transaction, WITH NO DATA: the build locks an empty relation nobody can read yet
    op.execute(
        "CREATE UNIQUE INDEX IF NOT EXISTS ux_user_daily_messages_next ON user_daily_messages_next (user_id, day)"
    )
    op.execute(
        """
        CREATE MATERIALIZED VIEW IF NOT EXISTS daily_message_totals_next AS
        SELECT day,
               sum(messages)::bigint             AS messages,
               count(*)::bigint                  AS active_users,
               sum(active_conversations)::bigint AS active_conversations
        FROM user_daily_messages_next
        GROUP BY day
        WITH NO DATA
        """
    )
    # chatschema-lint: ignore require-concurrent-index-creation -- the view was created just above, in this
    # transaction, WITH NO DATA: the build locks an empty relation nobody can read yet
    op.execute("CREATE UNIQUE INDEX IF NOT EXISTS ux_daily_message_totals_next ON daily_message_totals_next (day)")
    with op.get_context().autocommit_block():
        ops.populate_materialized_view("user_daily_messages_next")
        ops.populate_materialized_view("daily_message_totals_next")


# chatschema-lint: ignore ban-drop-view -- the *_next views are this revision's own, read by nobody before
# 0017 renames them
def downgrade() -> None:
    op.execute("DROP MATERIALIZED VIEW IF EXISTS daily_message_totals_next")
    op.execute("DROP MATERIALIZED VIEW IF EXISTS user_daily_messages_next")
