"""The data-access API for asyncio: the same functions as ``api``, taking a psycopg ``AsyncConnection``.

Validation, SQL and result building are shared with ``api``; only the I/O differs, so both return
equal results for equal data.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from .api import (
    _DAILY_TOTALS,
    _LIST,
    _LOAD,
    _SEND,
    _USER_DAILY,
    _VIEW,
    ConversationPage,
    ConversationView,
    DailyTotal,
    MessagePage,
    SentMessage,
    UserDailyCount,
    _conversation_page,
    _day_range,
    _list_params,
    _load_params,
    _message_page,
    _send_params,
    _sent,
    _user_daily_params,
    _view,
    _view_params,
)

__all__ = [
    "list_conversations",
    "load_messages",
    "conversation_view",
    "send_message",
    "user_daily_counts",
    "daily_totals",
]


async def _fetch(conn: psycopg.AsyncConnection[Any], sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    async with conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute(sql, params)
        return await cur.fetchall()


async def list_conversations(
    conn: psycopg.AsyncConnection[Any], user_id: uuid.UUID | str, limit: int = 20, cursor: str | None = None
) -> ConversationPage:
    """The user's conversations, newest activity first; ``cursor`` is a previous page's next_cursor.

    A user with no conversations, or an id no user has, gets an empty page.

    Raises:
        InvalidInput: ``user_id`` is not a UUID, ``limit`` is outside 1..MAX_LIMIT, or ``cursor`` is
            malformed, was tampered with, or comes from another user's list.
    """
    params, n, uid = _list_params(user_id, limit, cursor)
    return _conversation_page(await _fetch(conn, _LIST.sql, params), n, uid)


async def load_messages(
    conn: psycopg.AsyncConnection[Any],
    user_id: uuid.UUID | str,
    conversation_id: uuid.UUID | str,
    limit: int = 50,
    before: str | None = None,
) -> MessagePage:
    """A conversation's messages, newest first; ``before`` is a previous page's next_cursor.

    An empty conversation gives an empty page.

    Raises:
        InvalidInput: an id is not a UUID, ``limit`` is outside 1..MAX_LIMIT, or ``before`` is
            malformed, was tampered with, or comes from another conversation's pages.
        NotFound: the conversation does not exist or is not the user's.
    """
    params, n, scope = _load_params(user_id, conversation_id, limit, before)
    return _message_page(await _fetch(conn, _LOAD.sql, params), n, scope, offset=2)


async def conversation_view(
    conn: psycopg.AsyncConnection[Any], user_id: uuid.UUID | str, conversation_id: uuid.UUID | str
) -> ConversationView:
    """The conversation and its latest 20 messages (``VIEW_MESSAGES``).

    ``messages.next_cursor`` is the ``before`` of ``load_messages`` for the older messages.

    Raises:
        InvalidInput: an id is not a UUID.
        NotFound: the conversation does not exist or is not the user's.
    """
    params, scope = _view_params(user_id, conversation_id)
    return _view(await _fetch(conn, _VIEW.sql, params), scope)


async def send_message(
    conn: psycopg.AsyncConnection[Any],
    user_id: uuid.UUID | str,
    conversation_id: uuid.UUID | str,
    role: str,
    content: str,
) -> SentMessage:
    """Store a message and update the conversation's summary in one statement.

    The message id is generated here. ``created_at`` is the server's clock once the conversation
    row is locked, so a conversation's messages are ordered as they were committed.

    Raises:
        InvalidInput: an id is not a UUID, ``role`` is not system, user, assistant or tool, or
            ``content`` is empty, over MAX_CONTENT_CHARS characters, or holds a NUL or a lone
            surrogate; nothing is written.
        NotFound: the conversation does not exist or is not the user's; nothing is written.
    """
    return _sent(await _fetch(conn, _SEND.sql, _send_params(user_id, conversation_id, role, content)))


async def user_daily_counts(
    conn: psycopg.AsyncConnection[Any], user_id: uuid.UUID | str, since: date, until: date
) -> tuple[UserDailyCount, ...]:
    """Per UTC day (since <= day < until), the user's messages; days without messages are absent.

    Read from the materialized view user_daily_messages: as fresh as its last refresh.

    Raises:
        InvalidInput: ``user_id`` is not a UUID, ``since`` or ``until`` is not a ``datetime.date``
            (a datetime is refused), or ``since`` is after ``until``.
    """
    rows = await _fetch(conn, _USER_DAILY.sql, _user_daily_params(user_id, since, until))
    return tuple([UserDailyCount(*row) for row in rows])


async def daily_totals(conn: psycopg.AsyncConnection[Any], since: date, until: date) -> tuple[DailyTotal, ...]:
    """Per UTC day (since <= day < until), messages, active users and conversations service-wide.

    Read from the materialized view daily_message_totals: as fresh as its last refresh.

    Raises:
        InvalidInput: ``since`` or ``until`` is not a ``datetime.date`` (a datetime is refused), or
            ``since`` is after ``until``.
    """
    rows = await _fetch(conn, _DAILY_TOTALS.sql, _day_range(since, until))
    return tuple([DailyTotal(*row) for row in rows])
