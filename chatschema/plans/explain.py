"""Running EXPLAIN safely and reproducibly: the session settings, the three planning modes, the transaction.

Every EXPLAIN runs in its own transaction that is always rolled back, with a statement timeout.
On a server that is not chatschema's scratch database the transaction is READ ONLY and write
queries are only planned, never executed, even with ``analyze``.

Modes:

- ``custom``: the real planner with the parameter values (what the first executions of a
  prepared statement get), ``EXPLAIN (ANALYZE, BUFFERS)`` when measuring;
- ``generic``: ``PREPARE`` + ``plan_cache_mode = force_generic_plan`` + ``EXPLAIN EXECUTE``, the
  plan psycopg's auto-prepared statements switch to after five executions (works on 15-18;
  ``EXPLAIN (GENERIC_PLAN)`` would need 16);
- ``probe``: seq scans, bitmap scans and sorts disabled, plain EXPLAIN: can an index serve it?
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql

from ..queries import Query, positional_sql
from ..errors import ChatSchemaError
from .tree import Plan, parse_plan

__all__ = [
    "STATS_TARGET",
    "PINNED",
    "SCRATCH_COSTS",
    "PROBE",
    "RECORDED",
    "MODES",
    "Explainer",
    "ExplainFailed",
    "recorded_settings",
]

MODES = ("probe", "custom", "generic")
# Statistics before plans are taken: ANALYZE samples 300 x this many rows, the whole table up to
# 300k rows, so the statistics (and so the plans) repeat run to run.
STATS_TARGET = 1000

# Settings that make plans wobble between runs or machines, pinned in every EXPLAIN's transaction.
PINNED: tuple[tuple[str, str, str], ...] = (
    ("max_parallel_workers_per_gather", "0", "Gather nodes depend on free workers and on table size >= 8 MB"),
    ("jit", "off", "a JIT section appears when costs pass jit_above_cost, and the 1e10 disable_cost always does"),
    ("geqo_threshold", "12", "the genetic optimizer is random above it; the default, pinned"),
    ("join_collapse_limit", "8", "the default, pinned: it decides which join orders are searched"),
    ("from_collapse_limit", "8", "the default, pinned"),
    ("enable_seqscan", "on", "a pooled session may carry a SET; the probe turns it off on purpose"),
    ("enable_indexscan", "on", ""),
    ("enable_indexonlyscan", "on", ""),
    ("enable_bitmapscan", "on", ""),
    ("enable_sort", "on", ""),
    ("enable_incremental_sort", "on", ""),
    ("enable_hashagg", "on", ""),
    ("enable_hashjoin", "on", ""),
    ("enable_mergejoin", "on", ""),
    ("enable_nestloop", "on", ""),
    ("enable_material", "on", ""),
    ("enable_memoize", "on", ""),
)
# Cost settings pinned to PostgreSQL's defaults on the scratch database only: on a server given by
# --dsn they are production's own and are recorded, not overridden.
SCRATCH_COSTS: tuple[tuple[str, str, str], ...] = (
    ("random_page_cost", "4", "default; production SSDs often use 1.1 and get the same plans here"),
    ("seq_page_cost", "1", "default"),
    ("cpu_tuple_cost", "0.01", "default"),
    ("cpu_index_tuple_cost", "0.005", "default"),
    ("cpu_operator_cost", "0.0025", "default"),
    ("effective_cache_size", "4GB", "default"),
    ("work_mem", "4MB", "default; decides in-memory vs disk sorts and hash batches"),
)
PROBE: tuple[tuple[str, str], ...] = (("enable_seqscan", "off"), ("enable_bitmapscan", "off"), ("enable_sort", "off"))
RECORDED = (
    "server_version", "random_page_cost", "seq_page_cost", "cpu_tuple_cost", "cpu_index_tuple_cost",
    "cpu_operator_cost", "effective_cache_size", "work_mem", "default_statistics_target",
    "max_parallel_workers_per_gather", "jit", "plan_cache_mode",
)
_STATEMENT = "chatschema_plan"


class ExplainFailed(ChatSchemaError):
    """EXPLAIN of a catalog query failed (timeout, missing column, permission)."""


@dataclass
class Explainer:
    """Plans catalog queries on one connection (autocommit; every EXPLAIN in its own rolled-back transaction).

    Open the connection with ``autocommit=True`` and ``prepare_threshold=None``.
    """

    conn: psycopg.Connection
    analyze: bool
    scratch: bool
    statement_timeout_ms: int = 30_000
    # Citus cannot plan a distributed data-modifying statement whose values arrive as bind parameters
    # under EXPLAIN ("could not create distributed plan"), though it runs it: inline them as literals.
    # Set for a Citus coordinator, where it also sends the session settings to the workers.
    inline_values: bool = False

    def settings(self, mode: str) -> list[tuple[str, str]]:
        pairs = [(name, value) for name, value, _ in PINNED]
        if self.scratch:
            pairs += [(name, value) for name, value, _ in SCRATCH_COSTS]
        pairs.append(("plan_cache_mode", "force_generic_plan" if mode == "generic" else "force_custom_plan"))
        if mode == "probe":
            pairs += list(PROBE)
        pairs.append(("statement_timeout", f"{self.statement_timeout_ms}ms"))
        return pairs

    def explain(self, query: Query, values: Mapping[str, Any], mode: str) -> tuple[Plan, ...]:
        """The plans of every statement of ``query`` (in order), each bound with ``values``."""
        docs = self.documents(query, values, mode)
        return tuple(parse_plan(doc, statement=st.purpose) for doc, st in zip(docs, query.explained, strict=True))

    def documents(self, query: Query, values: Mapping[str, Any], mode: str) -> tuple[Any, ...]:
        """What EXPLAIN (FORMAT JSON) returned for every statement of ``query``, as the server sent it."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        execute = self.analyze and mode != "probe" and (not query.writes or self.scratch)
        read_only = not self.scratch or not execute
        docs = []
        try:
            self.conn.execute("BEGIN READ ONLY" if read_only else "BEGIN")
            if self.inline_values:
                # Citus plans a task's part on its worker, where only SET LOCAL reaches, and only when
                # propagated: set_config() would leave the probe's and the pins' settings on the coordinator.
                self.conn.execute("SET LOCAL citus.propagate_set_commands = 'local'")
            for name, value in self.settings(mode):
                self.conn.execute(sql.SQL("SET LOCAL {} = {}").format(sql.Identifier(name), sql.Literal(value)))
            for i, statement in enumerate(query.explained):
                bound = statement.bind(values)
                if query.cursor:
                    # What a server-side cursor runs: DECLARE plans for the first rows, with the values
                    # bound on every DECLARE (no generic plan is ever used, so generic mode plans the same).
                    text = f"DECLARE {_STATEMENT}_{i} NO SCROLL CURSOR FOR {statement.sql}"
                    docs.append(self._custom(text, bound, execute))
                    continue
                docs.append(self._generic(f"{_STATEMENT}_{i}", statement.sql, bound, execute) if mode == "generic"
                            else self._custom(statement.sql, bound, execute))
        except psycopg.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if isinstance(exc, pg_errors.QueryCanceled):
                first = f"statement_timeout ({self.statement_timeout_ms} ms) cancelled it"
            raise ExplainFailed(f"EXPLAIN of {query.name} ({mode}) failed: {first}") from exc
        finally:
            self.conn.execute("ROLLBACK")
            # A prepared statement outlives the transaction that prepared it.
            if mode == "generic":
                for (prepared,) in self.conn.execute(
                    "SELECT name FROM pg_prepared_statements WHERE name LIKE %s", (f"{_STATEMENT}_%",)
                ).fetchall():
                    self.conn.execute(sql.SQL("DEALLOCATE {}").format(sql.Identifier(prepared)))
        return tuple(docs)

    @staticmethod
    def _options(execute: bool) -> sql.Composable:
        # Timing is never asserted on: TIMING OFF removes its overhead and its noise.
        return sql.SQL("FORMAT JSON, ANALYZE, BUFFERS, TIMING OFF" if execute else "FORMAT JSON")

    def _custom(self, text: str, values: Mapping[str, Any], execute: bool) -> Any:
        stmt = sql.SQL("EXPLAIN ({}) ").format(self._options(execute)) + sql.SQL(text)
        if self.inline_values:
            stmt = sql.SQL(psycopg.ClientCursor(self.conn).mogrify(stmt, values))
            values = {}
        row = self.conn.execute(stmt, values or None).fetchone()
        assert row is not None
        return row[0]

    def _generic(self, name: str, text: str, values: Mapping[str, Any], execute: bool) -> Any:
        positional, names = positional_sql(text)
        self.conn.execute(sql.SQL("PREPARE {} AS ").format(sql.Identifier(name)) + sql.SQL(positional))
        row = self.conn.execute(
            "SELECT array(SELECT format_type(t, NULL) FROM unnest(parameter_types::oid[]) AS t) "
            "FROM pg_prepared_statements WHERE name = %s",
            (name,),
        ).fetchone()
        types: list[str] = row[0] if row else []
        # EXECUTE's arguments cannot be bound parameters inside EXPLAIN (the server answers "there is
        # no parameter $1"), so they are psycopg-quoted literals cast to the prepared types.
        args = sql.SQL(", ").join(
            sql.SQL("CAST({} AS {})").format(sql.Literal(values[param]), sql.SQL(typ))
            for param, typ in zip(names, types, strict=True)
        )
        row = self.conn.execute(
            sql.SQL("EXPLAIN ({}) EXECUTE {}({})").format(self._options(execute), sql.Identifier(name), args)
        ).fetchone()
        assert row is not None
        return row[0]


def recorded_settings(conn: psycopg.Connection, explainer: Explainer) -> list[tuple[str, str]]:
    """The planner settings in force for a custom-mode EXPLAIN, as the server reports them."""
    out = []
    try:
        conn.execute("BEGIN READ ONLY")
        for name, value in explainer.settings("custom"):
            conn.execute("SELECT set_config(%s, %s, true)", (name, value))
        for name in RECORDED:
            row = conn.execute("SELECT current_setting(%s)", (name,)).fetchone()
            out.append((name, str(row[0]) if row else "?"))
    finally:
        conn.execute("ROLLBACK")
    return out
