"""messages.user_id NOT NULL (proved by 0011's CHECK), and the foreign key on (user_id, conversation_id).

SET NOT NULL finds the validated CHECK and skips the scan (PostgreSQL 12+): ACCESS EXCLUSIVE for
milliseconds; the CHECK is then redundant and dropped (a statement of its own: in the same ALTER the
drop would run first and SET NOT NULL would scan). The new foreign key is added NOT VALID (new rows
checked, no scan) and validated in 0014. It references conversations (user_id, id), served by 0012's
unique index on (id, user_id), so a message's user_id is its conversation's owner, which Citus needs to co-locate them.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Lock order: conversations first, in a mode that conflicts with the send's row lock (EXCLUSIVE:
    # plain reads go on), then messages. The send locks the conversation (ROW SHARE, then ROW EXCLUSIVE
    # for its summary) around the message INSERT; SET NOT NULL first would hold messages while the
    # foreign key waits for conversations, and a send holding its conversation lock and waiting for
    # messages would close the cycle (tests/test_lock_order.py).
    op.execute("LOCK TABLE conversations IN EXCLUSIVE MODE")
    # chatschema-lint: ignore adding-not-nullable-field -- ck_messages_user_id_not_null was validated in
    # 0011, so PostgreSQL proves the column has no NULL from it and SET NOT NULL does not scan the table
    op.execute("ALTER TABLE messages ALTER COLUMN user_id SET NOT NULL")
    # chatschema-lint: ignore ban-drop-constraint -- the CHECK said user_id IS NOT NULL, which the column's
    # NOT NULL now says; no guarantee is lost
    op.execute("ALTER TABLE messages DROP CONSTRAINT ck_messages_user_id_not_null")
    op.execute(
        """
        ALTER TABLE messages
            ADD CONSTRAINT fk_messages_conversation_owner FOREIGN KEY (user_id, conversation_id)
            REFERENCES conversations (user_id, id) ON DELETE CASCADE NOT VALID
        """
    )


# chatschema-lint: ignore ban-drop-constraint,ban-drop-not-null -- the downgrade restores 0012's
# state: the foreign key goes, and the CHECK is re-added NOT VALID (nothing scanned) before NOT NULL is dropped
def downgrade() -> None:
    op.execute("ALTER TABLE messages DROP CONSTRAINT IF EXISTS fk_messages_conversation_owner")
    op.execute(
        "ALTER TABLE messages ADD CONSTRAINT ck_messages_user_id_not_null CHECK (user_id IS NOT NULL) NOT VALID"
    )
    op.execute("ALTER TABLE messages ALTER COLUMN user_id DROP NOT NULL")
