"""The catalog's analytics: user_daily_counts and daily_totals; days are cut in UTC, since <= day < until.

Data: the SQL of every variant with its notes and plan contract (see ``chatschema.queries``).
"""

from __future__ import annotations

from .budgets import DAYS, TODAY_USER
from .contract import HOT_TABLES, Contract, IndexUse
from .query import Query

__all__ = [
    "USER_DAILY_SUMMARY",
    "TOTALS_SUMMARY",
    "USER_DAILY_TODAY",
    "USER_DAILY_OPTIMIZED",
    "DAILY_TOTALS_TODAY",
    "DAILY_TOTALS_OPTIMIZED",
    "USER_DAILY_CITUS",
    "DAILY_TOTALS_CITUS",
    "QUERIES",
]

USER_DAILY_SUMMARY = (
    "A user's daily counts for a 30-day range from user_daily_messages through ux_user_daily_messages "
    "(user_id, day): at most 31 rows, already in day order."
)
TOTALS_SUMMARY = (
    "Daily totals for a 30-day range from daily_message_totals: ux_daily_message_totals (day) must be able "
    "to serve it; on a view of a few pages a Seq Scan plus a sort of at most 31 rows is the cheaper plan "
    "and allowed. The view holds one row per day, so its size follows the calendar, not the messages."
)


# The optimized and citus variants read the same rows from a view (one node) or a rollup table (Citus):
# one SQL and one contract each, over the source's name and key.
def _user_daily_sql(source: str) -> str:
    return f"""
SELECT day,
       messages,
       user_messages,
       assistant_messages,
       active_conversations
FROM {source}
WHERE user_id = %(user_id)s
  AND day >= %(since)s
  AND day < %(until)s
ORDER BY day
"""


def _user_daily_contract(index: str, source: str, summary: str) -> Contract:
    return Contract(
        page_rows=DAYS,
        uses=(IndexUse(index, source, cond=("user_id", "day")),),
        max_sort_rows=DAYS,
        max_rows_read=2 * DAYS,
        max_buffers=20,
        no_seq_scan=(*HOT_TABLES, source),
        summary=summary,
    )


def _totals_sql(source: str) -> str:
    return f"""
SELECT day,
       messages,
       active_users,
       active_conversations
FROM {source}
WHERE day >= %(since)s
  AND day < %(until)s
ORDER BY day
"""


def _totals_contract(index: str, source: str, summary: str) -> Contract:
    return Contract(
        page_rows=DAYS,
        uses=(IndexUse(index, source, cond=("day",), chosen=False),),
        max_sort_rows=DAYS,
        max_rows_read=None,
        max_buffers=16,
        summary=summary,
    )


USER_DAILY_TODAY = Query(
    operation="user_daily_counts",
    variant="today",
    revision="0001",
    contract=Contract(
        page_rows=DAYS, uses=(TODAY_USER,), max_sort_rows=DAYS, max_rows_read=2 * DAYS, max_buffers=20,
        summary=USER_DAILY_SUMMARY,
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

USER_DAILY_OPTIMIZED = Query(
    operation="user_daily_counts",
    variant="optimized",
    revision="head",
    contract=_user_daily_contract("ux_user_daily_messages", "user_daily_messages", USER_DAILY_SUMMARY),
    sql=_user_daily_sql("user_daily_messages"),
    params=("user_id", "since", "until"),
    notes="Reads the materialized view through ux_user_daily_messages; as fresh as its last refresh.",
)

DAILY_TOTALS_TODAY = Query(
    operation="daily_totals",
    variant="today",
    revision="0001",
    contract=Contract(
        page_rows=DAYS, max_sort_rows=DAYS, max_rows_read=2 * DAYS, max_buffers=16, summary=TOTALS_SUMMARY,
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

DAILY_TOTALS_OPTIMIZED = Query(
    operation="daily_totals",
    variant="optimized",
    revision="head",
    contract=_totals_contract("ux_daily_message_totals", "daily_message_totals", TOTALS_SUMMARY),
    sql=_totals_sql("daily_message_totals"),
    params=("since", "until"),
    notes="Reads the materialized view through ux_daily_message_totals; as fresh as its last refresh.",
)

# On Citus: the rollup tables `chatschema distribute` adds (chatschema.citus.rollups), kept by an
# incremental refresh, in place of the materialized views, whose full refresh is a distributed recompute.
USER_DAILY_CITUS = Query(
    operation="user_daily_counts",
    variant="citus",
    revision="head",
    contract=_user_daily_contract("user_daily_rollup_pkey", "user_daily_rollup", USER_DAILY_SUMMARY.replace(
        "user_daily_messages through ux_user_daily_messages", "the rollup user_daily_rollup through its key")),
    sql=_user_daily_sql("user_daily_rollup"),
    params=("user_id", "since", "until"),
    notes=("Reads the rollup user_daily_rollup on the owner's shard (one task) through its key; as fresh as its "
           "last `chatschema views refresh`, which recomputes only the days since the newest rolled-up one."),
)

DAILY_TOTALS_CITUS = Query(
    operation="daily_totals",
    variant="citus",
    revision="head",
    contract=_totals_contract("daily_totals_rollup_pkey", "daily_totals_rollup", (
        "Daily totals for a 30-day range from the reference table daily_totals_rollup: its key (day) must be able "
        "to serve it; on a table of a few pages a Seq Scan plus a sort of at most 31 rows is the cheaper plan and "
        "allowed. One row per day: its size follows the calendar, not the messages.")),
    sql=_totals_sql("daily_totals_rollup"),
    params=("since", "until"),
    notes=("Reads the reference table daily_totals_rollup (one row per day, on every node: one task); as fresh "
           "as its last `chatschema views refresh`."),
)

QUERIES = (USER_DAILY_TODAY, USER_DAILY_OPTIMIZED, USER_DAILY_CITUS, DAILY_TOTALS_TODAY, DAILY_TOTALS_OPTIMIZED,
           DAILY_TOTALS_CITUS)
"""Its queries in catalog order: by operation, then today, seed_proposal, optimized."""
