"""Streaming export: a conversation's or a user's whole history, in order, a bounded batch at a time.

``export_messages`` returns a ``MessageExport``: an iterator over the messages that reads them through
a server-side cursor (a psycopg named cursor, ``FETCH FORWARD batch`` per round trip), so the client
holds one batch whatever the history's length. Everything is read in one ``REPEATABLE READ READ ONLY``
transaction: one snapshot, so a message sent during the export is not in it and a conversation
deleted during it is still whole. Closing the export (``close()``, leaving its ``with`` block, or
stopping the iteration early) rolls the transaction back and ends the cursor.

A user's export is each of their conversations, most recent activity first (the sidebar's order, read
from ``ix_conversations_user_activity`` without a sort), and each conversation's messages oldest first:
the catalog's ``export_messages`` per conversation, whose plan reads the message index in order.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any

import psycopg
from psycopg import IsolationLevel
from psycopg.rows import class_row

from . import queries as catalog
from ._api_input import check_uuid
from .errors import InvalidInput, NotFound

__all__ = ["EXPORT_BATCH", "ExportedMessage", "MessageExport", "export_messages"]

EXPORT_BATCH = 1000
"""Rows per FETCH: the most messages the client holds at once."""
_MAX_BATCH = 100_000
_CURSOR = "chatschema_export"

_EXPORT_SQL = catalog.get("export_messages").sql
# The user's conversations and how many messages they hold, in the sidebar's order (the activity index).
_USER_CONVERSATIONS = """
SELECT id, message_count FROM conversations
WHERE user_id = %(user_id)s
ORDER BY last_activity_at DESC, id DESC
"""
_CONVERSATION = "SELECT user_id, message_count FROM conversations WHERE id = %(conversation_id)s"
_USER_EXISTS = "SELECT EXISTS (SELECT FROM users WHERE id = %(user_id)s)"


@dataclass(frozen=True, slots=True)
class ExportedMessage:
    """One message of an export; ``as_json`` is its NDJSON object."""

    id: uuid.UUID
    conversation_id: uuid.UUID
    role: str
    content: str
    created_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {"id": str(self.id), "conversation_id": str(self.conversation_id), "role": self.role,
                "content": self.content, "created_at": self.created_at.isoformat()}


class MessageExport(Iterator[ExportedMessage]):
    """An export in progress: iterate for the messages; ``total`` is how many there are in its snapshot."""

    def __init__(self, conn: psycopg.Connection[Any], owner: uuid.UUID,
                 conversations: list[tuple[uuid.UUID, int]], batch: int, stack: ExitStack) -> None:
        self.total = sum(count for _, count in conversations)
        self.conversations = len(conversations)
        self._stack = stack
        self._rows = self._stream(conn, owner, conversations, batch)

    @staticmethod
    def _stream(conn: psycopg.Connection[Any], owner: uuid.UUID, conversations: list[tuple[uuid.UUID, int]],
                batch: int) -> Iterator[ExportedMessage]:
        for conversation_id, _ in conversations:
            with conn.cursor(name=_CURSOR, row_factory=class_row(ExportedMessage)) as cur:
                cur.itersize = batch
                cur.execute(_EXPORT_SQL, {"conversation_id": conversation_id, "user_id": owner})
                yield from cur

    def __next__(self) -> ExportedMessage:
        try:
            return next(self._rows)
        except StopIteration:
            self.close()
            raise

    def close(self) -> None:
        """End the export: close the cursor, roll the read-only transaction back. Idempotent."""
        self._rows.close()
        self._stack.close()

    def __enter__(self) -> MessageExport:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def _check_batch(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= _MAX_BATCH:
        raise InvalidInput(f"batch must be an integer from 1 to {_MAX_BATCH:,}, got {value!r}")
    return value


def _check_request(user_id: uuid.UUID | str | None, conversation_id: uuid.UUID | str | None, batch: object,
                   status: psycopg.pq.TransactionStatus) -> tuple[uuid.UUID | None, uuid.UUID | None, int]:
    """The export's request checked (the sync and the async export refuse alike): (user, conversation, batch)."""
    if (user_id is None) == (conversation_id is None):
        raise InvalidInput("export needs exactly one of user_id and conversation_id")
    size = _check_batch(batch)
    uid = None if user_id is None else check_uuid("user_id", user_id)
    cid = None if conversation_id is None else check_uuid("conversation_id", conversation_id)
    if status != psycopg.pq.TransactionStatus.IDLE:
        raise InvalidInput("export needs a connection with no transaction open: it reads in its own snapshot")
    return uid, cid, size


def export_messages(
    conn: psycopg.Connection[Any],
    *,
    user_id: uuid.UUID | str | None = None,
    conversation_id: uuid.UUID | str | None = None,
    batch: int = EXPORT_BATCH,
) -> MessageExport:
    """Start exporting one conversation's messages, or all of one user's; iterate the result.

    ``conn`` must be idle (no transaction open): the export opens its own REPEATABLE READ READ ONLY
    transaction on it, and gives the connection back as it was when closed.

    Raises:
        InvalidInput: neither or both of ``user_id`` and ``conversation_id``, an id that is not a UUID, a
            batch outside 1..100,000, or a connection inside a transaction.
        NotFound: the conversation or the user does not exist.
    """
    uid, cid, size = _check_request(user_id, conversation_id, batch, conn.info.transaction_status)
    stack = ExitStack()
    saved = (conn.isolation_level, conn.read_only)

    def restore() -> None:
        if conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
            conn.isolation_level, conn.read_only = saved

    stack.callback(restore)
    conn.isolation_level, conn.read_only = IsolationLevel.REPEATABLE_READ, True
    try:
        transaction = conn.transaction()
        transaction.__enter__()
        # Closing rolls back (the export wrote nothing; a rollback never waits for a commit to flush).
        stack.callback(transaction.__exit__, psycopg.Rollback, psycopg.Rollback(transaction), None)
        if cid is not None:
            found = conn.execute(_CONVERSATION, {"conversation_id": cid}).fetchone()
            if found is None:
                raise NotFound(f"conversation {cid} does not exist")
            owner, conversations = found[0], [(cid, found[1])]
        else:
            assert uid is not None
            owner = uid
            conversations = [(r[0], r[1]) for r in conn.execute(_USER_CONVERSATIONS, {"user_id": uid})]
            if not conversations and not conn.execute(_USER_EXISTS, {"user_id": uid}).fetchone()[0]:  # type: ignore[index]
                raise NotFound(f"user {uid} does not exist")
    except BaseException:
        stack.close()
        raise
    return MessageExport(conn, owner, conversations, size, stack)
