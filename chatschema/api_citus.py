"""The data-access API on a Citus coordinator: the idempotent send as one delegated call, one task.

Citus cannot router-plan an INSERT in a CTE (docs/design.md, "Idempotent send on Citus"), so the
catalog's one-statement send runs there as four distributed steps. Citus's answer for a few
statements that belong together is function call delegation: ``chatschema distribute`` creates
``chatschema_send_message`` (PL/pgSQL, chatschema's own) and distributes it by ``p_user_id``,
co-located with conversations, so ``SELECT chatschema_send_message(...)`` on the coordinator is sent
whole to the worker holding the owner's shards and its four statements run there, each a router
statement on local shards: the conversation row locked by its key with the owner; the message
inserted ``ON CONFLICT DO NOTHING`` at the later of the statement's start and the newest message plus
1 us; the summary counted only when stored; else the stored row compared. It returns json (a
delegated call must be ``SELECT f(...)`` in the target list, where a composite would come back as
text). Each statement of a PL/pgSQL function takes a new snapshot, so a retry that lost the race to
its original reads the committed row without a second round trip.

``send_message`` validates like ``api.send_message`` and returns the same ``SentMessage``; the reads
are router queries as they are, so ``api``'s functions serve them on Citus unchanged.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import psycopg

from ._api_common import SentMessage
from ._api_resume import _sent, _SendRow
from ._api_resume import send_message as _validated
from .vocabulary import PREVIEW_CHARS

__all__ = ["FUNCTION", "CREATE_FUNCTION", "DISTRIBUTE_FUNCTION", "CALL", "send_message"]

FUNCTION = "chatschema_send_message(uuid, uuid, uuid, text, text)"

CREATE_FUNCTION = f"""
CREATE OR REPLACE FUNCTION chatschema_send_message(p_user_id uuid, p_conversation_id uuid, p_message_id uuid,
                                                   p_role text, p_content text)
RETURNS json LANGUAGE plpgsql AS $fn$
DECLARE
    last_at timestamptz;
    stored_at timestamptz;
    found_row json;
BEGIN
    SELECT c.last_activity_at INTO last_at FROM conversations c
     WHERE c.id = p_conversation_id AND c.user_id = p_user_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;  -- no such conversation of this user: the API's 404
    END IF;
    INSERT INTO messages AS m (id, user_id, conversation_id, role, content, created_at)
    VALUES (p_message_id, p_user_id, p_conversation_id, p_role, p_content,
            greatest(statement_timestamp(), ((last_at AT TIME ZONE 'UTC') + interval '1 microsecond') AT TIME ZONE 'UTC'))
    ON CONFLICT DO NOTHING
    RETURNING m.created_at INTO stored_at;
    IF FOUND THEN
        UPDATE conversations c
           SET message_count = c.message_count + 1, last_activity_at = stored_at, last_message_id = p_message_id,
               last_message_preview = left(p_content, {PREVIEW_CHARS}), updated_at = now()
         WHERE c.id = p_conversation_id AND c.user_id = p_user_id;
        RETURN json_build_object('id', p_message_id, 'conversation_id', p_conversation_id, 'role', p_role,
                                 'created_at', stored_at, 'outcome', 'stored');
    END IF;
    SELECT json_build_object('id', m.id, 'conversation_id', m.conversation_id, 'role', m.role,
                             'created_at', m.created_at,
                             'outcome', CASE WHEN m.conversation_id <> p_conversation_id THEN 'conversation'
                                             WHEN m.role <> p_role THEN 'role'
                                             WHEN m.content <> p_content THEN 'content'
                                             ELSE 'replayed' END)
      INTO found_row
      FROM messages m WHERE m.id = p_message_id AND m.user_id = p_user_id;
    -- NULL outcome: the conflicting row was deleted between the INSERT and this read
    RETURN coalesce(found_row, json_build_object('id', p_message_id, 'conversation_id', NULL, 'role', NULL,
                                                 'created_at', NULL, 'outcome', NULL));
END
$fn$"""

DISTRIBUTE_FUNCTION = (f"SELECT create_distributed_function('{FUNCTION}', 'p_user_id', "
                       f"colocate_with => 'conversations')")

CALL = ("SELECT chatschema_send_message(%(user_id)s, %(conversation_id)s, %(message_id)s, %(role)s, "
        "%(content)s)")


def _row(found: dict[str, Any] | None) -> list[_SendRow]:
    if found is None:
        return []
    created = found["created_at"]
    return [_SendRow(uuid.UUID(found["id"]),
                     uuid.UUID(found["conversation_id"]) if found["conversation_id"] else None,
                     found["role"], datetime.fromisoformat(created) if created else None, found["outcome"])]


def send_message(conn: psycopg.Connection[Any], user_id: uuid.UUID | str, conversation_id: uuid.UUID | str,
                 role: str, content: str, message_id: uuid.UUID | str | None = None) -> SentMessage:
    """``api.send_message`` on a Citus coordinator where ``distribute`` created the delegated send:
    the same checks, result and errors, one round trip and one task on the owner's worker."""
    params = _validated(user_id, conversation_id, role, content, message_id).params
    found = conn.execute(CALL, params).fetchone()
    return _sent(_row(found[0] if found else None))
