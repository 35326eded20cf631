"""The calls of a client that comes back: a send retried with its id, a conversation's catch-up, the sidebar's changes.

Private to ``api`` and ``api_async``, built like the calls of ``_api_common`` (which holds ``Call``,
the results and ``doc_from``): each function validates its arguments and returns the ``Call``; its
docstring is the public function's.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from psycopg.rows import class_row

from . import queries as catalog
from ._api_common import Call, ConversationSummary, MessageItem, SentMessage, not_found
from ._api_input import (
    CATCH_UP_CURSOR,
    CHANGES_CURSOR,
    check_content,
    check_limit,
    check_role,
    check_since,
    check_uuid,
    decode_after,
    encode_cursor,
)
from .errors import MessageIdConflict

__all__ = ["CatchUpPage", "ChangesPage", "send_message", "catch_up", "changed_conversations"]

_SEND_SQL = catalog.get("send_message").sql
_RACE_LOSER_SQL = catalog.send_message.RACE_LOSER.sql
_CATCH_UP_SQL = catalog.get("catch_up").sql
_CHANGES_SQL = catalog.get("changed_conversations").sql


@dataclass(frozen=True, slots=True)
class CatchUpPage:
    """Messages newer than the cursor, oldest first; ``next_cursor`` is the next call's ``after``.

    ``next_cursor`` is the position of the last message returned, or the ``after`` given when nothing
    is newer: keep it and call again later. ``has_more``: more messages are already waiting.
    """

    conversation_id: uuid.UUID
    message_count: int
    items: tuple[MessageItem, ...]
    has_more: bool
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class ChangesPage:
    """Conversations whose activity is after the cursor, oldest change first; ``next_cursor`` continues.

    ``next_cursor`` is the position of the last conversation returned, or of ``since`` when nothing
    changed: keep it for the next refresh. ``has_more``: more changed conversations are waiting.
    """

    items: tuple[ConversationSummary, ...]
    has_more: bool
    next_cursor: str


@dataclass(frozen=True, slots=True)
class _CatchUpRow:
    """A row of catch_up: the conversation, and one message or, when nothing is newer, NULLs."""

    conversation_id: uuid.UUID
    message_count: int
    id: uuid.UUID | None
    role: str | None
    content: str | None
    created_at: datetime | None


_CATCH_UP_ROWS = class_row(_CatchUpRow)
_SUMMARY_ROWS = class_row(ConversationSummary)


@dataclass(frozen=True, slots=True)
class _SendRow:
    """A row of send_message: the message, and what the send did (``catalog.send_message.OUTCOMES``);
    the message columns and the outcome are NULL after a lost race (the stored row was not visible)."""

    id: uuid.UUID | None
    conversation_id: uuid.UUID | None
    role: str | None
    created_at: datetime | None
    outcome: str | None


_SENT_ROWS = class_row(_SendRow)


def _sent(rows: list[_SendRow]) -> SentMessage:
    if not rows:
        raise not_found()
    row = rows[0]
    if row.outcome not in ("stored", "replayed"):
        # A lost race read again finds the row (its writer committed before ON CONFLICT returned);
        # None here would mean it was deleted in between.
        differs = "in another conversation" if row.outcome == "conversation" else f"with a different {row.outcome}"
        if row.outcome is None:
            differs = "by a transaction that has since removed it"
        raise MessageIdConflict(
            f"message_id {row.id} is already stored {differs}; a retry must repeat the original conversation, "
            f"role and content, and a new message needs a new id"
        )
    return SentMessage(id=row.id, conversation_id=row.conversation_id, role=row.role,  # type: ignore[arg-type]
                       created_at=row.created_at, replayed=row.outcome == "replayed")  # type: ignore[arg-type]


def _lost_race(rows: list[_SendRow], params: dict[str, Any]) -> Call[_SendRow, SentMessage] | None:
    # The conversation was found (one row) but neither stored nor saw the message: its id was taken by
    # a transaction that committed after this statement's snapshot. A new statement sees it.
    if rows and rows[0].outcome is None:
        return Call(_RACE_LOSER_SQL, catalog.send_message.RACE_LOSER.bind(params), _SENT_ROWS, _sent_after_race)
    return None


def _sent_after_race(rows: list[_SendRow]) -> SentMessage:
    if not rows:  # deleted between the two statements
        return _sent([_SendRow(None, None, None, None, None)])
    return _sent(rows)


def send_message(
    user_id: object, conversation_id: object, role: object, content: object, message_id: object
) -> Call[_SendRow, SentMessage]:
    """Store a message and update the conversation's summary in one statement; idempotent on ``message_id``.

    ``message_id`` is the client's idempotency key (a UUID it generated); None generates one here. A
    retry with a stored id returns the stored message (``replayed=True``) and writes nothing: no second
    row, the summary counted once, ``created_at`` unchanged, also when the retry races the original
    from another connection (then a second statement reads the stored row). ``created_at`` is the
    server's clock once the conversation row is locked, so a conversation's messages are ordered as
    they were committed.

    Raises:
        InvalidInput: an id is not a UUID, ``role`` is not system, user, assistant or tool, or
            ``content`` is empty, over MAX_CONTENT_CHARS characters, or holds a NUL or a lone
            surrogate; nothing is written.
        NotFound: the conversation does not exist or is not the user's; nothing is written.
        MessageIdConflict: ``message_id`` is stored with another conversation, role or content;
            nothing is written.
    """
    uid = check_uuid("user_id", user_id)
    cid = check_uuid("conversation_id", conversation_id)
    mid = uuid.uuid4() if message_id is None else check_uuid("message_id", message_id)
    params = {"message_id": mid, "content": check_content(content), "conversation_id": cid, "user_id": uid,
              "role": check_role(role)}
    return Call(_SEND_SQL, params, _SENT_ROWS, _sent, partial(_lost_race, params=params))


def _caught_up(rows: list[_CatchUpRow], n: int, after: str | None, scope: tuple[uuid.UUID, uuid.UUID]) -> CatchUpPage:
    if not rows:
        raise not_found()
    first = rows[0]
    items = () if first.id is None else tuple(
        MessageItem(id=r.id, role=r.role, content=r.content, created_at=r.created_at)  # type: ignore[arg-type]
        for r in rows[:n]
    )
    cursor = encode_cursor(CATCH_UP_CURSOR, items[-1].created_at, items[-1].id, scope) if items else after
    return CatchUpPage(conversation_id=first.conversation_id, message_count=first.message_count, items=items,
                       has_more=len(rows) > n, next_cursor=cursor)


def catch_up(
    user_id: object, conversation_id: object, after: object, limit: object
) -> Call[_CatchUpRow, CatchUpPage]:
    """A conversation's messages newer than ``after``, oldest first, a page at a time (a client reconnecting).

    ``after`` is a ``next_cursor`` of catch_up or the ``newest_cursor`` of a load_messages or
    conversation_view page; None starts from the conversation's first message. The order and the ties
    are load_messages' ``(created_at, id)``: walking catch-up pages returns each message once, also
    while messages arrive, and costs O(page) at any depth.

    Raises:
        InvalidInput: an id is not a UUID, ``limit`` is outside 1..MAX_LIMIT, or ``after`` is
            malformed, was tampered with, or comes from another conversation.
        NotFound: the conversation does not exist or is not the user's.
    """
    uid = check_uuid("user_id", user_id)
    cid = check_uuid("conversation_id", conversation_id)
    n = check_limit(limit)
    scope = (uid, cid)
    position: dict[str, Any] = ({"after_at": catalog.START_AT, "after_id": catalog.START_ID} if after is None
                                else decode_after("after", after, CATCH_UP_CURSOR, scope))
    params = {"conversation_id": cid, **position, "limit": n + 1, "user_id": uid}
    return Call(_CATCH_UP_SQL, params, _CATCH_UP_ROWS, partial(_caught_up, n=n, after=after, scope=scope))


def _changes(rows: list[ConversationSummary], n: int, start: str, uid: uuid.UUID) -> ChangesPage:
    items = tuple(rows[:n])
    cursor = encode_cursor(CHANGES_CURSOR, items[-1].last_activity_at, items[-1].id, (uid,)) if items else start
    return ChangesPage(items=items, has_more=len(rows) > n, next_cursor=cursor)


def changed_conversations(user_id: object, since: object, limit: object) -> Call[ConversationSummary, ChangesPage]:
    """The user's conversations with activity after ``since``, oldest change first (a sidebar refresh).

    ``since`` is a timezone-aware datetime (the first refresh) or a ``next_cursor`` of this call. The cost
    is O(changed conversations), not O(all of them). A conversation's activity is the time its newest
    message was stored, which is when that send statement started: a send still committing when the
    previous refresh read has a time before that refresh, so pass a ``since`` a few seconds earlier than
    the last refresh's wall-clock time (or keep the ``next_cursor``, and refresh the top of the list as
    well). Deleted conversations are not reported.

    Raises:
        InvalidInput: ``user_id`` is not a UUID, ``limit`` is outside 1..MAX_LIMIT, ``since`` is a naive
            datetime or neither a datetime nor a str, or a cursor is malformed, tampered with or another
            user's.
    """
    uid = check_uuid("user_id", user_id)
    n = check_limit(limit)
    if isinstance(since, str):
        position = decode_after("since", since, CHANGES_CURSOR, (uid,))
        start = since
    else:
        at = check_since(since)
        # Text, as a decoded cursor gives: one parameter type for every call keeps one prepared statement.
        position = {"after_at": at.isoformat(), "after_id": catalog.FIRST_PAGE_ID}
        start = encode_cursor(CHANGES_CURSOR, at, catalog.FIRST_PAGE_ID, (uid,))
    params = {"user_id": uid, **position, "limit": n + 1}
    return Call(_CHANGES_SQL, params, _SUMMARY_ROWS, partial(_changes, n=n, start=start, uid=uid))
