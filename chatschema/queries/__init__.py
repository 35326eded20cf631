"""The query catalog: every canonical query of the chat application, by operation and variant.

This is the one place the application's SQL lives. The data-access API (``api``, ``api_async``)
runs the ``optimized`` variants from here; the benchmarks and the plan validator compare all
variants on the same data.

Variants, and what is wrong with the first two (each shown by a test in ``tests/test_catalog.py``):

- ``today``: what the application runs now (SQLAlchemy ORM style, schema revision 0001). Cost
  grows with all of the user's messages (list) or with the page depth (``OFFSET``); the load
  endpoint ignores its cursor; ``OFFSET`` pages repeat a row when a message arrives between two
  pages; no tie-breaker, so rows with equal times may land on two pages or none;
  ``created_at = now()`` is the transaction's start, so commit order and time order disagree
  under concurrency.
- ``seed_proposal``: the SQL proposed by the optimization plan (``seed-plan.md``), as written there.
  The list aggregates every user's messages on each request; the message query has no cursor and
  returns 0 rows both for an empty conversation and for someone else's, so the API cannot tell
  "empty page" from "not found"; the view reports ``has_more`` for a conversation of exactly 20
  messages.
- ``optimized``: chatschema's, for the schema at head: keyset pagination on row values, one SQL
  text for every page, ownership checked in the same statement, summaries read from
  ``conversations``, analytics read from the materialized views.

Each query declares its plan contract next to it (``Query.contract``, see ``chatschema.contract``):
the indexes its plan must use and what one execution may cost. ``chatschema plans verify`` checks
every query against its contract.

SQL uses psycopg named parameters (``%(name)s``); values are always bound, never interpolated.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

import sqlparse

from .contract import HOT_TABLES, Contract, IndexUse

__all__ = [
    "Statement",
    "Query",
    "OPERATIONS",
    "VARIANTS",
    "FIRST_PAGE_AT",
    "FIRST_PAGE_ID",
    "get",
    "all_queries",
    "by_name",
    "formatted_sql",
    "positional_sql",
]

OPERATIONS = (
    "list_conversations",
    "load_messages",
    "conversation_view",
    "send_message",
    "user_daily_counts",
    "daily_totals",
)
VARIANTS = ("today", "seed_proposal", "optimized")

# The first page's cursor. A sentinel rather than "$cursor IS NULL OR (...) < (...)": a prepared
# statement's generic plan turns that OR into a Filter over every row of the user (research 4.2),
# whereas a row comparison with a sentinel stays an Index Cond, and one SQL text serves every page.
FIRST_PAGE_AT = "infinity"
FIRST_PAGE_ID = uuid.UUID("ffffffff-ffff-ffff-ffff-ffffffffffff")

_PARAM = re.compile(r"%\((\w+)\)s")


@dataclass(frozen=True)
class Statement:
    """One SQL statement: one round trip to the server."""

    sql: str
    params: tuple[str, ...]
    purpose: str = ""

    def __post_init__(self) -> None:
        if len([s for s in sqlparse.split(self.sql) if s.strip()]) != 1:
            raise ValueError(f"a Statement holds exactly one SQL statement: {self.sql[:60]!r}")
        # In order of first use, so params[i] is $i+1 of positional_sql (PREPARE, EXPLAIN GENERIC_PLAN).
        used = tuple(dict.fromkeys(_PARAM.findall(self.sql)))
        if used != self.params:
            raise ValueError(f"statement parameters {self.params} are not those of its SQL in order of use: {used}")

    def bind(self, values: Mapping[str, object]) -> dict[str, object]:
        """The statement's parameters picked from ``values``; a missing one is named."""
        missing = [p for p in self.params if p not in values]
        if missing:
            raise KeyError(f"missing parameter(s) {', '.join(missing)} for: {self.purpose or self.sql[:60]}")
        return {p: values[p] for p in self.params}


@dataclass(frozen=True)
class Query:
    """A canonical query: one operation in one variant.

    ``sql`` is the statement that returns the operation's result, with psycopg named parameters
    (``%(name)s``); ``params`` lists them in order of first use, so ``params[i]`` is ``$i+1`` of
    ``positional_sql(sql)``. A variant that needs more round trips lists the statements the
    application runs before it in ``preceding`` (for example today's ownership check before loading
    messages); ``round_trips`` counts them all. ``revision`` is the schema revision it runs on
    (``0001`` or ``head``), ``writes`` says whether it changes data, ``notes`` what it costs and
    what is wrong with it. ``contract`` is the plan it must have (a ``chatschema.contract.Contract``
    declared next to the query), which ``chatschema plans verify`` checks.
    """

    operation: str
    variant: str
    sql: str
    params: tuple[str, ...]
    revision: str
    contract: Contract
    writes: bool = False
    round_trips: int = 1
    notes: str = ""
    preceding: tuple[Statement, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.operation not in OPERATIONS:
            raise ValueError(f"unknown operation {self.operation!r}")
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown variant {self.variant!r}")
        Statement(self.sql, self.params)  # validates the parameter list
        if self.round_trips != 1 + len(self.preceding):
            statements = 1 + len(self.preceding)
            raise ValueError(f"{self.name}: round_trips={self.round_trips} but it has {statements} statements")

    @property
    def name(self) -> str:
        return f"{self.operation}.{self.variant}"

    @cached_property
    def statements(self) -> tuple[Statement, ...]:
        """Every statement in the order the application runs them, each one round trip.

        Cached: building a Statement re-parses its SQL with sqlparse (milliseconds), and callers
        such as the benchmark read this on every iteration.
        """
        return (*self.preceding, Statement(self.sql, self.params, "result"))

    @cached_property
    def all_params(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p for s in self.statements for p in s.params))


# ---------------------------------------------------------------------------------------------
# Plan contracts: what every variant of an operation is held to
# ---------------------------------------------------------------------------------------------
#
# Every variant of an operation is held to what the operation must cost: a page of rows read
# through an index, no large sort, one round trip. ``today`` and ``seed_proposal`` name the indexes
# of revision 0001 (only as far as the capability probe: they are what that schema offers) and fail
# on the rest; ``optimized`` names the indexes of head. Numbers are per execution:
#
# - a page is 20 rows + 1 (the extra row answers has_more): 21;
# - rows read: the page twice over, plus the conversation row (an empty page still reads one);
# - buffers: one heap page per row of a page (UUID keys scatter rows over the heap) plus index
#   descents, rounded up: 60;
# - analytics ranges are 30 days, one row per day: 31.

PAGE_ROWS = 21
DAYS = 31

_ACTIVITY = IndexUse(
    "ix_conversations_user_activity", "conversations", cond=("user_id", "last_activity_at", "id"),
)
_RECENT_PAGE = IndexUse(
    "ix_messages_conversation_recent", "messages", cond=("conversation_id", "created_at", "id"),
)
_RECENT_FIRST = IndexUse("ix_messages_conversation_recent", "messages", cond=("conversation_id",))
# The conversation by id. PostgreSQL 18 may instead probe the activity index with a one-search skip
# scan on (user_id, id) for an owner with few conversations: as cheap, and skip-scan-searches
# catches it when it is not.
_CONVERSATION_BY_ID = IndexUse(
    "conversations_pkey", "conversations", cond=("id",), also=("ix_conversations_user_activity",),
)

# Revision 0001's indexes where they serve a lookup of today's queries (required by the probe only:
# the point of those contracts is the cost). No 0001 index can serve today's list at all.
_TODAY_USER = IndexUse("ix_conversations_user_id", "conversations", cond=("user_id",), chosen=False)
_TODAY_MESSAGES = IndexUse("ix_messages_conversation_id", "messages", cond=("conversation_id",), chosen=False)
_TODAY_CONVERSATION = IndexUse("conversations_pkey", "conversations", cond=("id",), chosen=False)


def _page(*uses: IndexUse, summary: str, sort_rows: int = PAGE_ROWS, round_trips: int = 1) -> Contract:
    return Contract(
        page_rows=PAGE_ROWS,
        uses=uses,
        max_sort_rows=sort_rows,
        max_rows_read=2 * PAGE_ROWS + 2,
        max_buffers=60,
        max_round_trips=round_trips,
        summary=summary,
    )


# ---------------------------------------------------------------------------------------------
# list_conversations: a user's conversations, newest activity first, with count and preview
# ---------------------------------------------------------------------------------------------

_LIST_SUMMARY = (
    "A page of a user's conversations, newest activity first: read through "
    "ix_conversations_user_activity with the keyset cursor in the Index Cond. A top-N sort of at most two "
    "pages (42 rows) is allowed: for a user with a few dozen conversations the planner rightly reads them "
    "all with a bitmap scan and sorts them; for more it must walk the index in order."
)

_LIST_TODAY = Query(
    operation="list_conversations",
    variant="today",
    revision="0001",
    contract=_page(summary=_LIST_SUMMARY, sort_rows=2 * PAGE_ROWS),
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

_LIST_SEED = Query(
    operation="list_conversations",
    variant="seed_proposal",
    revision="0001",
    contract=_page(summary=_LIST_SUMMARY, sort_rows=2 * PAGE_ROWS),
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

_LIST_OPTIMIZED = Query(
    operation="list_conversations",
    variant="optimized",
    revision="head",
    contract=_page(_ACTIVITY, summary=_LIST_SUMMARY, sort_rows=2 * PAGE_ROWS),
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

# ---------------------------------------------------------------------------------------------
# load_messages: a conversation's messages, newest first, older pages by cursor, ownership checked
# ---------------------------------------------------------------------------------------------

_LOAD_SUMMARY = (
    "A page of a conversation's messages, ownership checked in the same statement: the conversation by "
    "its key, the messages from ix_messages_conversation_recent with the cursor (created_at, id) in the "
    "Index Cond; the outer ORDER BY sorts at most the page."
)

_VERIFY_TODAY = Statement(
    sql="""
SELECT conversations.id
FROM conversations
WHERE conversations.id = %(conversation_id)s
  AND conversations.user_id = %(user_id)s
""",
    params=("conversation_id", "user_id"),
    purpose="ownership check; no row -> 404",
)

_LOAD_TODAY = Query(
    operation="load_messages",
    variant="today",
    revision="0001",
    contract=_page(_TODAY_MESSAGES, _TODAY_CONVERSATION, summary=_LOAD_SUMMARY),
    preceding=(_VERIFY_TODAY,),
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

_LOAD_SEED = Query(
    operation="load_messages",
    variant="seed_proposal",
    revision="0001",
    contract=_page(_TODAY_MESSAGES, _TODAY_CONVERSATION, summary=_LOAD_SUMMARY),
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

_LOAD_OPTIMIZED = Query(
    operation="load_messages",
    variant="optimized",
    revision="head",
    contract=_page(_RECENT_PAGE, _CONVERSATION_BY_ID, summary=_LOAD_SUMMARY),
    # Driven from the conversation by primary key with the owner in the WHERE, so a foreign or missing
    # conversation gives 0 rows (404) and an empty one gives 1 row of NULLs (empty page).
    # c.message_count is useful to the caller, and it also keeps the conversation probe on
    # conversations_pkey: with only c.id selected, a generic plan may prefer an index-only scan of
    # ix_conversations_user_activity filtered on id, which reads every conversation of a heavy user.
    # The messages are selected by the bound %(conversation_id)s, not by c.id. The LIMIT keeps the
    # subquery from being merged into the outer query, so with c.id the planner estimates the rows of
    # an average conversation: for the longest one (3,375 of 12,500 messages) that chose a bitmap scan
    # and a sort of all its messages. With the value it uses that conversation's own statistics.
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
      AND (created_at, id) < (%(before_at)s::timestamptz, %(before_id)s::uuid)
    ORDER BY created_at DESC, id DESC
    LIMIT %(limit)s
) AS m ON true
WHERE c.id = %(conversation_id)s
  AND c.user_id = %(user_id)s
ORDER BY m.created_at DESC, m.id DESC
""",
    params=("conversation_id", "before_at", "before_id", "limit", "user_id"),
    notes=(
        "Inner side: ix_messages_conversation_recent with the cursor in the Index Cond, O(page) at any depth. "
        "The outer ORDER BY makes the order a guarantee rather than a property of the nested loop; it sorts "
        "at most limit rows. 0 rows -> 404; one row with id NULL -> no (more) messages."
    ),
)

# ---------------------------------------------------------------------------------------------
# conversation_view: the conversation and its latest 20 messages
# ---------------------------------------------------------------------------------------------

_VIEW_SUMMARY = (
    "The conversation and its newest 21 messages in one statement: the conversation by its key, the "
    "messages from ix_messages_conversation_recent; the outer ORDER BY sorts at most 21 rows."
)

_VIEW_CONVERSATION_TODAY = Statement(
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

_VIEW_TODAY = Query(
    operation="conversation_view",
    variant="today",
    revision="0001",
    contract=_page(_TODAY_MESSAGES, _TODAY_CONVERSATION, summary=_VIEW_SUMMARY),
    preceding=(_VIEW_CONVERSATION_TODAY,),
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

_VIEW_SEED = Query(
    operation="conversation_view",
    variant="seed_proposal",
    revision="0001",
    contract=_page(_TODAY_MESSAGES, _TODAY_CONVERSATION, summary=_VIEW_SUMMARY),
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

_VIEW_OPTIMIZED = Query(
    operation="conversation_view",
    variant="optimized",
    revision="head",
    contract=_page(_RECENT_FIRST, _CONVERSATION_BY_ID, summary=_VIEW_SUMMARY),
    # The messages by the bound %(conversation_id)s rather than c.id, as in load_messages.optimized.
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
    ORDER BY created_at DESC, id DESC
    LIMIT %(limit)s
) AS m ON true
WHERE c.id = %(conversation_id)s
  AND c.user_id = %(user_id)s
ORDER BY m.created_at DESC, m.id DESC
""",
    params=("conversation_id", "limit", "user_id"),
    notes=(
        "One round trip: primary-key probe with the owner check, then the newest limit messages from "
        "ix_messages_conversation_recent. limit = 21 (20 + 1 for has_more); the next page is load_messages "
        "with the cursor of the 20th message."
    ),
)

# ---------------------------------------------------------------------------------------------
# send_message: store a message and keep the conversation summary current
# ---------------------------------------------------------------------------------------------

_SEND_SUMMARY = (
    "One statement: the conversation row updated by its key (ownership check and row lock), the message "
    "inserted from its RETURNING; cost independent of the conversation's length."
)

_SEND_TODAY = Query(
    operation="send_message",
    variant="today",
    revision="0001",
    contract=Contract(
        page_rows=1, uses=(_TODAY_CONVERSATION,), max_rows_read=4, max_buffers=100, summary=_SEND_SUMMARY,
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

_SEND_OPTIMIZED = Query(
    operation="send_message",
    variant="optimized",
    revision="head",
    contract=Contract(
        page_rows=1,
        uses=(IndexUse("conversations_pkey", "conversations", cond=("id",)),),
        max_rows_read=4,
        max_buffers=100,
        summary=_SEND_SUMMARY,
    ),
    writes=True,
    # The UPDATE takes the conversation's row lock before anything else, and clock_timestamp() is
    # evaluated for the locked row version (re-evaluated if it waited), so (created_at, id) grows per
    # conversation in commit order and last_message_id is always the newest message. The owner check
    # is the UPDATE's WHERE: 0 rows -> 404 and nothing written.
    sql="""
WITH conv AS (
    UPDATE conversations
       SET message_count        = message_count + 1,
           last_activity_at     = clock_timestamp(),
           last_message_id      = %(message_id)s,
           last_message_preview = left(%(content)s, 100),
           updated_at           = now()
     WHERE id = %(conversation_id)s
       AND user_id = %(user_id)s
    RETURNING id, last_activity_at
)
INSERT INTO messages (id, conversation_id, role, content, created_at)
SELECT %(message_id)s, conv.id, %(role)s, %(content)s, conv.last_activity_at
FROM conv
RETURNING id, conversation_id, role, created_at
""",
    params=("message_id", "content", "conversation_id", "user_id", "role"),
    notes=(
        "One statement, one round trip, atomic on its own (autocommit) or inside the caller's transaction. "
        "message_id is generated by the application."
    ),
)

# ---------------------------------------------------------------------------------------------
# analytics: days are cut in UTC; since <= day < until
# ---------------------------------------------------------------------------------------------

_USER_DAILY_SUMMARY = (
    "A user's daily counts for a 30-day range from user_daily_messages through ux_user_daily_messages "
    "(user_id, day): at most 31 rows, already in day order."
)
_TOTALS_SUMMARY = (
    "Daily totals for a 30-day range from daily_message_totals: ux_daily_message_totals (day) must be able "
    "to serve it; on a view of a few pages a Seq Scan plus a sort of at most 31 rows is the cheaper plan "
    "and allowed. The view holds one row per day, so its size follows the calendar, not the messages."
)

_USER_DAILY_TODAY = Query(
    operation="user_daily_counts",
    variant="today",
    revision="0001",
    contract=Contract(
        page_rows=DAYS, uses=(_TODAY_USER,), max_sort_rows=DAYS, max_rows_read=2 * DAYS, max_buffers=20,
        summary=_USER_DAILY_SUMMARY,
    ),
    sql="""
SELECT (messages.created_at AT TIME ZONE 'UTC')::date AS day,
       count(*) AS messages,
       count(*) FILTER (WHERE messages.role = 'user') AS user_messages,
       count(*) FILTER (WHERE messages.role = 'assistant') AS assistant_messages,
       count(DISTINCT messages.conversation_id) AS active_conversations
FROM messages
JOIN conversations ON conversations.id = messages.conversation_id
WHERE conversations.user_id = %(user_id)s
  AND (messages.created_at AT TIME ZONE 'UTC')::date >= %(since)s
  AND (messages.created_at AT TIME ZONE 'UTC')::date < %(until)s
GROUP BY day
ORDER BY day
""",
    params=("user_id", "since", "until"),
    notes="Aggregated live from every message of the user on each request: O(the user's messages).",
)

_USER_DAILY_OPTIMIZED = Query(
    operation="user_daily_counts",
    variant="optimized",
    revision="head",
    contract=Contract(
        page_rows=DAYS,
        uses=(IndexUse("ux_user_daily_messages", "user_daily_messages", cond=("user_id", "day")),),
        max_sort_rows=DAYS,
        max_rows_read=2 * DAYS,
        max_buffers=20,
        no_seq_scan=(*HOT_TABLES, "user_daily_messages"),
        summary=_USER_DAILY_SUMMARY,
    ),
    sql="""
SELECT day,
       messages,
       user_messages,
       assistant_messages,
       active_conversations
FROM user_daily_messages
WHERE user_id = %(user_id)s
  AND day >= %(since)s
  AND day < %(until)s
ORDER BY day
""",
    params=("user_id", "since", "until"),
    notes="Reads the materialized view through ux_user_daily_messages; as fresh as its last refresh.",
)

_DAILY_TOTALS_TODAY = Query(
    operation="daily_totals",
    variant="today",
    revision="0001",
    contract=Contract(
        page_rows=DAYS, max_sort_rows=DAYS, max_rows_read=2 * DAYS, max_buffers=16, summary=_TOTALS_SUMMARY,
    ),
    sql="""
SELECT (messages.created_at AT TIME ZONE 'UTC')::date AS day,
       count(*) AS messages,
       count(DISTINCT conversations.user_id) AS active_users,
       count(DISTINCT messages.conversation_id) AS active_conversations
FROM messages
JOIN conversations ON conversations.id = messages.conversation_id
WHERE (messages.created_at AT TIME ZONE 'UTC')::date >= %(since)s
  AND (messages.created_at AT TIME ZONE 'UTC')::date < %(until)s
GROUP BY day
ORDER BY day
""",
    params=("since", "until"),
    notes="Aggregated live from every message in the range on each request.",
)

_DAILY_TOTALS_OPTIMIZED = Query(
    operation="daily_totals",
    variant="optimized",
    revision="head",
    contract=Contract(
        page_rows=DAYS,
        uses=(IndexUse("ux_daily_message_totals", "daily_message_totals", cond=("day",), chosen=False),),
        max_sort_rows=DAYS,
        max_rows_read=None,
        max_buffers=16,
        summary=_TOTALS_SUMMARY,
    ),
    sql="""
SELECT day,
       messages,
       active_users,
       active_conversations
FROM daily_message_totals
WHERE day >= %(since)s
  AND day < %(until)s
ORDER BY day
""",
    params=("since", "until"),
    notes="Reads the materialized view through ux_daily_message_totals; as fresh as its last refresh.",
)

_QUERIES: tuple[Query, ...] = (
    _LIST_TODAY,
    _LIST_SEED,
    _LIST_OPTIMIZED,
    _LOAD_TODAY,
    _LOAD_SEED,
    _LOAD_OPTIMIZED,
    _VIEW_TODAY,
    _VIEW_SEED,
    _VIEW_OPTIMIZED,
    _SEND_TODAY,
    _SEND_OPTIMIZED,
    _USER_DAILY_TODAY,
    _USER_DAILY_OPTIMIZED,
    _DAILY_TOTALS_TODAY,
    _DAILY_TOTALS_OPTIMIZED,
)
_BY_KEY = {(q.operation, q.variant): q for q in _QUERIES}


def all_queries() -> tuple[Query, ...]:
    """Every query, grouped by operation, variants in the order today, seed_proposal, optimized."""
    return _QUERIES


def get(operation: str, variant: str = "optimized") -> Query:
    """The query for ``operation`` in ``variant``; KeyError names what exists."""
    try:
        return _BY_KEY[(operation, variant)]
    except KeyError:
        if operation not in OPERATIONS:
            raise KeyError(f"unknown operation {operation!r}; operations are {', '.join(OPERATIONS)}") from None
        have = [v for (op, v) in _BY_KEY if op == operation]
        raise KeyError(f"{operation} has no {variant!r} variant; it has {', '.join(have)}") from None


def by_name(name: str) -> tuple[Query, ...]:
    """'operation.variant' gives that query; 'operation' alone gives all its variants."""
    operation, _, variant = name.partition(".")
    if variant:
        return (get(operation, variant),)
    found = tuple(q for q in _QUERIES if q.operation == operation)
    if not found:
        raise KeyError(f"unknown operation {operation!r}; operations are {', '.join(OPERATIONS)}")
    return found


def _layout(sql: str) -> str:
    return "\n".join(line.rstrip() for line in sql.strip().splitlines())


def formatted_sql(query: Query) -> str:
    """The query's SQL for reading, each statement labelled with its round trip when there are several.

    The layout is the one written in this module, which is kept readable by hand: sqlparse's
    reindent splits row values and cannot lay out a data-modifying CTE.
    """
    if query.round_trips == 1:
        return _layout(query.sql) + ";"
    return "\n\n".join(
        f"-- round trip {i}: {statement.purpose}\n{_layout(statement.sql)};"
        for i, statement in enumerate(query.statements, 1)
    )


def positional_sql(sql: str) -> tuple[str, tuple[str, ...]]:
    """The SQL with ``$1, $2, ...`` in place of named parameters, and the names in that order.

    For ``PREPARE name AS ...`` and ``EXPLAIN (GENERIC_PLAN)``, which take positional parameters; a
    name used twice maps to the same number, as psycopg does.
    """
    order: dict[str, int] = {}

    def number(match: re.Match[str]) -> str:
        return f"${order.setdefault(match.group(1), len(order) + 1)}"

    return _PARAM.sub(number, sql), tuple(order)
