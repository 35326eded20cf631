"""Primary keys (id, user_id), swapped in from 0012's indexes; the old foreign key and the trigger go.

Every key of conversations and messages now contains user_id, which Citus requires of a table
distributed by it. Each swap is DROP CONSTRAINT + ADD CONSTRAINT ... PRIMARY KEY USING INDEX in one
ALTER: ACCESS EXCLUSIVE for milliseconds, no build and no scan (the columns are NOT NULL already). The
constraints keep their names (conversations_pkey, messages_pkey), so the plan contracts still name
them. messages_conversation_id_fkey, which needed the old conversations key, is dropped first: the
validated (user_id, conversation_id) key of 0013 checks the same rows. The fill trigger of 0009 goes
last: from here on the application must write user_id (the catalog's send does since 0009).

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


# chatschema-lint: ignore ban-drop-constraint,ban-drop-function -- the old key and foreign key are replaced
# by the ones with user_id built and validated in 0012-0014, nothing goes unchecked; the fill function was
# chatschema's own, called only by its trigger, which goes in the same transaction
def upgrade() -> None:
    # Lock order: conversations, then messages, both ACCESS EXCLUSIVE before any change, the order the
    # send takes them (parsed or prepared; tests/test_lock_order.py). Dropping the foreign key alone
    # would lock messages, then conversations: a send holding its conversation lock and waiting for
    # messages would close a cycle.
    op.execute("LOCK TABLE conversations IN ACCESS EXCLUSIVE MODE")
    op.execute("LOCK TABLE messages IN ACCESS EXCLUSIVE MODE")
    op.execute("ALTER TABLE messages DROP CONSTRAINT messages_conversation_id_fkey")
    op.execute(
        """
        ALTER TABLE messages
            DROP CONSTRAINT messages_pkey,
            ADD CONSTRAINT messages_pkey PRIMARY KEY USING INDEX ux_messages_id_user_id
        """
    )
    op.execute(
        """
        ALTER TABLE conversations
            DROP CONSTRAINT conversations_pkey,
            ADD CONSTRAINT conversations_pkey PRIMARY KEY USING INDEX ux_conversations_id_user_id
        """
    )
    op.execute("DROP TRIGGER chatschema_messages_fill_user_id ON messages")
    op.execute("DROP FUNCTION chatschema_messages_fill_user_id()")


# chatschema-lint: ignore ban-drop-constraint,require-concurrent-index-creation,constraint-missing-not-valid,adding-serial-primary-key-field,adding-foreign-key-constraint --
# a downgrade to the single-column keys builds them back under ACCESS EXCLUSIVE (a scan of each table);
# run it in a maintenance window, never on a database that serves traffic
def downgrade() -> None:
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
    # The owner key depends on conversations_pkey: it goes first and comes back on 0012's index.
    op.execute("ALTER TABLE messages DROP CONSTRAINT fk_messages_conversation_owner")
    op.execute("CREATE UNIQUE INDEX ux_conversations_id_user_id ON conversations (id, user_id)")
    op.execute("CREATE UNIQUE INDEX ux_messages_id_user_id ON messages (id, user_id)")
    op.execute("ALTER TABLE messages DROP CONSTRAINT messages_pkey, ADD CONSTRAINT messages_pkey PRIMARY KEY (id)")
    op.execute(
        "ALTER TABLE conversations DROP CONSTRAINT conversations_pkey, ADD CONSTRAINT conversations_pkey PRIMARY KEY (id)"
    )
    op.execute(
        """
        ALTER TABLE messages
            ADD CONSTRAINT messages_conversation_id_fkey FOREIGN KEY (conversation_id)
            REFERENCES conversations (id) ON DELETE CASCADE,
            ADD CONSTRAINT fk_messages_conversation_owner FOREIGN KEY (user_id, conversation_id)
            REFERENCES conversations (user_id, id) ON DELETE CASCADE
        """
    )
