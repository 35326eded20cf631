"""SQLModel models of the schema at head (the newest revision).

Primary keys are UUIDs, as the application generates them; conversations' and messages' are
(id, user_id) (revision 0015): Citus requires the owner's user_id, its distribution column, in every key. Timestamps are ``timestamptz``:
every instant is stored in UTC and analytics cut days in UTC explicitly.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from ..indexes import INDEXES
from ..vocabulary import PREVIEW_CHARS, ROLES, finite_check

__all__ = ["User", "Conversation", "Message", "metadata", "ROLES", "PREVIEW_CHARS"]


def _indexes(table: str) -> tuple[sa.Index, ...]:
    out = []
    for spec in INDEXES:
        if spec.table != table:
            continue
        cols = [sa.text(c) if " " in c else c for c in spec.columns]
        kwargs: dict[str, object] = {}
        if spec.include:
            kwargs["postgresql_include"] = list(spec.include)
        if spec.where:
            kwargs["postgresql_where"] = sa.text(spec.where)
        out.append(sa.Index(spec.name, *cols, unique=spec.unique, **kwargs))
    return tuple(out)


def _ts(**kw: object) -> sa.Column:
    return sa.Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now(), **kw)


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, primary_key=True))
    name: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    created_at: datetime = Field(sa_column=_ts())


class Conversation(SQLModel, table=True):
    __tablename__ = "conversations"
    __table_args__ = (
        sa.PrimaryKeyConstraint("id", "user_id", name="conversations_pkey"),
        *_indexes("conversations"),
        sa.CheckConstraint("message_count >= 0", name="ck_conversations_message_count"),
        sa.CheckConstraint(
            f"char_length(last_message_preview) <= {PREVIEW_CHARS}", name="ck_conversations_preview_length"
        ),
        *(sa.CheckConstraint(finite_check(col), name=f"ck_conversations_{col}_finite")
          for col in ("created_at", "updated_at", "last_activity_at")),
        {"postgresql_with": {"autovacuum_vacuum_scale_factor": "0.02"}},
    )

    id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, nullable=False))
    user_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    )
    title: str = Field(sa_column=sa.Column(sa.Text, nullable=False, server_default=""))
    created_at: datetime = Field(sa_column=_ts())
    updated_at: datetime = Field(sa_column=_ts())
    # Summary of the conversation's messages, kept exact by the send statement (see docs/design.md).
    last_activity_at: datetime = Field(sa_column=_ts())
    message_count: int = Field(sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"))
    # No foreign key to messages: it would make every send check a second index and tie
    # conversation deletes to a cycle; the send statement writes both rows in one statement.
    last_message_id: uuid.UUID | None = Field(default=None, sa_column=sa.Column(sa.Uuid, nullable=True))
    last_message_preview: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))


class Message(SQLModel, table=True):
    __tablename__ = "messages"
    __table_args__ = (
        sa.PrimaryKeyConstraint("id", "user_id", name="messages_pkey"),
        # The owner's key: a message's user_id is its conversation's (co-location on Citus).
        sa.ForeignKeyConstraint(
            ["user_id", "conversation_id"], ["conversations.user_id", "conversations.id"],
            name="fk_messages_conversation_owner", ondelete="CASCADE",
        ),
        *_indexes("messages"),
        sa.CheckConstraint(f"role IN ({', '.join(repr(r) for r in ROLES)})", name="ck_messages_role"),
        # Instants psycopg can load (revision 0008): no 'infinity', no BC, no year 10000.
        sa.CheckConstraint(finite_check("created_at"), name="ck_messages_created_at_finite"),
        {"postgresql_with": {"autovacuum_vacuum_insert_scale_factor": "0.02"}},
    )

    id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, nullable=False))
    conversation_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, nullable=False))
    role: str = Field(sa_column=sa.Column(sa.String(20), nullable=False))
    content: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    created_at: datetime = Field(sa_column=_ts())
    user_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, nullable=False))


metadata: sa.MetaData = SQLModel.metadata
