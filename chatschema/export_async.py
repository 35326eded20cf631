"""Streaming export for asyncio: ``export``'s iterator over a psycopg ``AsyncConnection``.

The same reads as ``chatschema.export`` (the catalog's ``export_messages`` per conversation through a
server-side cursor, ``FETCH FORWARD batch`` per round trip, one ``REPEATABLE READ READ ONLY``
transaction), iterated with ``async for``. Closing it (``aclose()``, leaving its ``async with`` block,
or finishing the iteration) rolls the transaction back and ends the cursor. Input is checked by the
same functions as the sync export, so both refuse the same requests with the same messages.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any

import psycopg
from psycopg import IsolationLevel
from psycopg.rows import class_row

from .errors import NotFound
from .export import (
    _CONVERSATION,
    _CURSOR,
    _EXPORT_SQL,
    _USER_CONVERSATIONS,
    _USER_EXISTS,
    EXPORT_BATCH,
    ExportedMessage,
    _check_request,
)

__all__ = ["AsyncMessageExport", "export_messages"]


class AsyncMessageExport(AsyncIterator[ExportedMessage]):
    """An export in progress: ``async for`` the messages; ``total`` is how many there are in its snapshot."""

    def __init__(self, conn: psycopg.AsyncConnection[Any], owner: uuid.UUID,
                 conversations: list[tuple[uuid.UUID, int]], batch: int, stack: AsyncExitStack) -> None:
        self.total = sum(count for _, count in conversations)
        self.conversations = len(conversations)
        self._stack = stack
        self._rows = self._stream(conn, owner, conversations, batch)

    @staticmethod
    async def _stream(conn: psycopg.AsyncConnection[Any], owner: uuid.UUID,
                      conversations: list[tuple[uuid.UUID, int]], batch: int) -> AsyncIterator[ExportedMessage]:
        for conversation_id, _ in conversations:
            async with conn.cursor(name=_CURSOR, row_factory=class_row(ExportedMessage)) as cur:
                cur.itersize = batch
                await cur.execute(_EXPORT_SQL, {"conversation_id": conversation_id, "user_id": owner})
                async for row in cur:
                    yield row

    async def __anext__(self) -> ExportedMessage:
        try:
            return await self._rows.__anext__()
        except StopAsyncIteration:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        """End the export: close the cursor, roll the read-only transaction back. Idempotent."""
        await self._rows.aclose()  # type: ignore[attr-defined]
        await self._stack.aclose()

    async def __aenter__(self) -> AsyncMessageExport:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()


async def export_messages(
    conn: psycopg.AsyncConnection[Any],
    *,
    user_id: uuid.UUID | str | None = None,
    conversation_id: uuid.UUID | str | None = None,
    batch: int = EXPORT_BATCH,
) -> AsyncMessageExport:
    """Start exporting one conversation's messages, or all of one user's; ``async for`` the result.

    ``conn`` must be idle (no transaction open): the export opens its own REPEATABLE READ READ ONLY
    transaction on it, and gives the connection back as it was when closed.

    Raises:
        InvalidInput: neither or both of ``user_id`` and ``conversation_id``, an id that is not a UUID, a
            batch outside 1..100,000, or a connection inside a transaction.
        NotFound: the conversation or the user does not exist.
    """
    uid, cid, size = _check_request(user_id, conversation_id, batch, conn.info.transaction_status)
    stack = AsyncExitStack()
    saved = (conn.isolation_level, conn.read_only)

    async def restore() -> None:
        if conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
            await conn.set_isolation_level(saved[0])
            await conn.set_read_only(saved[1])

    stack.push_async_callback(restore)
    await conn.set_isolation_level(IsolationLevel.REPEATABLE_READ)
    await conn.set_read_only(True)
    try:
        transaction = conn.transaction()
        await transaction.__aenter__()
        # Closing rolls back (the export wrote nothing; a rollback never waits for a commit to flush).
        stack.push_async_callback(transaction.__aexit__, psycopg.Rollback, psycopg.Rollback(transaction), None)
        if cid is not None:
            found = await (await conn.execute(_CONVERSATION, {"conversation_id": cid})).fetchone()
            if found is None:
                raise NotFound(f"conversation {cid} does not exist")
            owner, conversations = found[0], [(cid, found[1])]
        else:
            assert uid is not None
            owner = uid
            cur = await conn.execute(_USER_CONVERSATIONS, {"user_id": uid})
            conversations = [(r[0], r[1]) for r in await cur.fetchall()]
            if not conversations:
                exists = await (await conn.execute(_USER_EXISTS, {"user_id": uid})).fetchone()
                if not (exists and exists[0]):
                    raise NotFound(f"user {uid} does not exist")
    except BaseException:
        await stack.aclose()
        raise
    return AsyncMessageExport(conn, owner, conversations, size, stack)
