"""What every variant of an operation is held to: page sizes, budgets and the indexes contracts name.

Every variant of an operation is held to what the operation must cost: a page of rows read through
an index, no large sort, one round trip. ``today`` and ``seed_proposal`` name the indexes of
revision 0001 (only as far as the capability probe: they are what that schema offers) and fail on
the rest; ``optimized`` names the indexes of head. Numbers are per execution:

- a page is 20 rows + 1 (the extra row answers has_more): 21;
- rows read: the page twice over, plus the conversation row (an empty page still reads one);
- buffers: one heap page per row of a page (UUID keys scatter rows over the heap) plus index
  descents, rounded up: 60;
- analytics ranges are 30 days, one row per day: 31.
"""

from __future__ import annotations

from .contract import Contract, IndexUse

__all__ = [
    "PAGE_ROWS",
    "DAYS",
    "ACTIVITY",
    "RECENT_PAGE",
    "RECENT_FIRST",
    "CONVERSATION_BY_ID",
    "TODAY_USER",
    "TODAY_MESSAGES",
    "TODAY_CONVERSATION",
    "page_contract",
]

PAGE_ROWS = 21
"""Rows of a page: 20 + 1, the extra row answers has_more."""
DAYS = 31
"""Rows of an analytics range: 30 days, one row a day, + 1."""

ACTIVITY = IndexUse(
    "ix_conversations_user_activity", "conversations", cond=("user_id", "last_activity_at", "id"),
)
RECENT_PAGE = IndexUse(
    "ix_messages_conversation_recent", "messages", cond=("conversation_id", "created_at", "id"),
)
RECENT_FIRST = IndexUse("ix_messages_conversation_recent", "messages", cond=("conversation_id",))
# The conversation by id. PostgreSQL 18 may instead probe the activity index with a one-search skip
# scan on (user_id, id) for an owner with few conversations: as cheap, and skip-scan-searches
# catches it when it is not.
CONVERSATION_BY_ID = IndexUse(
    "conversations_pkey", "conversations", cond=("user_id", "id"), also=("ix_conversations_user_activity",),
)

# Revision 0001's indexes where they serve a lookup of today's queries (required by the probe only:
# the point of those contracts is the cost). No 0001 index can serve today's list at all.
TODAY_USER = IndexUse("ix_conversations_user_id", "conversations", cond=("user_id",), chosen=False)
TODAY_MESSAGES = IndexUse("ix_messages_conversation_id", "messages", cond=("conversation_id",), chosen=False)
TODAY_CONVERSATION = IndexUse("conversations_pkey", "conversations", cond=("id",), chosen=False)


def page_contract(*uses: IndexUse, summary: str, sort_rows: int = PAGE_ROWS, round_trips: int = 1) -> Contract:
    """The contract of a page read: ``uses`` and the budgets above; ``sort_rows`` the largest Sort allowed."""
    return Contract(
        page_rows=PAGE_ROWS,
        uses=uses,
        max_sort_rows=sort_rows,
        max_rows_read=2 * PAGE_ROWS + 2,
        max_buffers=60,
        max_round_trips=round_trips,
        summary=summary,
    )
