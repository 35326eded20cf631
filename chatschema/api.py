"""The data-access API app teams call: one statement and one round trip per call.

Every function takes a psycopg 3 ``Connection`` (a pooled one is fine), validates its arguments
before any SQL runs, runs the ``optimized`` SQL of the query catalog, and builds frozen dataclasses
from the rows in one pass. ``api_async`` has the same functions for ``AsyncConnection``.

- **One statement, one round trip** per call. Nothing commits: on an autocommit connection (the
  usual setup with ``psycopg_pool``) each call is atomic on its own; on a non-autocommit connection
  a send is part of the caller's transaction and is kept only when the caller commits.
- **Pages** are keyset pages on a unique order: conversations by ``(last_activity_at, id)``,
  messages by ``(created_at, id)``, newest first. ``next_cursor`` is an opaque string (``None`` on
  the last page): pass it back unchanged to get the next (older) page. A cursor only works for the
  list it came from (same user, same conversation); anything else is rejected before any SQL.
  Walking all pages returns each row once, also while messages arrive: new messages are newer than
  every older page, and a conversation that gets new activity during a walk moves to the top (it
  appears on the next first page).
- **Not found**: a conversation that does not exist and one that belongs to another user raise the
  same ``NotFound`` with the same message (``NOT_FOUND``). An empty conversation gives an empty page.
- **Bad input** raises ``InvalidInput`` before any SQL runs, naming the argument: ids that are not
  UUIDs, ``limit`` outside 1..100 (``MAX_LIMIT``), a malformed or tampered cursor, a role outside
  ``system, user, assistant, tool``, empty content, content over 100,000 characters
  (``MAX_CONTENT_CHARS``), content with a NUL character or a lone surrogate, ``since``/``until``
  that are not dates or are reversed. Nothing is written when a send fails.
- **Server errors** (a lost connection, a statement timeout) are psycopg's own exceptions, raised
  unchanged.
- **Prepared statements**: every call uses one SQL text whatever the page (the first page's cursor
  is the sentinel ``('infinity', ffffffff-ffff-ffff-ffff-ffffffffffff)``, never
  ``$cursor IS NULL OR ...``), so psycopg's automatic server-side preparation and PostgreSQL's
  generic plans keep the index scans; ``tests/test_api.py`` runs every call under
  ``plan_cache_mode = force_generic_plan``.
- **Analytics** read the materialized views: they are as fresh as the last
  ``chatschema views refresh``. Days are UTC days, ``since <= day < until``; days without messages
  are absent.
- The send statement also sets ``updated_at = now()``, as the application does today, for readers
  that still use it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from . import queries as catalog
from .errors import InvalidInput, NotFound
from .models import ROLES

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
    "list_conversations",
    "load_messages",
    "conversation_view",
    "send_message",
    "user_daily_counts",
    "daily_totals",
]

MAX_LIMIT = 100
"""Largest page a caller may ask for."""
MAX_CONTENT_CHARS = 100_000
"""Longest message content accepted, in characters (about 100 kB of English, 400 kB at most in UTF-8)."""
VIEW_MESSAGES = 20
"""Messages returned by conversation_view."""
NOT_FOUND = "conversation not found: it does not exist or does not belong to this user"
"""The message of every NotFound the API raises."""


_LIST = catalog.get("list_conversations")
_LOAD = catalog.get("load_messages")
_VIEW = catalog.get("conversation_view")
_SEND = catalog.get("send_message")
_USER_DAILY = catalog.get("user_daily_counts")
_DAILY_TOTALS = catalog.get("daily_totals")


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
    """A stored message; its ``(created_at, id)`` orders it after every earlier message of its conversation."""

    id: uuid.UUID
    conversation_id: uuid.UUID
    role: str
    created_at: datetime


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


# --- validation: everything is checked before any SQL runs ----------------------------------------


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _uuid(name: str, value: object) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            pass
    raise InvalidInput(f"{name} must be a UUID, got {_show(value)}")


def _limit(value: object) -> int:
    # bool is an int subclass: limit=True is a bug in the caller, not a page size of 1
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_LIMIT:
        raise InvalidInput(f"limit must be an integer from 1 to {MAX_LIMIT}, got {_show(value)}")
    return value


def _role(value: object) -> str:
    if not isinstance(value, str) or value not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}; got {_show(value)}")
    return value


def _content(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"content must be a str, got {type(value).__name__}")
    if not value:
        raise InvalidInput("content is empty; a message needs at least one character")
    if len(value) > MAX_CONTENT_CHARS:
        raise InvalidInput(f"content is {len(value):,} characters; the limit is {MAX_CONTENT_CHARS:,}")
    nul = value.find("\x00")
    if nul >= 0:
        raise InvalidInput(f"content contains a NUL character (\\x00) at index {nul}; PostgreSQL text cannot store it")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInput(
            f"content is not valid Unicode: a lone surrogate at index {exc.start} cannot be encoded as UTF-8"
        ) from None
    return value


def _day(name: str, value: object) -> date:
    # datetime is a date subclass; a datetime here would silently mean "that day, in UTC"
    if isinstance(value, datetime) or not isinstance(value, date):
        raise InvalidInput(f"{name} must be a datetime.date (a UTC day), got {type(value).__name__}")
    return value


def _day_range(since: object, until: object) -> dict[str, Any]:
    start, end = _day("since", since), _day("until", until)
    if start > end:
        raise InvalidInput(f"since ({start}) is after until ({end}); the range is since <= day < until")
    return {"since": start, "until": end}


# --- cursors ----------------------------------------------------------------------------------
#
# base64url of: version (1 byte) | kind (1) | timestamp in microseconds since the epoch, UTC (8) |
# row id (16) | tag (8). The tag is a keyed BLAKE2b over the rest *and* the list the cursor belongs to
# (the user, or the user and conversation), so a corrupted, hand-edited or foreign cursor is rejected
# before any SQL. The key is not a secret: the tag catches mistakes and tampering, it is not access
# control (every query is scoped by user_id, so a forged cursor can only reach the caller's own rows).

_CURSOR_VERSION = 1
_LIST_CURSOR = ord("C")
_MESSAGE_CURSOR = ord("M")
_CURSOR = struct.Struct(">BBq16s")
_TAG_BYTES = 8
_CURSOR_KEY = b"chatschema.cursor.v1"
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)
_CURSOR_CHARS = (4 * (_CURSOR.size + _TAG_BYTES) + 2) // 3


def _tag(body: bytes, scope: Sequence[uuid.UUID]) -> bytes:
    h = hashlib.blake2b(body, digest_size=_TAG_BYTES, key=_CURSOR_KEY)
    for part in scope:
        h.update(part.bytes)
    return h.digest()


def _encode_cursor(kind: int, at: datetime, row_id: uuid.UUID, scope: Sequence[uuid.UUID]) -> str:
    body = _CURSOR.pack(_CURSOR_VERSION, kind, (at - _EPOCH) // _MICROSECOND, row_id.bytes)
    return base64.urlsafe_b64encode(body + _tag(body, scope)).rstrip(b"=").decode("ascii")


def _decode_cursor(name: str, value: object, kind: int, scope: Sequence[uuid.UUID]) -> dict[str, Any]:
    """The SQL parameters (before_at, before_id) a cursor stands for; None means the first page."""
    if value is None:
        return {"before_at": catalog.FIRST_PAGE_AT, "before_id": catalog.FIRST_PAGE_ID}
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a str (a next_cursor) or None, got {type(value).__name__}")
    malformed = InvalidInput(
        f"{name} is malformed or was tampered with: pass back a next_cursor of the same list unchanged, "
        f"or None for the first page"
    )
    if len(value) != _CURSOR_CHARS:
        raise malformed
    try:
        raw = base64.b64decode(value + "=" * (-len(value) % 4), altchars=b"-_", validate=True)
    except ValueError:
        raise malformed from None
    # base64 ignores the unused low bits of the last character: insist on the one canonical spelling
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != value:
        raise malformed
    body, tag = raw[: _CURSOR.size], raw[_CURSOR.size :]
    if len(body) != _CURSOR.size or not hmac.compare_digest(tag, _tag(body, scope)):
        raise malformed
    version, got_kind, micros, row_id = _CURSOR.unpack(body)
    if version != _CURSOR_VERSION or got_kind != kind:
        raise malformed
    try:
        at = _EPOCH + micros * _MICROSECOND
    except OverflowError:
        raise malformed from None
    # Text, not a datetime: the first page passes 'infinity', and one parameter type for every page
    # keeps one prepared statement. ISO 8601 with an offset parses the same under any DateStyle.
    return {"before_at": at.isoformat(), "before_id": uuid.UUID(bytes=row_id)}


# --- statements and results, shared by the sync and async functions ------------------------------


def _list_params(user_id: object, limit: object, cursor: object) -> tuple[dict[str, Any], int, uuid.UUID]:
    uid = _uuid("user_id", user_id)
    n = _limit(limit)
    params = {"user_id": uid, **_decode_cursor("cursor", cursor, _LIST_CURSOR, (uid,)), "limit": n + 1}
    return params, n, uid


def _conversation_page(rows: list[tuple[Any, ...]], n: int, uid: uuid.UUID) -> ConversationPage:
    items = tuple([ConversationSummary(*row) for row in rows[:n]])
    more = len(rows) > n
    cursor = _encode_cursor(_LIST_CURSOR, items[-1].last_activity_at, items[-1].id, (uid,)) if more else None
    return ConversationPage(items, more, cursor)


def _load_params(
    user_id: object, conversation_id: object, limit: object, before: object
) -> tuple[dict[str, Any], int, tuple[uuid.UUID, uuid.UUID]]:
    uid = _uuid("user_id", user_id)
    cid = _uuid("conversation_id", conversation_id)
    n = _limit(limit)
    scope = (uid, cid)
    params = {**_decode_cursor("before", before, _MESSAGE_CURSOR, scope), "limit": n + 1,
              "conversation_id": cid, "user_id": uid}
    return params, n, scope


def _not_found() -> NotFound:
    # One message for "does not exist" and "belongs to someone else": nothing in it tells a caller
    # whether another user's conversation has this id.
    return NotFound(NOT_FOUND)


def _message_page(
    rows: list[tuple[Any, ...]], n: int, scope: tuple[uuid.UUID, uuid.UUID], *, offset: int
) -> MessagePage:
    """Rows are (conversation columns..., message id, role, content, created_at); offset is where
    the message columns start. No row: not found or not owned. One row with a NULL id: no messages."""
    if not rows:
        raise _not_found()
    first = rows[0]
    if first[offset] is None:
        return MessagePage(first[0], first[offset - 1], (), False, None)
    items = tuple([MessageItem(*row[offset : offset + 4]) for row in rows[:n]])
    more = len(rows) > n
    cursor = _encode_cursor(_MESSAGE_CURSOR, items[-1].created_at, items[-1].id, scope) if more else None
    return MessagePage(first[0], first[offset - 1], items, more, cursor)


def _view_params(user_id: object, conversation_id: object) -> tuple[dict[str, Any], tuple[uuid.UUID, uuid.UUID]]:
    uid = _uuid("user_id", user_id)
    cid = _uuid("conversation_id", conversation_id)
    return {"limit": VIEW_MESSAGES + 1, "conversation_id": cid, "user_id": uid}, (uid, cid)


def _view(rows: list[tuple[Any, ...]], scope: tuple[uuid.UUID, uuid.UUID]) -> ConversationView:
    page = _message_page(rows, VIEW_MESSAGES, scope, offset=5)
    cid, title, created_at, last_activity_at, message_count = rows[0][:5]
    return ConversationView(cid, title, created_at, last_activity_at, message_count, page)


def _send_params(user_id: object, conversation_id: object, role: object, content: object) -> dict[str, Any]:
    uid = _uuid("user_id", user_id)
    cid = _uuid("conversation_id", conversation_id)
    return {
        "message_id": uuid.uuid4(),
        "content": _content(content),
        "conversation_id": cid,
        "user_id": uid,
        "role": _role(role),
    }


def _sent(rows: list[tuple[Any, ...]]) -> SentMessage:
    if not rows:
        raise _not_found()
    return SentMessage(*rows[0])


def _user_daily_params(user_id: object, since: object, until: object) -> dict[str, Any]:
    return {"user_id": _uuid("user_id", user_id), **_day_range(since, until)}


# --- the API (sync) -----------------------------------------------------------------------------


def _fetch(conn: psycopg.Connection[Any], sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    # An explicit row factory: the caller's connection may be configured with dict_row or another.
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def list_conversations(
    conn: psycopg.Connection[Any], user_id: uuid.UUID | str, limit: int = 20, cursor: str | None = None
) -> ConversationPage:
    """The user's conversations, newest activity first; ``cursor`` is a previous page's next_cursor.

    A user with no conversations, or an id no user has, gets an empty page.

    Raises:
        InvalidInput: ``user_id`` is not a UUID, ``limit`` is outside 1..MAX_LIMIT, or ``cursor`` is
            malformed, was tampered with, or comes from another user's list.
    """
    params, n, uid = _list_params(user_id, limit, cursor)
    return _conversation_page(_fetch(conn, _LIST.sql, params), n, uid)


def load_messages(
    conn: psycopg.Connection[Any],
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
    return _message_page(_fetch(conn, _LOAD.sql, params), n, scope, offset=2)


def conversation_view(
    conn: psycopg.Connection[Any], user_id: uuid.UUID | str, conversation_id: uuid.UUID | str
) -> ConversationView:
    """The conversation and its latest 20 messages (``VIEW_MESSAGES``).

    ``messages.next_cursor`` is the ``before`` of ``load_messages`` for the older messages.

    Raises:
        InvalidInput: an id is not a UUID.
        NotFound: the conversation does not exist or is not the user's.
    """
    params, scope = _view_params(user_id, conversation_id)
    return _view(_fetch(conn, _VIEW.sql, params), scope)


def send_message(
    conn: psycopg.Connection[Any],
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
    return _sent(_fetch(conn, _SEND.sql, _send_params(user_id, conversation_id, role, content)))


def user_daily_counts(
    conn: psycopg.Connection[Any], user_id: uuid.UUID | str, since: date, until: date
) -> tuple[UserDailyCount, ...]:
    """Per UTC day (since <= day < until), the user's messages; days without messages are absent.

    Read from the materialized view user_daily_messages: as fresh as its last refresh.

    Raises:
        InvalidInput: ``user_id`` is not a UUID, ``since`` or ``until`` is not a ``datetime.date``
            (a datetime is refused), or ``since`` is after ``until``.
    """
    rows = _fetch(conn, _USER_DAILY.sql, _user_daily_params(user_id, since, until))
    return tuple([UserDailyCount(*row) for row in rows])


def daily_totals(conn: psycopg.Connection[Any], since: date, until: date) -> tuple[DailyTotal, ...]:
    """Per UTC day (since <= day < until), messages, active users and conversations service-wide.

    Read from the materialized view daily_message_totals: as fresh as its last refresh.

    Raises:
        InvalidInput: ``since`` or ``until`` is not a ``datetime.date`` (a datetime is refused), or
            ``since`` is after ``until``.
    """
    rows = _fetch(conn, _DAILY_TOTALS.sql, _day_range(since, until))
    return tuple([DailyTotal(*row) for row in rows])

