"""The catalog's changed_conversations: a user's conversations with activity after a point, oldest change first.

What a client's sidebar runs to refresh ("which conversations moved since I last looked?"). Data:
the SQL of every variant with its notes and plan contract (see ``chatschema.queries``).
"""

from __future__ import annotations

from .budgets import ACTIVITY, PAGE_ROWS, TODAY_MESSAGES, TODAY_USER, page_contract
from .query import Query

__all__ = [
    "SUMMARY",
    "TODAY",
    "OPTIMIZED",
    "QUERIES",
]

SUMMARY = (
    "A page of a user's conversations whose activity is after the cursor, oldest change first: "
    "ix_conversations_user_activity read backwards with (last_activity_at, id) in the Index Cond, so the "
    "cost is O(changed), not O(the user's conversations). A top-N sort of at most two pages is allowed (a user "
    "with a few dozen conversations is read with a bitmap scan)."
)

# The application has no such refresh today: this is what it would run on today's schema, where
# activity is not stored and must be recomputed from the messages.
TODAY = Query(
    operation="changed_conversations",
    variant="today",
    revision="0001",
    contract=page_contract(TODAY_USER, TODAY_MESSAGES, summary=SUMMARY, sort_rows=2 * PAGE_ROWS),
    sql="""
SELECT conversations.id,
       conversations.title,
       conversations.created_at,
       max(messages.created_at) AS last_activity_at,
       count(messages.id) AS message_count
FROM conversations
JOIN messages ON messages.conversation_id = conversations.id
WHERE conversations.user_id = %(user_id)s
GROUP BY conversations.id
HAVING max(messages.created_at) > %(since)s
ORDER BY last_activity_at
LIMIT %(limit)s
""",
    params=("user_id", "since", "limit"),
    notes=(
        "On today's schema activity is not stored: every refresh aggregates every message of every conversation "
        "of the user, O(all the user's messages) however little changed. The timestamp alone is the cursor, so "
        "conversations with equal activity may be skipped between pages."
    ),
)

OPTIMIZED = Query(
    operation="changed_conversations",
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
  AND (last_activity_at, id) > (%(after_at)s::timestamptz, %(after_id)s::uuid)
ORDER BY last_activity_at, id
LIMIT %(limit)s
""",
    params=("user_id", "after_at", "after_id", "limit"),
    notes=(
        "Reads only the changed conversations, through ix_conversations_user_activity backwards: O(changed). "
        "Since a time T: after_at = T, after_id = ffffffff-ffff-ffff-ffff-ffffffffffff (activity strictly "
        "after T); next pages: (last_activity_at, id) of the last row. A conversation that changes again during "
        "a walk moves behind the cursor and comes again on a later page. Deleted conversations are not reported."
    ),
)

QUERIES = (TODAY, OPTIMIZED)
"""Its queries in catalog order: by operation, then today, seed_proposal, optimized."""
