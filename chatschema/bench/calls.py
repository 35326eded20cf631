"""One call of a catalog query as the application makes it, and its EXPLAIN: shared by the reads and the sends.

EXPLAIN runs here rather than through ``plans.explain.Explainer`` because the benchmark measures
under the server's own settings, the ones its timed calls ran under; the Explainer pins the planner
(no parallel workers, no JIT, default costs) so that plans repeat from machine to machine.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from .. import server
from ..plans.tree import parse_plan
from ..queries import Query
from .results import BenchOptions

__all__ = ["Steps", "connect", "timeout", "steps_of", "execute", "explain"]

Steps = tuple[tuple[str, tuple[str, ...]], ...]


def timeout(options: BenchOptions) -> sql.Composed:
    return sql.SQL("SET statement_timeout = {}").format(sql.Literal(f"{options.statement_timeout_s}s"))


def connect(info: str, options: BenchOptions) -> psycopg.Connection:
    conn = server.connect(info, autocommit=True)
    conn.execute(timeout(options))
    return conn


def steps_of(query: Query) -> Steps:
    """(SQL, parameter names) of every statement, computed once: ``Query.statements`` builds new Statement
    objects, each validated with sqlparse (milliseconds), which must stay out of the timed calls."""
    return tuple((statement.sql, statement.params) for statement in query.statements)


def execute(conn: psycopg.Connection, steps: Steps, params: dict[str, Any], *, writes: bool = False) -> int:
    """One call as the application makes it: every statement, every row fetched. Returns the rows of the last."""
    rows = 0
    if writes:
        with conn.transaction():
            for text, names in steps:
                cur = conn.execute(text, {n: params[n] for n in names})
                rows = len(cur.fetchall()) if cur.description else cur.rowcount
        return rows
    for text, names in steps:
        cur = conn.execute(text, {n: params[n] for n in names})
        rows = len(cur.fetchall()) if cur.description else cur.rowcount
    return rows


def explain(conn: psycopg.Connection, query: Query, params: dict[str, Any]) -> tuple[int, float]:
    """Shared buffers (hit + read) and server execution time (ms) of one call, summed over its statements.

    EXPLAIN (ANALYZE) executes the statements: in a transaction that is rolled back, so a send leaves nothing.
    """
    buffers, ms = 0, 0.0
    conn.execute("BEGIN")
    try:
        for statement in query.statements:
            stmt = sql.SQL("EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, FORMAT JSON) ") + sql.SQL(statement.sql)  # type: ignore[arg-type]
            row = conn.execute(stmt, statement.bind(params)).fetchone()
            doc = row[0][0] if row else {}
            buffers += (parse_plan(doc).buffers or 0) if doc else 0
            ms += float(doc.get("Execution Time", 0.0))
    finally:
        conn.execute("ROLLBACK")
    return buffers, ms
