"""The catalog's conversation_view: the conversation and its latest 20 messages.

Data: the SQL of every variant with its notes and plan contract (see ``chatschema.queries``).
"""

from __future__ import annotations

from .budgets import CONVERSATION_BY_ID, RECENT_FIRST, TODAY_CONVERSATION, TODAY_MESSAGES, page_contract
from .query import Query, Statement

__all__ = [
    "SUMMARY",
    "CONVERSATION_TODAY",
    "TODAY",
    "SEED_PROPOSAL",
    "OPTIMIZED",
    "QUERIES",
]

SUMMARY = (
    "The conversation and its newest 21 messages in one statement: the conversation by its key, the "
    "messages from ix_messages_conversation_recent; the outer ORDER BY sorts at most 21 rows."
)

CONVERSATION_TODAY = Statement(
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
    purpose="the conversation, ownership checked; no row -> 404",
)

TODAY = Query(
    operation="conversation_view",
    variant="today",
    revision="0001",
    contract=page_contract(TODAY_MESSAGES, TODAY_CONVERSATION, summary=SUMMARY),
    preceding=(CONVERSATION_TODAY,),
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
LIMIT %(limit)s
""",
    params=("conversation_id", "limit"),
    notes="Two round trips (conversation, then messages); limit = 20; no tie-breaker on created_at.",
)

SEED_PROPOSAL = Query(
    operation="conversation_view",
    variant="seed_proposal",
    revision="0001",
    contract=page_contract(TODAY_MESSAGES, TODAY_CONVERSATION, summary=SUMMARY),
    # select(Conversation, Message).outerjoin(Message, ...).where(and_(...))
    #   .order_by(desc(Message.created_at)).limit(20), as SQLAlchemy renders it
    sql="""
SELECT conversations.id,
       conversations.user_id,
       conversations.title,
       conversations.created_at,
       conversations.updated_at,
       messages.id AS id_1,
       messages.conversation_id,
       messages.role,
       messages.content,
       messages.created_at AS created_at_1
FROM conversations
LEFT OUTER JOIN messages ON messages.conversation_id = conversations.id
WHERE conversations.id = %(conversation_id)s
  AND conversations.user_id = %(user_id)s
ORDER BY messages.created_at DESC
LIMIT %(limit)s
""",
    params=("conversation_id", "user_id", "limit"),
    notes=(
        "One round trip and correct 404 vs empty (the outer join keeps one row). limit = 20, and the "
        "proposal's has_more is `len(messages) == 20`: true for a conversation of exactly 20 messages. "
        "No tie-breaker on created_at."
    ),
)

OPTIMIZED = Query(
    operation="conversation_view",
    variant="optimized",
    revision="head",
    contract=page_contract(RECENT_FIRST, CONVERSATION_BY_ID, summary=SUMMARY),
    # The messages by the bound %(conversation_id)s rather than c.id, as in load_messages.optimized.
    # messages.user_id = the owner (revision 0009 on): on Citus it puts the subquery on the owner's
    # shard, so the whole read is one router task; on one node it is a Filter on rows the page reads anyway.
    sql="""
SELECT c.id,
       c.title,
       c.created_at,
       c.last_activity_at,
       c.message_count,
       m.id AS message_id,
       m.role,
       m.content,
       m.created_at AS message_created_at
FROM conversations AS c
LEFT JOIN LATERAL (
    SELECT id, role, content, created_at
    FROM messages
    WHERE conversation_id = %(conversation_id)s
      AND user_id = %(user_id)s
    ORDER BY created_at DESC, id DESC
    LIMIT %(limit)s
) AS m ON true
WHERE c.id = %(conversation_id)s
  AND c.user_id = %(user_id)s
ORDER BY m.created_at DESC, m.id DESC
""",
    params=("conversation_id", "user_id", "limit"),
    notes=(
        "One round trip: primary-key probe with the owner check, then the newest limit messages from "
        "ix_messages_conversation_recent. limit = 21 (20 + 1 for has_more); the next page is load_messages "
        "with the cursor of the 20th message."
    ),
)

QUERIES = (TODAY, SEED_PROPOSAL, OPTIMIZED)
"""Its queries in catalog order: by operation, then today, seed_proposal, optimized."""
