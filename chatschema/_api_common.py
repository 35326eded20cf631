"""What ``api`` and ``api_async`` share: the results, the rows they are built from, each call but its I/O.

Private to those two modules. For every API function there is a function of the same name here
that takes its arguments (less the connection), validates them before any SQL runs, and returns
the ``Call``: the catalog's SQL, its parameters, the row class the rows become by column name, and
how those rows become the result. ``api`` and ``api_async`` only execute it, so both return equal
results for equal data. The docstring of each function here is the public function's: ``doc_from``
gives it to both (it describes the whole call, the ``NotFound`` raised when the rows are built
included).

The calls of a client coming back (a retried send, catch-up, the sidebar's changes) are in
``_api_resume``, built the same way. Arguments and cursors are checked by ``_api_input``; the constants are documented where the API
exports them (``api``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial
from typing import Any, Generic, TypeVar

from psycopg.rows import BaseRowFactory, class_row

from . import queries as catalog
from ._api_input import (
    CATCH_UP_CURSOR,
    LIST_CURSOR,
    MAX_CONTENT_CHARS,
    MAX_LIMIT,
    MESSAGE_CURSOR,
    check_content,
    check_day_range,
    check_limit,
    check_role,
    check_uuid,
    decode_cursor,
    encode_cursor,
)
from .errors import NotFound

__all__ = [
    "MAX_LIMIT",
    "MAX_CONTENT_CHARS",
    "VIEW_MESSAGES",
    "NOT_FOUND",
    "ConversationSummary",
    "ConversationPage",
    "MessageItem",
    "MessagePage",
    "ConversationView",
    "SentMessage",
    "UserDailyCount",
    "DailyTotal",
    "Call",
    "doc_from",
    "not_found",
    "list_conversations",
    "load_messages",
    "conversation_view",
    "user_daily_counts",
    "daily_totals",
]

VIEW_MESSAGES = 20
NOT_FOUND = "conversation not found: it does not exist or does not belong to this user"

# The optimized variants of the catalog.
_LIST_SQL = catalog.get("list_conversations").sql
_LOAD_SQL = catalog.get("load_messages").sql
_VIEW_SQL = catalog.get("conversation_view").sql
_USER_DAILY_SQL = catalog.get("user_daily_counts").sql
_DAILY_TOTALS_SQL = catalog.get("daily_totals").sql

Row = TypeVar("Row")
Result = TypeVar("Result")
Fn = TypeVar("Fn", bound=Callable[..., Any])


# --- results --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConversationSummary:
    """One conversation of a list and its summary; the preview is the newest message's first 100 characters."""

    id: uuid.UUID
    title: str
    created_at: datetime
    last_activity_at: datetime
    message_count: int
    last_message_id: uuid.UUID | None
    last_message_preview: str | None


@dataclass(frozen=True, slots=True)
class ConversationPage:
    """A page of conversations, newest activity first; ``next_cursor`` is the next page's ``cursor``."""

    items: tuple[ConversationSummary, ...]
    has_more: bool
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class MessageItem:
    """One message of a page."""

    id: uuid.UUID
    role: str
    content: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class MessagePage:
    """A page of a conversation's messages, newest first; ``next_cursor`` is the next page's ``before``."""

    conversation_id: uuid.UUID
    message_count: int
    items: tuple[MessageItem, ...]
    has_more: bool
    next_cursor: str | None  # pass as load_messages(before=...) for the next older page
    newest_cursor: str | None = None  # pass as catch_up(after=...) for what arrives later; None when empty


@dataclass(frozen=True, slots=True)
class ConversationView:
    """A conversation and the first page of its messages (the newest ``VIEW_MESSAGES``)."""

    id: uuid.UUID
    title: str
    created_at: datetime
    last_activity_at: datetime
    message_count: int
    messages: MessagePage


@dataclass(frozen=True, slots=True)
class SentMessage:
    """A stored message; its ``(created_at, id)`` orders it after every earlier message of its conversation.

    ``replayed`` is True when the id was already stored (a retry): nothing was written and the fields are
    the stored message's.
    """

    id: uuid.UUID
    conversation_id: uuid.UUID
    role: str
    created_at: datetime
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class UserDailyCount:
    """One UTC day of a user's messages."""

    day: date
    messages: int
    user_messages: int
    assistant_messages: int
    active_conversations: int


@dataclass(frozen=True, slots=True)
class DailyTotal:
    """One UTC day of the whole service."""

    day: date
    messages: int
    active_users: int
    active_conversations: int


@dataclass(frozen=True, slots=True)
class _LoadRow:
    """A row of load_messages: the conversation, and one message or, for an empty one, NULLs."""

    conversation_id: uuid.UUID
    message_count: int
    id: uuid.UUID | None
    role: str | None
    content: str | None
    created_at: datetime | None


@dataclass(frozen=True, slots=True)
class _ViewRow:
    """A row of conversation_view: the conversation, and one message or, for an empty one, NULLs."""

    id: uuid.UUID
    title: str
    created_at: datetime
    last_activity_at: datetime
    message_count: int
    message_id: uuid.UUID | None
    role: str | None
    content: str | None
    message_created_at: datetime | None


@dataclass(frozen=True, slots=True)
class Call(Generic[Row, Result]):
    """One API call but its I/O: execute ``sql`` with ``params``, fetch all rows with ``rows``, ``build``.

    ``then``, given the rows, may name a second call to run instead of building from them (a send
    that lost a race reads the stored message with a new snapshot); it returns None in the normal case.
    """

    sql: str
    params: dict[str, Any]
    rows: BaseRowFactory[Row]
    build: Callable[[list[Row]], Result]
    then: Callable[[list[Row]], "Call[Any, Result] | None"] | None = None


# By column name: class_row passes each column as the keyword of its name, so a SELECT list in
# another order gives the same values, and a missing or unknown column is a TypeError.
_SUMMARY_ROWS = class_row(ConversationSummary)
_LOAD_ROWS = class_row(_LoadRow)
_VIEW_ROWS = class_row(_ViewRow)
_USER_DAILY_ROWS = class_row(UserDailyCount)
_DAILY_TOTAL_ROWS = class_row(DailyTotal)


def doc_from(shared: Callable[..., Any]) -> Callable[[Fn], Fn]:
    """Give an ``api``/``api_async`` function the docstring of the shared function it calls.

    Checks that it takes the same arguments after the connection, so the docstring fits it.
    """

    def give(fn: Fn) -> Fn:
        code, spec = fn.__code__, shared.__code__
        public = code.co_varnames[1 : code.co_argcount + code.co_kwonlyargcount]
        if public != spec.co_varnames[: spec.co_argcount + spec.co_kwonlyargcount]:
            raise TypeError(f"{fn.__module__}.{fn.__name__} does not take the arguments of {shared.__name__}")
        fn.__doc__ = shared.__doc__
        return fn

    return give


# --- results from rows --------------------------------------------------------------------------


def not_found() -> NotFound:
    # One message for "does not exist" and "belongs to someone else": nothing in it tells a caller
    # whether another user's conversation has this id.
    return NotFound(NOT_FOUND)


def _conversation_page(rows: list[ConversationSummary], n: int, uid: uuid.UUID) -> ConversationPage:
    items = tuple(rows[:n])
    more = len(rows) > n
    cursor = encode_cursor(LIST_CURSOR, items[-1].last_activity_at, items[-1].id, (uid,)) if more else None
    return ConversationPage(items=items, has_more=more, next_cursor=cursor)


def _message_page(
    conversation_id: uuid.UUID, message_count: int, items: list[MessageItem], n: int, scope: Sequence[uuid.UUID]
) -> MessagePage:
    page = tuple(items[:n])
    more = len(items) > n
    cursor = encode_cursor(MESSAGE_CURSOR, page[-1].created_at, page[-1].id, scope) if more else None
    newest = encode_cursor(CATCH_UP_CURSOR, page[0].created_at, page[0].id, scope) if page else None
    return MessagePage(conversation_id=conversation_id, message_count=message_count, items=page, has_more=more,
                       next_cursor=cursor, newest_cursor=newest)


def _loaded(rows: list[_LoadRow], n: int, scope: Sequence[uuid.UUID]) -> MessagePage:
    # No row: not found or not owned. One row with a NULL message id: no messages.
    if not rows:
        raise not_found()
    first = rows[0]
    items = [] if first.id is None else [
        MessageItem(id=r.id, role=r.role, content=r.content, created_at=r.created_at)  # type: ignore[arg-type]
        for r in rows
    ]
    return _message_page(first.conversation_id, first.message_count, items, n, scope)


def _viewed(rows: list[_ViewRow], scope: Sequence[uuid.UUID]) -> ConversationView:
    if not rows:
        raise not_found()
    c = rows[0]
    items = [] if c.message_id is None else [
        MessageItem(id=r.message_id, role=r.role, content=r.content,  # type: ignore[arg-type]
                    created_at=r.message_created_at)  # type: ignore[arg-type]
        for r in rows
    ]
    return ConversationView(id=c.id, title=c.title, created_at=c.created_at, last_activity_at=c.last_activity_at,
                            message_count=c.message_count,
                            messages=_message_page(c.id, c.message_count, items, VIEW_MESSAGES, scope))


# --- the calls: arguments -> Call; each docstring is the API function's -------------------------


def list_conversations(
    user_id: object, limit: object, cursor: object
) -> Call[ConversationSummary, ConversationPage]:
    """The user's conversations, newest activity first; ``cursor`` is a previous page's next_cursor.

    A user with no conversations, or an id no user has, gets an empty page. A conversation that gets a
    message during a walk moves to the top: a walk that had not reached it skips it (see the API notes).

    Raises:
        InvalidInput: ``user_id`` is not a UUID, ``limit`` is outside 1..MAX_LIMIT, or ``cursor`` is
            malformed, was tampered with, or comes from another user's list.
    """
    uid = check_uuid("user_id", user_id)
    n = check_limit(limit)
    params = {"user_id": uid, **decode_cursor("cursor", cursor, LIST_CURSOR, (uid,)), "limit": n + 1}
    return Call(_LIST_SQL, params, _SUMMARY_ROWS, partial(_conversation_page, n=n, uid=uid))


def load_messages(
    user_id: object, conversation_id: object, limit: object, before: object
) -> Call[_LoadRow, MessagePage]:
    """A conversation's messages, newest first; ``before`` is a previous page's next_cursor.

    An empty conversation gives an empty page. Walking older pages returns each message once, also while
    messages arrive: a new message sorts above every page of the walk.

    Raises:
        InvalidInput: an id is not a UUID, ``limit`` is outside 1..MAX_LIMIT, or ``before`` is
            malformed, was tampered with, or comes from another conversation's pages.
        NotFound: the conversation does not exist or is not the user's.
    """
    uid = check_uuid("user_id", user_id)
    cid = check_uuid("conversation_id", conversation_id)
    n = check_limit(limit)
    scope = (uid, cid)
    params = {**decode_cursor("before", before, MESSAGE_CURSOR, scope), "limit": n + 1,
              "conversation_id": cid, "user_id": uid}
    return Call(_LOAD_SQL, params, _LOAD_ROWS, partial(_loaded, n=n, scope=scope))


def conversation_view(user_id: object, conversation_id: object) -> Call[_ViewRow, ConversationView]:
    """The conversation and its latest 20 messages (``VIEW_MESSAGES``).

    ``messages.next_cursor`` is the ``before`` of ``load_messages`` for the older messages.

    Raises:
        InvalidInput: an id is not a UUID.
        NotFound: the conversation does not exist or is not the user's.
    """
    uid = check_uuid("user_id", user_id)
    cid = check_uuid("conversation_id", conversation_id)
    params = {"limit": VIEW_MESSAGES + 1, "conversation_id": cid, "user_id": uid}
    return Call(_VIEW_SQL, params, _VIEW_ROWS, partial(_viewed, scope=(uid, cid)))


def user_daily_counts(
    user_id: object, since: object, until: object
) -> Call[UserDailyCount, tuple[UserDailyCount, ...]]:
    """Per UTC day (since <= day < until), the user's messages; days without messages are absent.

    Read from the materialized view user_daily_messages: as fresh as its last refresh.

    Raises:
        InvalidInput: ``user_id`` is not a UUID, ``since`` or ``until`` is not a ``datetime.date``
            (a datetime is refused), or ``since`` is after ``until``.
    """
    params = {"user_id": check_uuid("user_id", user_id), **check_day_range(since, until)}
    return Call(_USER_DAILY_SQL, params, _USER_DAILY_ROWS, tuple)


def daily_totals(since: object, until: object) -> Call[DailyTotal, tuple[DailyTotal, ...]]:
    """Per UTC day (since <= day < until), messages, active users and conversations service-wide.

    Read from the materialized view daily_message_totals: as fresh as its last refresh.

    Raises:
        InvalidInput: ``since`` or ``until`` is not a ``datetime.date`` (a datetime is refused), or
            ``since`` is after ``until``.
    """
    return Call(_DAILY_TOTALS_SQL, check_day_range(since, until), _DAILY_TOTAL_ROWS, tuple)

