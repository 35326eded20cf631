"""The catalog's list_conversations: a user's conversations, newest activity first, with count and preview.

Data: the SQL of every variant with its notes and plan contract (see ``chatschema.queries``).
"""

from __future__ import annotations

from .budgets import ACTIVITY, PAGE_ROWS, page_contract
from .query import Query

__all__ = [
    "SUMMARY",
    "TODAY",
    "SEED_PROPOSAL",
    "OPTIMIZED",
    "QUERIES",
]

SUMMARY = (
    "A page of a user's conversations, newest activity first: read through "
    "ix_conversations_user_activity with the keyset cursor in the Index Cond. A top-N sort of at most two "
    "pages (42 rows) is allowed: for a user with a few dozen conversations the planner rightly reads them "
    "all with a bitmap scan and sorts them; for more it must walk the index in order."
)

TODAY = Query(
    operation="list_conversations",
    variant="today",
    revision="0001",
    contract=page_contract(summary=SUMMARY, sort_rows=2 * PAGE_ROWS),
    # SQLAlchemy: select(Conversation..., func.count(Message.id).over(partition_by=Conversation.id), ...)
    #   .distinct().outerjoin(Message).where(Conversation.user_id == user_id).order_by(desc("last_activity_at"))
    #   .limit(limit).offset(offset)
    sql="""
SELECT DISTINCT
       conversations.id,
       conversations.title,
       conversations.created_at,
       conversations.updated_at,
       count(messages.id) OVER (PARTITION BY conversations.id) AS message_count,
       coalesce(max(messages.created_at) OVER (PARTITION BY conversations.id),
                conversations.created_at) AS last_activity_at,
       first_value(messages.content) OVER (PARTITION BY conversations.id
                                           ORDER BY messages.created_at DESC) AS last_message_content
FROM conversations
LEFT OUTER JOIN messages ON messages.conversation_id = conversations.id
WHERE conversations.user_id = %(user_id)s
ORDER BY last_activity_at DESC
LIMIT %(limit)s OFFSET %(offset)s
""",
    params=("user_id", "limit", "offset"),
    notes=(
        "Reads every message of every conversation of the user, then DISTINCT over rows that carry the full "
        "content: cost O(all the user's messages) per page. The application cuts the preview to 100 characters "
        "in Python. OFFSET pages shift when activity moves a conversation to the top, and the ORDER BY has no "
        "tie-breaker, so conversations with equal activity times may appear on two pages or on none."
    ),
)

SEED_PROPOSAL = Query(
    operation="list_conversations",
    variant="seed_proposal",
    revision="0001",
    contract=page_contract(summary=SUMMARY, sort_rows=2 * PAGE_ROWS),
    sql="""
SELECT c.*,
       COALESCE(stats.message_count, 0) AS message_count,
       stats.last_message_at,
       stats.last_message_preview
FROM conversations c
LEFT JOIN (
    SELECT conversation_id,
           COUNT(*) AS message_count,
           MAX(created_at) AS last_message_at,
           (SELECT LEFT(content, 100) FROM messages m2
            WHERE m2.conversation_id = m.conversation_id
            ORDER BY created_at DESC LIMIT 1) AS last_message_preview
    FROM messages m
    GROUP BY conversation_id
) stats ON c.id = stats.conversation_id
WHERE c.user_id = %(user_id)s
ORDER BY COALESCE(stats.last_message_at, c.created_at) DESC
LIMIT %(limit)s OFFSET %(offset)s
""",
    params=("user_id", "limit", "offset"),
    notes=(
        "The GROUP BY subquery aggregates the messages of every user (the user filter cannot be pushed into "
        "it): cost O(all messages) per page. Same OFFSET and missing tie-breaker problems as today."
    ),
)

OPTIMIZED = Query(
    operation="list_conversations",
    variant="optimized",
    revision="head",
    contract=page_contract(ACTIVITY, summary=SUMMARY, sort_rows=2 * PAGE_ROWS),
    sql="""
SELECT id,
       title,
       created_at,
       last_activity_at,
       message_count,
       last_message_id,
       last_message_preview
FROM conversations
WHERE user_id = %(user_id)s
  AND (last_activity_at, id) < (%(before_at)s::timestamptz, %(before_id)s::uuid)
ORDER BY last_activity_at DESC, id DESC
LIMIT %(limit)s
""",
    params=("user_id", "before_at", "before_id", "limit"),
    notes=(
        "Reads only conversations, through ix_conversations_user_activity: cost O(page) at any depth. "
        "limit is the page size + 1 (the extra row says has_more). First page: before_at = 'infinity', "
        "before_id = ffffffff-ffff-ffff-ffff-ffffffffffff; next pages: (last_activity_at, id) of the last row."
    ),
)

QUERIES = (TODAY, SEED_PROPOSAL, OPTIMIZED)
"""Its queries in catalog order: by operation, then today, seed_proposal, optimized."""
