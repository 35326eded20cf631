"""messages.user_id: the distribution column, added with no rewrite and filled for every new row.

Citus distributes conversations and messages by their owner (user_id) and requires that column in
every key of a distributed table; messages has no such column. ADD COLUMN without a default is a
catalog change (ACCESS EXCLUSIVE for milliseconds, no rewrite). From this revision on every new row
has a user_id: the catalog's send writes it, and a BEFORE INSERT trigger fills it from the
conversation for an application still running the send of 0003-0008 (the rollout, docs/design.md
"Distribution-ready keys"). The trigger goes in 0015, once the application writes user_id itself.
The CHECK is NOT VALID: new rows must pass it, the old ones are backfilled (0010) and validated (0011)
under SHARE UPDATE EXCLUSIVE, so NOT NULL never needs a scan under ACCESS EXCLUSIVE.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE messages
            ADD COLUMN user_id uuid,
            ADD CONSTRAINT ck_messages_user_id_not_null CHECK (user_id IS NOT NULL) NOT VALID
        """
    )
    # A message's owner is its conversation's: without this the planner multiplies the selectivities of
    # conversation_id = $1 and user_id = $2 (the page queries pin both), estimates well under one row for
    # every conversation, and the generic plan of the longest one became a bitmap scan and a sort of all its
    # messages (measured: 3,376 rows sorted for a 21-row page). The dependency statistics tell it that
    # user_id adds nothing once conversation_id is fixed. CREATE STATISTICS takes SHARE UPDATE EXCLUSIVE.
    op.execute("CREATE STATISTICS IF NOT EXISTS st_messages_owner (dependencies) ON conversation_id, user_id "
               "FROM messages")
    # A row of the old send has no user_id; its conversation (locked by the send's UPDATE, or
    # FOR KEY SHARE by the foreign-key check) has the owner, and an owner never changes.
    op.execute(
        """
        CREATE FUNCTION chatschema_messages_fill_user_id() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.user_id IS NULL THEN
                SELECT c.user_id INTO NEW.user_id FROM conversations c WHERE c.id = NEW.conversation_id;
            END IF;
            RETURN NEW;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER chatschema_messages_fill_user_id BEFORE INSERT ON messages
        FOR EACH ROW EXECUTE FUNCTION chatschema_messages_fill_user_id()
        """
    )


# chatschema-lint: ignore ban-drop-column,ban-drop-constraint,ban-drop-function -- the downgrade removes exactly what 0009
# added; roll the application back to the send of 0003-0008 first (it does not name user_id)
def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS chatschema_messages_fill_user_id ON messages")
    op.execute("DROP FUNCTION IF EXISTS chatschema_messages_fill_user_id()")
    op.execute("DROP STATISTICS IF EXISTS st_messages_owner")
    op.execute(
        """
        ALTER TABLE messages
            DROP CONSTRAINT IF EXISTS ck_messages_user_id_not_null,
            DROP COLUMN IF EXISTS user_id
        """
    )
