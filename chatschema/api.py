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
  While messages arrive, what a walk returns depends on the list. ``load_messages`` walking older
  pages returns every message the conversation had when the walk began exactly once, in order: a
  message's ``(created_at, id)`` never changes and a new message sorts above every existing one, so
  it lands on a page newer than the walk, never inside it. ``list_conversations`` walks by
  ``(last_activity_at, id)``, which every send moves: a conversation that gets a message during the
  walk moves to the top; if the walk had not reached it yet, the rest of the walk skips it, and it
  reappears at the top of the next fresh walk (from the first page). No conversation is returned
  twice, and every conversation without a new message is returned once.
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
    ConversationSummary,
    ConversationView,
    DailyTotal,
    MessageItem,
    MessagePage,
    SentMessage,
    UserDailyCount,
    doc_from,
)

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
    "CatchUpPage",
    "ChangesPage",
    "UserDailyCount",
    "DailyTotal",
    "list_conversations",
    "load_messages",
    "conversation_view",
    "send_message",
    "catch_up",
    "changed_conversations",
    "user_daily_counts",
    "daily_totals",
]

MAX_LIMIT = shared.MAX_LIMIT
"""Largest page a caller may ask for."""
MAX_CONTENT_CHARS = shared.MAX_CONTENT_CHARS
"""Longest message content accepted, in characters (about 100 kB of English, 400 kB at most in UTF-8)."""
VIEW_MESSAGES = shared.VIEW_MESSAGES
"""Messages returned by conversation_view."""
NOT_FOUND = shared.NOT_FOUND
"""The message of every NotFound the API raises."""

Result = TypeVar("Result")


def _run(conn: psycopg.Connection[Any], call: Call[Any, Result]) -> Result:
    # An explicit row factory: the caller's connection may be configured with dict_row or another.
    with conn.cursor(row_factory=call.rows) as cur:
        cur.execute(call.sql, call.params)
        rows = cur.fetchall()
    after = call.then(rows) if call.then else None
    return call.build(rows) if after is None else _run(conn, after)


# Each function: its signature, and the shared call run on this module's connection type.


@doc_from(shared.list_conversations)
def list_conversations(
    conn: psycopg.Connection[Any], user_id: uuid.UUID | str, limit: int = 20, cursor: str | None = None
) -> ConversationPage:
    return _run(conn, shared.list_conversations(user_id, limit, cursor))


@doc_from(shared.load_messages)
def load_messages(
    conn: psycopg.Connection[Any],
    user_id: uuid.UUID | str,
    conversation_id: uuid.UUID | str,
    limit: int = 50,
    before: str | None = None,
) -> MessagePage:
    return _run(conn, shared.load_messages(user_id, conversation_id, limit, before))


@doc_from(shared.conversation_view)
def conversation_view(
    conn: psycopg.Connection[Any], user_id: uuid.UUID | str, conversation_id: uuid.UUID | str
) -> ConversationView:
    return _run(conn, shared.conversation_view(user_id, conversation_id))


@doc_from(resume.send_message)
def send_message(
    conn: psycopg.Connection[Any],
    user_id: uuid.UUID | str,
    conversation_id: uuid.UUID | str,
    role: str,
    content: str,
    message_id: uuid.UUID | str | None = None,
) -> SentMessage:
    return _run(conn, resume.send_message(user_id, conversation_id, role, content, message_id))


@doc_from(resume.catch_up)
def catch_up(
    conn: psycopg.Connection[Any],
    user_id: uuid.UUID | str,
    conversation_id: uuid.UUID | str,
    after: str | None = None,
    limit: int = 50,
) -> CatchUpPage:
    return _run(conn, resume.catch_up(user_id, conversation_id, after, limit))


@doc_from(resume.changed_conversations)
def changed_conversations(
    conn: psycopg.Connection[Any], user_id: uuid.UUID | str, since: datetime | str, limit: int = 50
) -> ChangesPage:
    return _run(conn, resume.changed_conversations(user_id, since, limit))


@doc_from(shared.user_daily_counts)
def user_daily_counts(
    conn: psycopg.Connection[Any], user_id: uuid.UUID | str, since: date, until: date
) -> tuple[UserDailyCount, ...]:
    return _run(conn, shared.user_daily_counts(user_id, since, until))


@doc_from(shared.daily_totals)
def daily_totals(conn: psycopg.Connection[Any], since: date, until: date) -> tuple[DailyTotal, ...]:
    return _run(conn, shared.daily_totals(since, until))
