"""The catalog's export_messages: a conversation's whole history, oldest first, for a streaming export.

``chatschema.export`` runs it through a server-side cursor, a batch at a time, in one REPEATABLE READ
READ ONLY transaction. Data: the SQL of every variant with its notes and plan contract (see
``chatschema.queries``).
"""

from __future__ import annotations

from .budgets import RECENT_FIRST, TODAY_MESSAGES
from .contract import Contract
from .query import Query

__all__ = [
    "SUMMARY",
    "TODAY",
    "OPTIMIZED",
    "QUERIES",
]

SUMMARY = (
    "Every message of one conversation in (created_at, id) order, read from ix_messages_conversation_recent "
    "backwards: rows come out in order as they are fetched, so a cursor's first batch costs a batch and no "
    "Sort ever holds the conversation. Its cost is the conversation's length by nature (no growth check)."
)


def _contract(*uses: object) -> Contract:
    return Contract(page_rows=1, uses=uses, max_sort_rows=0, o_page=False, summary=SUMMARY)  # type: ignore[arg-type]


# The application has no export: this is the ORM's obvious version on today's schema
# (session.query(Message).filter_by(conversation_id=...).order_by(Message.created_at).all()).
TODAY = Query(
    operation="export_messages",
    variant="today",
    revision="0001",
    contract=_contract(TODAY_MESSAGES),
    sql="""
SELECT messages.id,
       messages.conversation_id,
       messages.role,
       messages.content,
       messages.created_at
FROM messages
WHERE messages.conversation_id = %(conversation_id)s
ORDER BY messages.created_at
""",
    params=("conversation_id",),
    notes=(
        "Fetched with .all(): the whole history in the client's memory before the first row is written. On today's "
        "index (conversation_id alone) the server sorts the whole conversation first; no tie-breaker, so two "
        "exports may order equal times differently; no ownership check."
    ),
)

OPTIMIZED = Query(
    operation="export_messages",
    variant="optimized",
    revision="head",
    contract=_contract(RECENT_FIRST),
    # The owner check is an uncorrelated EXISTS: a one-time filter evaluated before the scan, so the
    # messages are the plan's only scan and their index order is the output order (a join with the
    # conversation row would hide that order from the planner and add a Sort).
    sql="""
SELECT id,
       conversation_id,
       role,
       content,
       created_at
FROM messages
WHERE conversation_id = %(conversation_id)s
  AND user_id = %(user_id)s
  AND EXISTS (SELECT FROM conversations WHERE id = %(conversation_id)s AND user_id = %(user_id)s)
ORDER BY created_at, id
""",
    params=("conversation_id", "user_id"),
    cursor=True,
    notes=(
        "Run through a server-side cursor (DECLARE ... CURSOR; FETCH FORWARD n), so the client holds one batch. "
        "The order is load_messages' (created_at, id), oldest first."
    ),
)

QUERIES = (TODAY, OPTIMIZED)
"""Its queries in catalog order: by operation, then today, seed_proposal, optimized."""
