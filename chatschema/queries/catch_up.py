"""The catalog's catch_up: a conversation's messages newer than a cursor the client holds, oldest first.

What a client runs when it reconnects ("what did I miss?"). Data: the SQL of every variant with its
notes and plan contract (see ``chatschema.queries``).
"""

from __future__ import annotations

from .budgets import CONVERSATION_BY_ID, RECENT_PAGE, TODAY_CONVERSATION, TODAY_MESSAGES, page_contract
from .query import Query

__all__ = [
    "SUMMARY",
    "TODAY",
    "OPTIMIZED",
    "QUERIES",
]

SUMMARY = (
    "A page of a conversation's messages newer than the client's cursor, oldest first, ownership checked in "
    "the same statement: ix_messages_conversation_recent read backwards with the cursor (created_at, id) in "
    "the Index Cond, so a page costs O(page) however long the history behind or ahead of it."
)

# Not something the application runs today (it has no catch-up): what a first version written on
# today's schema looks like, kept to show what the optimized one must not do.
TODAY = Query(
    operation="catch_up",
    variant="today",
    revision="0001",
    contract=page_contract(TODAY_MESSAGES, TODAY_CONVERSATION, summary=SUMMARY),
    sql="""
SELECT messages.id,
       messages.conversation_id,
       messages.role,
       messages.content,
       messages.created_at
FROM messages
JOIN conversations ON conversations.id = messages.conversation_id
WHERE messages.conversation_id = %(conversation_id)s
  AND conversations.user_id = %(user_id)s
  AND messages.created_at > %(after_at)s
ORDER BY messages.created_at
LIMIT %(limit)s
""",
    params=("conversation_id", "user_id", "after_at", "limit"),
    notes=(
        "A first version on today's schema: the cursor is a timestamp alone, so a page that ends inside a group "
        "of messages sharing a created_at skips the rest of the group for good; the index on conversation_id "
        "alone makes it read and sort every newer message of the conversation for each page; and an empty result "
        "cannot tell 'nothing new' from someone else's conversation."
    ),
)

OPTIMIZED = Query(
    operation="catch_up",
    variant="optimized",
    revision="head",
    contract=page_contract(RECENT_PAGE, CONVERSATION_BY_ID, summary=SUMMARY),
    # The mirror of load_messages: the same (created_at, id) keyset, the other direction. The send
    # statement stores created_at in commit order per conversation (the row lock), so every message a
    # client has not seen sorts after the newest one it has: "newer than the cursor" misses none.
    # The messages are selected by the bound %(conversation_id)s, not c.id, for that conversation's own
    # statistics (see load_messages).
    sql="""
SELECT c.id AS conversation_id,
       c.message_count,
       m.id,
       m.role,
       m.content,
       m.created_at
FROM conversations AS c
LEFT JOIN LATERAL (
    SELECT id, role, content, created_at
    FROM messages
    WHERE conversation_id = %(conversation_id)s
      AND user_id = %(user_id)s
      AND (created_at, id) > (%(after_at)s::timestamptz, %(after_id)s::uuid)
    ORDER BY created_at, id
    LIMIT %(limit)s
) AS m ON true
WHERE c.id = %(conversation_id)s
  AND c.user_id = %(user_id)s
ORDER BY m.created_at, m.id
""",
    params=("conversation_id", "user_id", "after_at", "after_id", "limit"),
    notes=(
        "Inner side: ix_messages_conversation_recent scanned backwards with the cursor in the Index Cond, O(page) "
        "at any depth. From the start: after_at = '-infinity', after_id = 00000000-0000-0000-0000-000000000000. "
        "0 rows -> 404; one row with id NULL -> nothing newer."
    ),
)

QUERIES = (TODAY, OPTIMIZED)
"""Its queries in catalog order: by operation, then today, seed_proposal, optimized."""
