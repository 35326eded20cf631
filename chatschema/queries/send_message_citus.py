"""The catalog's send_message on Citus: the idempotent send as one delegated function call, one task.

Citus cannot router-plan an INSERT in a CTE (docs/design.md, "Idempotent send on Citus"), so the
optimized one-statement send runs there as four distributed steps. Citus's answer for a few
statements that belong together is function call delegation: ``chatschema distribute`` creates
``chatschema_send_message`` (PL/pgSQL, chatschema's own) from the statements below and distributes
it by ``p_user_id``, co-located with conversations, so the call on the coordinator is sent whole to
the worker holding the owner's shards, where each statement is a router statement on local shards.

The function's body is built from the same ``Statement`` values the validator plans (``%(name)s``
becomes the PL/pgSQL variable ``p_name``), so the plans verified are the statements it runs.
``force_delegation``: without it Citus delegates only outside a transaction block, and the API's
send runs inside the caller's transaction as often as on its own.

Data: the SQL with its notes and plan contract (see ``chatschema.queries``).
"""

from __future__ import annotations

import dataclasses

from .query import PARAM, Query, Statement
from .send_message import _COMPARED, OPTIMIZED
from ..vocabulary import PREVIEW_CHARS

__all__ = ["LOCK", "INSERT", "COUNT", "STORED", "CITUS", "FUNCTION", "CREATE_FUNCTION", "DISTRIBUTE_FUNCTION",
           "QUERIES"]

FUNCTION = "chatschema_send_message(uuid, uuid, uuid, text, text)"

LOCK = Statement(
    sql="""
SELECT c.last_activity_at
  FROM conversations AS c
 WHERE c.id = %(conversation_id)s
   AND c.user_id = %(user_id)s
   FOR UPDATE
""",
    params=("conversation_id", "user_id"),
    purpose="delegated 1: the conversation row locked by its key with the owner (no row: 404)",
)

# The later of the statement's start and the newest message plus 1 us (send order that survives
# clocks, issue 11), added in UTC wall time where Citus accepts it (see send_message.OPTIMIZED).
INSERT = Statement(
    sql="""
INSERT INTO messages AS m (user_id, id, conversation_id, role, content, created_at)
VALUES (%(user_id)s, %(message_id)s, %(conversation_id)s, %(role)s, %(content)s,
        greatest(statement_timestamp(),
                 ((%(last_at)s::timestamptz AT TIME ZONE 'UTC') + interval '1 microsecond') AT TIME ZONE 'UTC'))
ON CONFLICT DO NOTHING
RETURNING m.created_at
""",
    params=("user_id", "message_id", "conversation_id", "role", "content", "last_at"),
    purpose="delegated 2: the message, unless its id is stored (ON CONFLICT checks every committed row)",
)

COUNT = Statement(
    sql=f"""
UPDATE conversations AS c
   SET message_count        = c.message_count + 1,
       last_activity_at     = %(stored_at)s::timestamptz,
       last_message_id      = %(message_id)s,
       last_message_preview = left(%(content)s, {PREVIEW_CHARS}),
       updated_at           = now()
 WHERE c.id = %(conversation_id)s
   AND c.user_id = %(user_id)s
""",
    params=("stored_at", "message_id", "content", "conversation_id", "user_id"),
    purpose="delegated 3: the summary, only when statement 2 stored the message",
)

# Each statement of a PL/pgSQL function takes a new snapshot, so a retry that lost the race to its
# original reads the committed row here, in the same call: no RACE_LOSER round trip.
STORED = Statement(
    sql=f"""
SELECT m.id, m.conversation_id, m.role, m.created_at,
       {_COMPARED} AS outcome
  FROM messages AS m
 WHERE m.id = %(message_id)s
   AND m.user_id = %(user_id)s
""",
    params=("conversation_id", "role", "content", "message_id", "user_id"),
    purpose="delegated 4: when the id was stored before, that row compared with this call's arguments",
)


def _plpgsql(statement: Statement, into: str | None = None) -> str:
    body = PARAM.sub(lambda m: f"p_{m.group(1)}", statement.sql.strip())
    return f"{body}\n  INTO {into}" if into else body


def _indented(text: str, spaces: int) -> str:
    return "\n".join(" " * spaces + line for line in text.splitlines())


# Returns json: a delegated call must be ``SELECT f(...)`` in the target list, where a composite would
# come back as text. A NULL outcome: the conflicting row was deleted between statements 2 and 4.
CREATE_FUNCTION = f"""
CREATE OR REPLACE FUNCTION chatschema_send_message(p_user_id uuid, p_conversation_id uuid, p_message_id uuid,
                                                   p_role text, p_content text)
RETURNS json LANGUAGE plpgsql AS $fn$
DECLARE
    p_last_at timestamptz;
    p_stored_at timestamptz;
    found_row record;
BEGIN
{_indented(_plpgsql(LOCK, "p_last_at"), 4)};
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
{_indented(_plpgsql(INSERT, "p_stored_at"), 4)};
    IF FOUND THEN
{_indented(_plpgsql(COUNT), 8)};
        RETURN json_build_object('id', p_message_id, 'conversation_id', p_conversation_id, 'role', p_role,
                                 'created_at', p_stored_at, 'outcome', 'stored');
    END IF;
{_indented(_plpgsql(STORED, "found_row"), 4)};
    IF NOT FOUND THEN
        RETURN json_build_object('id', p_message_id, 'conversation_id', NULL, 'role', NULL, 'created_at', NULL,
                                 'outcome', NULL);
    END IF;
    RETURN json_build_object('id', found_row.id, 'conversation_id', found_row.conversation_id,
                             'role', found_row.role, 'created_at', found_row.created_at,
                             'outcome', found_row.outcome);
END
$fn$"""

DISTRIBUTE_FUNCTION = (f"SELECT create_distributed_function('{FUNCTION}', 'p_user_id', "
                       f"colocate_with => 'conversations', force_delegation => true)")

CITUS = Query(
    operation="send_message",
    variant="citus",
    revision="head",
    contract=dataclasses.replace(OPTIMIZED.contract, delegated=True),
    writes=True,
    sql="""
SELECT chatschema_send_message(%(user_id)s, %(conversation_id)s, %(message_id)s, %(role)s, %(content)s)
""",
    params=("user_id", "conversation_id", "message_id", "role", "content"),
    delegated=(LOCK, INSERT, COUNT, STORED),
    notes=(
        "One round trip and one Citus task: the call is delegated to the worker of the owner's shards "
        "(force_delegation: inside the caller's transaction too), where the four statements run on local "
        "shards. The same guarantees as send_message.optimized: idempotent on message_id, a lost race "
        "read in the same call. Needs `chatschema distribute` (it creates and delegates the function); "
        "the API on Citus is chatschema.api_citus."
    ),
)

QUERIES = (CITUS,)
"""Its queries in catalog order."""
