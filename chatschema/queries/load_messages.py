"""The catalog's load_messages: a conversation's messages, newest first, older pages by cursor, ownership checked.

Data: the SQL of every variant with its notes and plan contract (see ``chatschema.queries``).
"""

from __future__ import annotations

from .budgets import CONVERSATION_BY_ID, RECENT_PAGE, TODAY_CONVERSATION, TODAY_MESSAGES, page_contract
from .query import Query, Statement

__all__ = [
    "SUMMARY",
    "OWNER_CHECK_TODAY",
    "TODAY",
    "SEED_PROPOSAL",
    "OPTIMIZED",
    "QUERIES",
]

SUMMARY = (
    "A page of a conversation's messages, ownership checked in the same statement: the conversation by "
    "its key, the messages from ix_messages_conversation_recent with the cursor (created_at, id) in the "
    "Index Cond; the outer ORDER BY sorts at most the page."
)

OWNER_CHECK_TODAY = Statement(
    sql="""
SELECT conversations.id
FROM conversations
WHERE conversations.id = %(conversation_id)s
  AND conversations.user_id = %(user_id)s
""",
    params=("conversation_id", "user_id"),
    purpose="ownership check; no row -> 404",
)

TODAY = Query(
    operation="load_messages",
    variant="today",
    revision="0001",
    contract=page_contract(TODAY_MESSAGES, TODAY_CONVERSATION, summary=SUMMARY),
    preceding=(OWNER_CHECK_TODAY,),
    round_trips=2,
    sql="""
SELECT messages.id,
       messages.conversation_id,
       messages.role,
       messages.content,
       messages.created_at
FROM messages
WHERE messages.conversation_id = %(conversation_id)s
ORDER BY messages.created_at DESC
LIMIT %(limit)s OFFSET %(offset)s
""",
    params=("conversation_id", "limit", "offset"),
    notes=(
        "Two round trips. The endpoint accepts a `before` timestamp but never passes it to SQL, so every "
        "request returns the latest messages; OFFSET is the only way to page, at O(offset) cost, shifting "
        "when new messages arrive. No tie-breaker on created_at."
    ),
)

SEED_PROPOSAL = Query(
    operation="load_messages",
    variant="seed_proposal",
    revision="0001",
    contract=page_contract(TODAY_MESSAGES, TODAY_CONVERSATION, summary=SUMMARY),
    sql="""
SELECT m.*, c.user_id
FROM messages m
JOIN conversations c ON m.conversation_id = c.id
WHERE m.conversation_id = %(conversation_id)s AND c.user_id = %(user_id)s
ORDER BY m.created_at DESC
LIMIT %(limit)s + 1
""",
    params=("conversation_id", "user_id", "limit"),
    notes=(
        "One round trip, but no cursor (only the newest page can be read), no tie-breaker, and an empty "
        "conversation returns 0 rows exactly like someone else's conversation, so the API cannot answer "
        "'empty page' vs 404."
    ),
)

OPTIMIZED = Query(
    operation="load_messages",
    variant="optimized",
    revision="head",
    contract=page_contract(RECENT_PAGE, CONVERSATION_BY_ID, summary=SUMMARY),
    # Driven from the conversation by primary key with the owner in the WHERE, so a foreign or missing
    # conversation gives 0 rows (404) and an empty one gives 1 row of NULLs (empty page).
    # c.message_count is useful to the caller, and it also keeps the conversation probe on
    # conversations_pkey: with only c.id selected, a generic plan may prefer an index-only scan of
    # ix_conversations_user_activity filtered on id, which reads every conversation of a heavy user.
    # The messages are selected by the bound %(conversation_id)s, not by c.id. The LIMIT keeps the
    # subquery from being merged into the outer query, so with c.id the planner estimates the rows of
    # an average conversation: for the longest one (3,375 of 12,500 messages) that chose a bitmap scan
    # and a sort of all its messages. With the value it uses that conversation's own statistics.
    # messages.user_id = the owner (revision 0009 on): on Citus it puts the subquery on the owner's
    # shard, so the whole read is one router task; on one node it is a Filter on rows the page reads anyway.
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
      AND (created_at, id) < (%(before_at)s::timestamptz, %(before_id)s::uuid)
    ORDER BY created_at DESC, id DESC
    LIMIT %(limit)s
) AS m ON true
WHERE c.id = %(conversation_id)s
  AND c.user_id = %(user_id)s
ORDER BY m.created_at DESC, m.id DESC
""",
    params=("conversation_id", "user_id", "before_at", "before_id", "limit"),
    notes=(
        "Inner side: ix_messages_conversation_recent with the cursor in the Index Cond, O(page) at any depth. "
        "The outer ORDER BY makes the order a guarantee rather than a property of the nested loop; it sorts "
        "at most limit rows. 0 rows -> 404; one row with id NULL -> no (more) messages."
    ),
)

QUERIES = (TODAY, SEED_PROPOSAL, OPTIMIZED)
"""Its queries in catalog order: by operation, then today, seed_proposal, optimized."""
