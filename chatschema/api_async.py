"""The data-access API for asyncio: the same functions as ``api``, taking a psycopg ``AsyncConnection``.

Validation, SQL, row and result building and the docstrings are ``api``'s (in ``_api_common``);
only the I/O differs, so both return equal results for equal data.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, TypeVar

import psycopg

from . import _api_common as shared
from . import _api_resume as resume
from ._api_resume import CatchUpPage, ChangesPage
from ._api_common import (
    Call,
    ConversationPage,
    ConversationView,
    DailyTotal,
    MessagePage,
    SentMessage,
    UserDailyCount,
    doc_from,
)

__all__ = [
    "list_conversations",
    "load_messages",
    "conversation_view",
    "send_message",
    "catch_up",
    "changed_conversations",
    "user_daily_counts",
    "daily_totals",
]

Result = TypeVar("Result")


async def _run(conn: psycopg.AsyncConnection[Any], call: Call[Any, Result]) -> Result:
    async with conn.cursor(row_factory=call.rows) as cur:
        await cur.execute(call.sql, call.params)
        rows = await cur.fetchall()
    after = call.then(rows) if call.then else None
    return call.build(rows) if after is None else await _run(conn, after)


@doc_from(shared.list_conversations)
async def list_conversations(
    conn: psycopg.AsyncConnection[Any], user_id: uuid.UUID | str, limit: int = 20, cursor: str | None = None
) -> ConversationPage:
    return await _run(conn, shared.list_conversations(user_id, limit, cursor))


@doc_from(shared.load_messages)
async def load_messages(
    conn: psycopg.AsyncConnection[Any],
    user_id: uuid.UUID | str,
    conversation_id: uuid.UUID | str,
    limit: int = 50,
    before: str | None = None,
) -> MessagePage:
    return await _run(conn, shared.load_messages(user_id, conversation_id, limit, before))


@doc_from(shared.conversation_view)
async def conversation_view(
    conn: psycopg.AsyncConnection[Any], user_id: uuid.UUID | str, conversation_id: uuid.UUID | str
) -> ConversationView:
    return await _run(conn, shared.conversation_view(user_id, conversation_id))


@doc_from(resume.send_message)
async def send_message(
    conn: psycopg.AsyncConnection[Any],
    user_id: uuid.UUID | str,
    conversation_id: uuid.UUID | str,
    role: str,
    content: str,
    message_id: uuid.UUID | str | None = None,
) -> SentMessage:
    return await _run(conn, resume.send_message(user_id, conversation_id, role, content, message_id))


@doc_from(resume.catch_up)
async def catch_up(
    conn: psycopg.AsyncConnection[Any],
    user_id: uuid.UUID | str,
    conversation_id: uuid.UUID | str,
    after: str | None = None,
    limit: int = 50,
) -> CatchUpPage:
    return await _run(conn, resume.catch_up(user_id, conversation_id, after, limit))


@doc_from(resume.changed_conversations)
async def changed_conversations(
    conn: psycopg.AsyncConnection[Any], user_id: uuid.UUID | str, since: datetime | str, limit: int = 50
) -> ChangesPage:
    return await _run(conn, resume.changed_conversations(user_id, since, limit))


@doc_from(shared.user_daily_counts)
async def user_daily_counts(
    conn: psycopg.AsyncConnection[Any], user_id: uuid.UUID | str, since: date, until: date
) -> tuple[UserDailyCount, ...]:
    return await _run(conn, shared.user_daily_counts(user_id, since, until))


@doc_from(shared.daily_totals)
async def daily_totals(conn: psycopg.AsyncConnection[Any], since: date, until: date) -> tuple[DailyTotal, ...]:
    return await _run(conn, shared.daily_totals(since, until))
