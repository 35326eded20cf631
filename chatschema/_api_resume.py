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
from ._api_common import Call, SentMessage, not_found
from ._api_input import check_content, check_role, check_uuid
from .errors import MessageIdConflict

__all__ = ["send_message"]

_SEND_SQL = catalog.get("send_message").sql
_RACE_LOSER_SQL = catalog.send_message.RACE_LOSER.sql


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
