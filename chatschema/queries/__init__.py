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
- ``citus``: where an operation needs its own SQL on a Citus coordinator after ``chatschema
  distribute`` (the send as one delegated call, the analytics from the rollup tables); every other
  operation runs its optimized variant there.

Each query declares its plan contract next to it (``Query.contract``, see ``chatschema.contract``):
the indexes its plan must use and what one execution may cost. ``chatschema plans verify`` checks
every query against its contract.

SQL uses psycopg named parameters (``%(name)s``); values are always bound, never interpolated.
"""

from __future__ import annotations

import re
import uuid

from ..errors import UnknownQuery
from . import (
    analytics,
    catch_up,
    changed_conversations,
    conversation_view,
    export_messages,
    list_conversations,
    load_messages,
    send_message,
    send_message_citus,
)
from .query import DEPLOYED, OPERATIONS, PARAM, VARIANTS, Query, Statement

__all__ = [
    "Statement",
    "Query",
    "OPERATIONS",
    "VARIANTS",
    "DEPLOYED",
    "FIRST_PAGE_AT",
    "FIRST_PAGE_ID",
    "START_AT",
    "START_ID",
    "get",
    "all_queries",
    "by_name",
    "formatted_sql",
    "positional_sql",
]

# The first page's cursor. A sentinel rather than "$cursor IS NULL OR (...) < (...)": a prepared
# statement's generic plan turns that OR into a Filter over every row of the user (research 4.2),
# whereas a row comparison with a sentinel stays an Index Cond, and one SQL text serves every page.
FIRST_PAGE_AT = "infinity"
FIRST_PAGE_ID = uuid.UUID("ffffffff-ffff-ffff-ffff-ffffffffffff")
# Catch-up from the very start of a conversation: before every (created_at, id).
START_AT = "-infinity"
START_ID = uuid.UUID(int=0)


_QUERIES: tuple[Query, ...] = (
    *list_conversations.QUERIES,
    *load_messages.QUERIES,
    *conversation_view.QUERIES,
    *send_message.QUERIES,
    *send_message_citus.QUERIES,
    *catch_up.QUERIES,
    *changed_conversations.QUERIES,
    *export_messages.QUERIES,
    *analytics.QUERIES,
)
_BY_KEY = {(q.operation, q.variant): q for q in _QUERIES}


def all_queries() -> tuple[Query, ...]:
    """Every query, grouped by operation, variants in the order today, seed_proposal, optimized."""
    return _QUERIES


def _unknown_operation(operation: str) -> UnknownQuery:
    return UnknownQuery(f"unknown operation {operation!r}; operations are {', '.join(OPERATIONS)}")


def get(operation: str, variant: str = "optimized") -> Query:
    """The query for ``operation`` in ``variant``; UnknownQuery names what exists."""
    try:
        return _BY_KEY[(operation, variant)]
    except KeyError:
        if operation not in OPERATIONS:
            raise _unknown_operation(operation) from None
        have = [v for (op, v) in _BY_KEY if op == operation]
        raise UnknownQuery(f"{operation} has no {variant!r} variant; it has {', '.join(have)}") from None


def by_name(name: str) -> tuple[Query, ...]:
    """'operation.variant' gives that query; 'operation' alone gives all its variants."""
    operation, _, variant = name.partition(".")
    if variant:
        return (get(operation, variant),)
    found = tuple(q for q in _QUERIES if q.operation == operation)
    if not found:
        raise _unknown_operation(operation)
    return found


def _layout(sql: str) -> str:
    return "\n".join(line.rstrip() for line in sql.strip().splitlines())


def formatted_sql(query: Query) -> str:
    """The query's SQL for reading, each statement labelled with its round trip when there are several.

    The layout is the one written in the operation modules, kept readable by hand: sqlparse's
    reindent splits row values and cannot lay out a data-modifying CTE.
    """
    if query.delegated:
        inside = "\n\n".join(f"-- {statement.purpose}\n{_layout(statement.sql)};" for statement in query.delegated)
        return f"{_layout(query.sql)};\n\n-- inside the call, on the owner's worker:\n\n{inside}"
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

    return PARAM.sub(number, sql), tuple(order)
