"""The catalog's send_message: store a message and keep the conversation summary current.

Data: the SQL of every variant with its notes and plan contract (see ``chatschema.queries``).
"""

from __future__ import annotations

from ..vocabulary import PREVIEW_CHARS
from .budgets import TODAY_CONVERSATION
from .contract import Contract, IndexUse
from .query import Query, Statement

__all__ = [
    "SUMMARY",
    "TODAY",
    "OPTIMIZED",
    "OUTCOMES",
    "RACE_LOSER",
    "ROLLOUT_0003",
    "QUERIES",
]

SUMMARY = (
    "One statement: the conversation row updated by its key (ownership check and row lock), the message "
    "inserted from its RETURNING; cost independent of the conversation's length."
)

TODAY = Query(
    operation="send_message",
    variant="today",
    revision="0001",
    contract=Contract(
        page_rows=1, uses=(TODAY_CONVERSATION,), max_rows_read=4, max_buffers=100, summary=SUMMARY,
    ),
    writes=True,
    preceding=(
        Statement(
            sql="""
SELECT conversations.id,
       conversations.user_id,
       conversations.title,
       conversations.created_at,
       conversations.updated_at
FROM conversations
WHERE conversations.id = %(conversation_id)s
  AND conversations.user_id = %(user_id)s
""",
            params=("conversation_id", "user_id"),
            purpose="ownership check; no row -> 404",
        ),
        Statement(
            sql="""
INSERT INTO messages (id, conversation_id, role, content)
VALUES (%(message_id)s, %(conversation_id)s, %(role)s, %(content)s)
RETURNING messages.created_at
""",
            params=("message_id", "conversation_id", "role", "content"),
            purpose="the message; created_at = now(), the transaction's start time",
        ),
    ),
    round_trips=3,
    sql="""
UPDATE conversations
SET updated_at = now()
WHERE conversations.id = %(conversation_id)s
""",
    params=("conversation_id",),
    notes=(
        "Three round trips in one transaction. created_at is the transaction's start time, not commit order, "
        "so concurrent senders can commit an older created_at after a newer one. No summary is stored: every "
        "list recomputes it."
    ),
)

# The outcome of an idempotent send, in the statement's ``outcome`` column: ``stored`` (this call wrote
# the message), ``replayed`` (the id was stored before with the same conversation, role and content:
# nothing written), or the first field that differs (``conversation``, ``role``, ``content``). NULL:
# the id is taken by a transaction that committed after this statement's snapshot (a lost race), so
# the stored row is read by RACE_LOSER, a second statement with a new snapshot.
OUTCOMES = ("stored", "replayed", "conversation", "role", "content")

# A NULL m (not visible) must stay NULL: each comparison with it is NULL, which would fall to ELSE.
_COMPARED = """CASE WHEN m.id IS NULL THEN NULL
            WHEN m.conversation_id <> %(conversation_id)s THEN 'conversation'
            WHEN m.role <> %(role)s THEN 'role'
            WHEN m.content <> %(content)s THEN 'content'
            ELSE 'replayed' END"""

OPTIMIZED = Query(
    operation="send_message",
    variant="optimized",
    revision="head",
    contract=Contract(
        page_rows=1,
        uses=(IndexUse("conversations_pkey", "conversations", cond=("user_id", "id")),
              IndexUse("messages_pkey", "messages", cond=("user_id", "id"))),
        max_rows_read=6,
        max_buffers=100,
        summary=SUMMARY,
    ),
    writes=True,
    # Idempotent on the client's message_id, in one statement (see docs/design.md, "Idempotent send").
    # 1. conv locks the conversation row by its key with the owner in the WHERE (0 rows -> 404). Under
    #    READ COMMITTED a lock that waited returns the newest row version, so every sender of one
    #    conversation, a retry of the same id included, runs after the previous one has committed.
    # 2. msg inserts the message at the later of the statement's start and the stored newest message
    #    plus 1 us (send order that survives clocks, issue 11). ON CONFLICT DO NOTHING checks the key
    #    against every committed row, not only this statement's snapshot, and waits for an uncommitted
    #    one: a retry never stores a second row, whichever connection it races.
    # 3. summary counts the message only when msg stored it: FROM msg is empty on a conflict, so a
    #    retry changes nothing. It updates the row conv locked (READ COMMITTED follows it to the
    #    newest version and re-evaluates message_count + 1 there).
    # 4. The result is msg's row, or the stored row compared with this call's arguments. The stored
    #    row is read in this statement's snapshot: when its writer committed after that snapshot was
    #    taken (the retry raced the original), the LEFT JOIN gives NULLs and the API reads it with
    #    RACE_LOSER, a second round trip that only a lost race needs. It is a MATERIALIZED CTE, not a
    #    join in the final SELECT, for the lock order: a prepared statement locks its tables in the
    #    order of the plan's range table, where the final SELECT's tables come before every CTE's, so
    #    a messages join there took messages before conversations; now both paths (parsed and
    #    prepared) lock conversations first, the order the revisions that lock both take them in
    #    (tests/test_lock_order.py).
    # Distribution-ready (revisions 0009 on): messages.user_id is the conversation's owner, and every
    # table access names user_id so Citus routes the statement to one shard. ON CONFLICT names no
    # target: the key is (id) until 0015 and (id, user_id) from it, and the application deploys this
    # send from 0009 on (docs/design.md "Distribution-ready keys"), so a named target fits only part of
    # the range. Citus refuses STABLE functions applied to a column (timestamptz + interval), so the
    # microsecond is added in UTC wall time, where timestamp + interval and AT TIME ZONE are IMMUTABLE.
    sql=f"""
WITH conv AS (
    SELECT id, user_id, last_activity_at
      FROM conversations
     WHERE id = %(conversation_id)s
       AND user_id = %(user_id)s
       FOR UPDATE
),
msg AS (
    INSERT INTO messages (id, user_id, conversation_id, role, content, created_at)
    SELECT %(message_id)s, conv.user_id, conv.id, %(role)s, %(content)s,
           greatest(statement_timestamp(),
                    ((conv.last_activity_at AT TIME ZONE 'UTC') + interval '1 microsecond') AT TIME ZONE 'UTC')
    FROM conv
    ON CONFLICT DO NOTHING
    RETURNING id, conversation_id, role, created_at
),
summary AS (
    UPDATE conversations
       SET message_count        = message_count + 1,
           last_activity_at     = msg.created_at,
           last_message_id      = msg.id,
           last_message_preview = left(%(content)s, {PREVIEW_CHARS}),
           updated_at           = now()
      FROM msg
     WHERE conversations.id = msg.conversation_id
       AND conversations.user_id = %(user_id)s
    RETURNING conversations.id
),
stored AS MATERIALIZED (
    SELECT m.id, m.conversation_id, m.role, m.created_at,
           {_COMPARED} AS outcome
      FROM conv
      LEFT JOIN messages AS m ON m.id = %(message_id)s AND m.user_id = %(user_id)s
     WHERE NOT EXISTS (SELECT FROM msg)
)
SELECT id, conversation_id, role, created_at, 'stored' AS outcome
FROM msg
UNION ALL
SELECT id, conversation_id, role, created_at, outcome
FROM stored
""",
    params=("conversation_id", "user_id", "message_id", "role", "content"),
    notes=(
        "One statement, one round trip, atomic on its own (autocommit) or inside the caller's transaction. "
        "message_id is the client's idempotency key (the API generates one when none is given): a retry "
        "of a stored id returns the stored message and writes nothing; the same id with another "
        "conversation, role or content is refused. A retry racing its original from another connection "
        "needs a second round trip (RACE_LOSER) to read the row its snapshot could not see. Writes "
        "messages.user_id: needs revision 0009 or later (before it, ROLLOUT_0003 is the send; "
        "docs/design.md \"Distribution-ready keys\")."
    ),
)

RACE_LOSER = Statement(
    sql=f"""
SELECT m.id, m.conversation_id, m.role, m.created_at,
       {_COMPARED} AS outcome
FROM messages AS m
WHERE m.id = %(message_id)s
""",
    params=("conversation_id", "role", "content", "message_id"),
    purpose="only after a lost race: the stored message, committed after the send's snapshot",
)

ROLLOUT_0003 = Statement(
    sql="""
WITH conv AS (
    UPDATE conversations
       SET message_count        = message_count + 1,
           last_activity_at     = greatest(statement_timestamp(), last_activity_at + interval '1 microsecond'),
           last_message_id      = %(message_id)s,
           last_message_preview = left(%(content)s, 100),
           updated_at           = now()
     WHERE id = %(conversation_id)s
       AND user_id = %(user_id)s
    RETURNING id, last_activity_at
),
msg AS (
    INSERT INTO messages (id, conversation_id, role, content, created_at)
    SELECT %(message_id)s, conv.id, %(role)s, %(content)s, conv.last_activity_at
    FROM conv
    RETURNING id, conversation_id, role, created_at
)
SELECT id, conversation_id, role, created_at FROM msg
""",
    params=("message_id", "content", "conversation_id", "user_id", "role"),
    purpose="the send of revisions 0003-0014: keeps the summaries, leaves messages.user_id to 0009's trigger",
)
"""The send an application runs from revision 0003 until it deploys the head send, which may be any time
between revisions 0009 and 0014 (0015 drops the trigger that fills user_id for it). Its INSERT sits in a CTE,
not in the final statement, so that parsed or prepared it locks conversations before messages, as
the head send does (a prepared statement locks the final statement's tables first)."""

QUERIES = (TODAY, OPTIMIZED)
"""Its queries in catalog order: by operation, then today, seed_proposal, optimized."""
