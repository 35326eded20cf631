"""Watching and steering a running backfill: status, pause, resume, and a stop that keeps the checkpoint.

Where the state lives (see docs/design.md, "Pausing a backfill"): rows of chatschema's checkpoint table
under reserved names beside the backfill's own row, ``<name>/paused`` (a DBA asked it to pause; its
``updated_at`` is when) and ``<name>/run`` (while a run runs, its start: ``rows_done`` then and
``updated_at``, from which the rate is computed; deleted when the run ends). The table's DDL is frozen with revision 0004, and
this needs no new column: the rows go when the table goes (downgrade below 0004), ``check`` and
``doctor`` already leave the table out, and a backfill's name never contains '/'. What the running
backfill is doing right now (a batch, waiting on a gate, paused) is its session's
``application_name``, so ``pg_stat_activity`` (and any monitoring a DBA already has) shows it.

A stop is asked for in-process (``request_stop``, safe from a signal handler): the run finishes the
batch it is in, whose checkpoint commits with it, and raises ``BackfillStopped`` before the next.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from .. import server
from ..errors import BackfillStopped
from ..migrations import CHECKPOINT_TABLE
from ..migrations.ops import CREATE_CHECKPOINT, SUMMARY_BACKFILL
from ..settings import Settings

__all__ = [
    "BackfillStatus",
    "backfill_status",
    "pause",
    "resume",
    "request_stop",
    "clear_stop",
    "stop_requested",
    "running",
    "is_paused",
    "estimate_rows",
    "mark_run",
    "end_run",
    "session_label",
    "GATE_WORDS",
    "APPLICATION_PREFIX",
]

APPLICATION_PREFIX = "chatschema backfill "
_stop = threading.Event()
_running = [0]  # backfills running in this process (the signal handler asks only when one is)


def request_stop() -> None:
    """Ask every backfill running in this process to stop after its current batch."""
    _stop.set()


def clear_stop() -> None:
    _stop.clear()


def stop_requested() -> bool:
    return _stop.is_set()


def running() -> bool:
    """Whether a backfill runs in this process now."""
    return _running[0] > 0


def estimate_rows(conn: psycopg.Connection, table: str) -> int:
    """The planner's row count of ``table``, or a count when it was never analyzed (0 if it is missing)."""
    row = conn.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)", (table,)).fetchone()
    if row is None:
        return 0
    if row[0] > 0:
        return int(row[0])
    row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()
    return int(row[0]) if row else 0


def _table() -> sql.Identifier:
    return sql.Identifier(CHECKPOINT_TABLE)


def _exists(conn: psycopg.Connection) -> bool:
    row = conn.execute("SELECT to_regclass(%s)", (CHECKPOINT_TABLE,)).fetchone()
    return bool(row and row[0] is not None)


def is_paused(conn: psycopg.Connection, name: str) -> datetime | None:
    """When a DBA paused backfill ``name`` (None: not paused)."""
    row = conn.execute(sql.SQL("SELECT updated_at FROM {} WHERE name = %s").format(_table()),
                       (f"{name}/paused",)).fetchone()
    return row[0] if row else None


def mark_run(conn: psycopg.Connection, name: str, rows_done: int) -> None:
    """Record that a run of ``name`` starts now at ``rows_done`` (for the rate ``status`` shows)."""
    conn.execute(sql.SQL(
        "INSERT INTO {t} (name, rows_done, updated_at) VALUES (%s, %s, clock_timestamp()) "
        "ON CONFLICT (name) DO UPDATE SET rows_done = EXCLUDED.rows_done, updated_at = EXCLUDED.updated_at"
    ).format(t=_table()), (f"{name}/run", rows_done))


def end_run(conn: psycopg.Connection, name: str) -> None:
    """Forget the run's start when it ends (a killed run's row is overwritten by the next)."""
    conn.execute(sql.SQL("DELETE FROM {} WHERE name = %s").format(_table()), (f"{name}/run",))


# application_name keeps 63 bytes, and "chatschema backfill conversation_summaries: " takes 44 of them:
# what the session does must say it in 19 (rows done are in the checkpoint, not in the label).
GATE_WORDS = {"replica lag": "replicas"}


def session_label(conn: psycopg.Connection, name: str, doing: str) -> None:
    """Show what the backfill does in its session's application_name (pg_stat_activity)."""
    conn.execute("SELECT set_config('application_name', %s, false)", (f"{APPLICATION_PREFIX}{name}: {doing}"[:63],))


class Running:
    """Counts a backfill as running in this process for the length of a ``with`` block."""

    def __enter__(self) -> "Running":
        _running[0] += 1
        return self

    def __exit__(self, *exc: object) -> None:
        _running[0] -= 1


def check_stop(name: str, done: int) -> None:
    if _stop.is_set():
        raise BackfillStopped(f"backfill {name} stopped after {done:,} rows, its checkpoint committed; "
                              f"paused; rerun to continue")


@dataclass(frozen=True)
class BackfillStatus:
    """Where a backfill stands, as ``chatschema backfill status`` shows it."""

    name: str
    state: str  # "not started", "running", "waiting", "paused", "stopped", "finished"
    rows_done: int
    rows_total: int
    doing: str | None  # the running session's own word: "batch", "waiting on replicas", "paused"
    pid: int | None  # the running session
    paused_since: datetime | None
    rate_per_s: float | None
    eta_s: float | None
    updated_at: datetime | None


def _status(conn: psycopg.Connection, name: str) -> BackfillStatus:
    total = estimate_rows(conn, SUMMARY_BACKFILL.table) if name == SUMMARY_BACKFILL.name else 0
    with conn.cursor(row_factory=dict_row) as cur:
        session = cur.execute(
            "SELECT pid, substr(application_name, length(%s) + 1) AS doing FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name LIKE %s ORDER BY backend_start LIMIT 1",
            (f"{APPLICATION_PREFIX}{name}: ", f"{APPLICATION_PREFIX}{name}: %")).fetchone()
        rows = {} if not _exists(conn) else {r["name"]: r for r in cur.execute(
            sql.SQL("SELECT name, rows_done, finished_at, updated_at, clock_timestamp() AS now FROM {} "
                    "WHERE name IN (%s, %s, %s)").format(_table()),
            (name, f"{name}/paused", f"{name}/run")).fetchall()}
    own, paused, run = rows.get(name), rows.get(f"{name}/paused"), rows.get(f"{name}/run")
    done = int(own["rows_done"]) if own else 0
    total = max(total, done)
    rate = eta = None
    if own and own["finished_at"] is not None:
        state = "finished"
    elif session is not None:
        doing = session["doing"]
        state = "paused" if doing.startswith("paused") else "waiting" if doing.startswith("waiting") else "running"
        if run is not None:
            seconds = (run["now"] - run["updated_at"]).total_seconds()
            if seconds > 0 and done > run["rows_done"]:
                rate = (done - int(run["rows_done"])) / seconds
                eta = max(total - done, 0) / rate
    elif paused is not None:
        state = "paused"
    else:
        state = "stopped" if own else "not started"
    return BackfillStatus(
        name=name, state=state, rows_done=done, rows_total=total, doing=session["doing"] if session else None,
        pid=session["pid"] if session else None, paused_since=paused["updated_at"] if paused else None,
        rate_per_s=rate, eta_s=eta, updated_at=own["updated_at"] if own else None)


def backfill_status(settings: Settings, name: str = SUMMARY_BACKFILL.name) -> BackfillStatus:
    """What backfill ``name`` does: rows done and left, rate, ETA, the gate it waits on (read-only)."""
    with server.connect(server.conninfo(settings), autocommit=True) as conn:
        return _status(conn, name)


def pause(settings: Settings, name: str = SUMMARY_BACKFILL.name) -> BackfillStatus:
    """Ask backfill ``name`` to pause before its next batch (a running one waits, holding no locks; a
    later run waits at its start) until ``resume``. Creates chatschema's checkpoint table if needed."""
    with server.connect(server.conninfo(settings), autocommit=True) as conn:
        conn.execute(CREATE_CHECKPOINT)
        conn.execute(sql.SQL(
            "INSERT INTO {} (name, updated_at) VALUES (%s, now()) ON CONFLICT (name) DO NOTHING").format(_table()),
            (f"{name}/paused",))
        return _status(conn, name)


def resume(settings: Settings, name: str = SUMMARY_BACKFILL.name) -> BackfillStatus:
    """Lift a pause of backfill ``name``: a running one continues with its next batch."""
    with server.connect(server.conninfo(settings), autocommit=True) as conn:
        if _exists(conn):
            conn.execute(sql.SQL("DELETE FROM {} WHERE name = %s").format(_table()), (f"{name}/paused",))
        return _status(conn, name)
