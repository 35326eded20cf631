"""``chatschema distribute``: the tables onto a Citus cluster, co-located by owner, and the record of it.

Refuses, naming the blocker, unless the database is at head, has the citus extension, and
``readiness`` finds nothing ``create_distributed_table`` would reject. Each call takes EXCLUSIVE on
its table while the rows are copied into the shards (reads go on, writes wait), so the dry run says
how much each call moves. Distributing is done once per table: a table Citus already holds is
skipped (a re-run finishes a stopped one). What was distributed is recorded in
``chatschema_distribution`` (chatschema's bookkeeping), which ``check`` compares with Citus's metadata.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from .. import migrate, server
from ..errors import ConfigError
from ..migrations import DISTRIBUTION_TABLE
from ..settings import Settings
from .. import api_citus as send
from . import LAYOUT, Distributed
from . import rollups
from .readiness import Blocker, schema_blockers

__all__ = ["Call", "DistributionPlan", "plan", "distribute", "recorded", "layout_differences", "CREATE_RECORD"]

CREATE_RECORD = f"""
CREATE TABLE IF NOT EXISTS {DISTRIBUTION_TABLE} (
    table_name          text PRIMARY KEY,
    distribution_column text NOT NULL,
    colocate_with       text,
    shard_count         integer NOT NULL,
    distributed_at      timestamptz NOT NULL DEFAULT now()
)"""


@dataclass(frozen=True)
class Call:
    table: Distributed
    sql: str
    rows: int
    bytes: int
    done: bool  # Citus holds it already

    @property
    def locks(self) -> str:
        return (f"EXCLUSIVE on {self.table.table} while its rows are copied into the shards: reads continue, "
                f"writes wait")


@dataclass(frozen=True)
class DistributionPlan:
    revision: str | None
    calls: tuple[Call, ...]
    shard_count: int
    workers: int
    warnings: tuple[Blocker, ...]  # what breaks once distributed (materialized views), not refused
    send_function: str = send.DISTRIBUTE_FUNCTION  # the delegated send, created and distributed after the tables
    send_function_done: bool = False  # Citus holds it already
    rollups_done: tuple[str, ...] = ()  # the rollup tables Citus holds already
    refreshed: rollups.RollupRefresh | None = None  # the rollups' first refresh, once distributed

    @property
    def rollup_calls(self) -> tuple[tuple[str, bool], ...]:
        """(call, done) for each rollup table: created if missing, then distributed."""
        reference = sql.SQL("SELECT create_reference_table({})").format(sql.Literal(rollups.REFERENCE))
        return ((_call_sql(rollups.DISTRIBUTED), rollups.DISTRIBUTED.table in self.rollups_done),
                (reference.as_string(None), rollups.REFERENCE in self.rollups_done))

    @property
    def send_function_note(self) -> str:
        return ("chatschema_send_message (PL/pgSQL, chatschema's own) created, then delegated to the worker of "
                "p_user_id's shards: `chatschema.api_citus.send_message` runs a send as one task")


def _call_sql(d: Distributed) -> str:
    colocate = sql.SQL(", colocate_with => {}").format(sql.Literal(d.colocate_with)) if d.colocate_with else sql.SQL("")
    return sql.SQL("SELECT create_distributed_table({}, {}{})").format(
        sql.Literal(d.table), sql.Literal(d.column), colocate).as_string(None)


def plan(settings: Settings) -> DistributionPlan:
    """What ``distribute`` would do on the coordinator of ``settings``; raises ConfigError naming the blocker."""
    revision = migrate.current(settings)
    head = migrate.history()[-1].revision
    if revision != head:
        raise ConfigError(f"the database is at {revision or 'no revision'}, not at {head}, the distribution-ready "
                          f"head: run `chatschema upgrade` first; nothing was distributed")
    with server.connect(settings.dsn, autocommit=True) as conn, conn.cursor(row_factory=dict_row) as cur:
        if cur.execute("SELECT 1 FROM pg_extension WHERE extname = 'citus'").fetchone() is None:
            raise ConfigError("the citus extension is not installed in this database (CREATE EXTENSION citus, on "
                              "a coordinator with its workers added); nothing was distributed")
        held = {r["t"] for r in cur.execute("SELECT logicalrelid::regclass::text AS t FROM pg_dist_partition")}
        found = schema_blockers(conn)
        refused = [b for b in found if b.refused]
        if refused:
            raise ConfigError(f"Citus would refuse: {refused[0]}" + (f" (and {len(refused) - 1} more: "
                              f"`chatschema lint --citus` lists them)" if len(refused) > 1 else "")
                              + "; nothing was distributed")
        shard_count = int(cur.execute("SELECT current_setting('citus.shard_count')::int AS n").fetchone()["n"])
        workers = int(cur.execute("SELECT count(*) AS n FROM pg_dist_node WHERE shouldhaveshards AND isactive "
                                  "AND noderole = 'primary' AND groupid <> 0").fetchone()["n"])
        calls = []
        for d in LAYOUT:
            size = cur.execute("SELECT greatest(reltuples, 0)::bigint AS rows, pg_total_relation_size(oid) AS bytes "
                               "FROM pg_class WHERE oid = to_regclass(%s)", (d.table,)).fetchone()
            calls.append(Call(d, _call_sql(d), int(size["rows"]), int(size["bytes"]), d.table in held))
        # a function not created yet has no oid (NULL), which matches no row; one delegated without
        # force_delegation (before it was the default here) is delegated again, with it
        function_done = bool(cur.execute("SELECT count(*) AS n FROM pg_dist_object WHERE objid = "
                                         "to_regprocedure(%s)::oid AND force_delegation",
                                         (send.FUNCTION,)).fetchone()["n"])
        rollups_done = tuple(t for t in rollups.TABLES if t in held)
    return DistributionPlan(revision, tuple(calls), shard_count, workers,
                            tuple(b for b in found if not b.refused), send_function_done=function_done,
                            rollups_done=rollups_done)


def distribute(settings: Settings) -> DistributionPlan:
    """Distribute every table of LAYOUT not yet distributed, recording each; returns the plan it ran."""
    planned = plan(settings)
    with server.connect(settings.dsn, autocommit=True) as conn:
        conn.execute(CREATE_RECORD)
        for call in planned.calls:
            if not call.done:
                with conn.transaction():
                    conn.execute(call.sql)
                    _record(conn, call.table, planned.shard_count)
            else:
                _record(conn, call.table, planned.shard_count)
        # CREATE OR REPLACE: a re-run brings an older body up to date (Citus propagates it to the workers).
        conn.execute(send.CREATE_FUNCTION)
        if not planned.send_function_done:
            conn.execute(send.DISTRIBUTE_FUNCTION)
        for statement in rollups.CREATE:
            conn.execute(statement)
        for call, done in planned.rollup_calls:
            if not done:
                conn.execute(call)
        _record(conn, rollups.DISTRIBUTED, planned.shard_count)
        # The first refresh covers what the rollups miss (all history when new); idempotent on a re-run.
        refreshed = rollups.refresh_rollups(conn)
    return replace(planned, refreshed=refreshed)


def _record(conn: psycopg.Connection, d: Distributed, shard_count: int) -> None:
    conn.execute(
        sql.SQL("INSERT INTO {} (table_name, distribution_column, colocate_with, shard_count) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (table_name) DO NOTHING").format(sql.Identifier(DISTRIBUTION_TABLE)),
        (d.table, d.column, d.colocate_with, shard_count))


def recorded(conn: psycopg.Connection) -> list[Distributed]:
    """What chatschema_distribution says was distributed (empty when nothing was)."""
    if conn.execute("SELECT to_regclass(%s)", (DISTRIBUTION_TABLE,)).fetchone()[0] is None:
        return []
    rows = conn.execute(sql.SQL("SELECT table_name, distribution_column, colocate_with FROM {} ORDER BY table_name")
                        .format(sql.Identifier(DISTRIBUTION_TABLE))).fetchall()
    return [Distributed(*row) for row in rows]


_CITUS_LAYOUT = """
SELECT p.logicalrelid::regclass::text AS table_name, column_to_column_name(p.logicalrelid, p.partkey) AS column,
       p.colocationid
  FROM pg_dist_partition p
"""


def layout_differences(conn: psycopg.Connection) -> list[str]:
    """How Citus's layout differs from the recorded one: a table not distributed, by another column, not co-located."""
    expected = recorded(conn)
    if not expected:
        return []
    if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'citus'").fetchone() is None:
        tables = ", ".join(d.table for d in expected)
        return [f"{tables} recorded as distributed (chatschema_distribution), but the citus extension is not installed"]
    with conn.cursor(row_factory=dict_row) as cur:
        actual = {r["table_name"]: r for r in cur.execute(_CITUS_LAYOUT).fetchall()}
    out = []
    for d in expected:
        have = actual.get(d.table)
        if have is None:
            out.append(f"{d.table} was recorded as distributed by {d.column} but Citus does not hold it")
        elif have["column"] != d.column:
            out.append(f"{d.table} is distributed by {have['column']}, recorded as {d.column}")
        elif d.colocate_with and d.colocate_with in actual and actual[d.colocate_with]["colocationid"] != have["colocationid"]:
            out.append(f"{d.table} is not co-located with {d.colocate_with}")
    return out
