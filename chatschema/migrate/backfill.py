"""Running batched backfills, and what "exact" means for the summaries they write.

The SQL of a backfill is history and lives with the revisions (``chatschema.migrations.ops``: what
each batch locks, what it writes, the checkpoint). How it is paced is policy and lives here: the
batch size and the pause between batches, progress reports, and (later) the health gates a batch
waits on. Each batch is its own transaction: lock the batch's keys, write their rows, save the
checkpoint, commit. A stopped run resumes after the last committed batch.

Exactness under concurrent sends: a batch locks its conversations FOR UPDATE in a statement of its
own, then recomputes their summaries in a second statement. Under READ COMMITTED the second
statement takes a new snapshot after the locks are held, so it sees every message committed by a
sender the lock waited for; and no new message can be inserted into a locked conversation meanwhile
(the send statement locks the row first, and a plain INSERT's foreign-key check takes FOR KEY SHARE,
which conflicts with FOR UPDATE).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from ..migrations import CHECKPOINT_TABLE
from ..migrations.ops import CREATE_CHECKPOINT, FINISH_CHECKPOINT, SAVE_CHECKPOINT, SUMMARY_BACKFILL, BatchedBackfill
from ..progress import Progress, Warn
from . import control
from .gates import DatabaseMeasure, GatePolicy, Gates, Measure, Wait
from ..vocabulary import PREVIEW_CHARS

__all__ = [
    "NAME",
    "CHECKPOINT_TABLE",
    "Checkpoint",
    "status",
    "run_batches",
    "run",
    "SUMMARY_MISMATCHES",
    "summary_mismatches",
]

NAME = SUMMARY_BACKFILL.name
"""The summary backfill's name in the checkpoint table."""


@dataclass(frozen=True)
class Checkpoint:
    rows_done: int
    last_id: object | None
    finished: bool


def status(conn: psycopg.Connection, name: str = NAME) -> Checkpoint | None:
    """Where backfill ``name`` stands (None before it first ran): what a re-run resumes from."""
    exists = conn.execute("SELECT to_regclass(%s)", (CHECKPOINT_TABLE,)).fetchone()
    if not exists or exists[0] is None:
        return None
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            sql.SQL("SELECT rows_done, last_id, finished_at IS NOT NULL AS finished FROM {} WHERE name = %s")
            .format(sql.Identifier(CHECKPOINT_TABLE)),
            (name,),
        ).fetchone()
    return Checkpoint(int(row["rows_done"]), row["last_id"], bool(row["finished"])) if row else None


def run_batches(
    conn: psycopg.Connection,
    spec: BatchedBackfill,
    *,
    batch_size: int,
    pause_s: float = 0.0,
    progress: Progress | None = None,
    stop_after_batches: int | None = None,
    gates: GatePolicy | None = None,
    report: Warn | None = None,
    measure: Measure | None = None,
) -> int:
    """Run (or resume) ``spec`` on an autocommit connection; returns the rows written this run.

    With ``gates`` every batch first waits until the cluster is fit for it (``chatschema.migrate.gates``:
    replica lag, slots' WAL, vacuum on the table, the archiver's queue), and the batch size adapts to
    the target batch time; ``report`` hears why it waits and how the size changes. ``measure`` replaces
    the catalog readings (tests). Without ``gates`` batches run at the fixed ``batch_size``.
    ``stop_after_batches`` stops early, as an interrupted run would (used by tests).

    Between batches, holding no locks, it waits while the backfill is paused (``control.pause``, by
    ``chatschema backfill pause``) and raises ``BackfillStopped`` when a stop was requested
    (``control.request_stop``: SIGTERM, Ctrl-C); the session's application_name says what it does.
    """
    if not conn.autocommit:
        raise RuntimeError("a backfill commits per batch: pass an autocommit connection")
    conn.execute(CREATE_CHECKPOINT)
    state = status(conn, spec.name)
    if state is not None and state.finished:
        return 0
    last_id, done = (state.last_id, state.rows_done) if state else (None, 0)
    original_name = conn.execute("SELECT current_setting('application_name')").fetchone()[0]
    control.mark_run(conn, spec.name, done)
    try:
        with control.Running():
            return _batches(conn, spec, last_id, done, batch_size=batch_size, pause_s=pause_s, progress=progress,
                            stop_after_batches=stop_after_batches, gates=gates, report=report, measure=measure)
    finally:
        try:
            conn.execute("SELECT set_config('application_name', %s, false)", (original_name,))
            control.end_run(conn, spec.name)
        except psycopg.Error:
            pass  # the connection is gone: the error that ended the run is the one to see


def _hold_while_paused(conn: psycopg.Connection, name: str, done: int, report: Warn | None, poll_s: float) -> None:
    """Wait, between batches and so holding no locks, while a DBA has paused this backfill."""
    if control.is_paused(conn, name) is None:
        return
    control.session_label(conn, name, "paused")
    if report:
        report(f"backfill {name} paused by `chatschema backfill pause` after {done:,} rows, holding no locks; "
               f"`chatschema backfill resume` continues it")
    while control.is_paused(conn, name) is not None:
        control.check_stop(name, done)
        time.sleep(poll_s)
    if report:
        report(f"backfill {name} resumed")


def _batches(
    conn: psycopg.Connection,
    spec: BatchedBackfill,
    last_id: object | None,
    done: int,
    *,
    batch_size: int,
    pause_s: float,
    progress: Progress | None,
    stop_after_batches: int | None,
    gates: GatePolicy | None,
    report: Warn | None,
    measure: Measure | None,
) -> int:
    total = max(control.estimate_rows(conn, spec.table), done)
    updated = batches = 0
    gate = None
    if gates is not None:
        gate = Gates(gates, measure or DatabaseMeasure(conn), spec.table, batch_size, report=report)
    poll_s = (gates.poll_ms if gates is not None else 1000) / 1000

    def waiting(on: Wait) -> None:
        control.session_label(conn, spec.name, f"waiting on {control.GATE_WORDS.get(on.gate, on.gate)}")

    while True:
        control.check_stop(spec.name, done)
        _hold_while_paused(conn, spec.name, done, report, poll_s)
        size = batch_size
        if gate is not None:
            size = gate.wait_until_clear(should_stop=control.stop_requested, on_wait=waiting)
            control.check_stop(spec.name, done)
            wal_before, started = gate.measure.wal_lsn(), time.monotonic()
        control.session_label(conn, spec.name, "batch")
        with conn.transaction():
            if last_id is None:
                rows = conn.execute(spec.lock_first, {"n": size}).fetchall()
            else:
                rows = conn.execute(spec.lock_next, {"after": last_id, "n": size}).fetchall()
            ids = [r[0] for r in rows]
            if ids:
                conn.execute(spec.apply, {"ids": ids})
                last_id = ids[-1]
                conn.execute(SAVE_CHECKPOINT, {"name": spec.name, "last": last_id, "n": len(ids)})
            else:
                for statement in FINISH_CHECKPOINT:
                    conn.execute(statement, {"name": spec.name})
        if not ids:
            break
        if gate is not None:
            gate.after_batch(time.monotonic() - started, gate.measure.wal_lsn() - wal_before, len(ids))
            batch_size = gate.batch_size
        updated += len(ids)
        done += len(ids)
        batches += 1
        if progress:
            progress(spec.name, done, max(total, done))
        if stop_after_batches is not None and batches >= stop_after_batches:
            break
        if pause_s:
            time.sleep(pause_s)
    return updated


def run(
    conn: psycopg.Connection,
    *,
    batch_size: int,
    pause_s: float = 0.0,
    progress: Progress | None = None,
    stop_after_batches: int | None = None,
    gates: GatePolicy | None = None,
    report: Warn | None = None,
    measure: Measure | None = None,
) -> int:
    """Run (or resume) revision 0004's summary backfill: ``run_batches`` of ``SUMMARY_BACKFILL``."""
    return run_batches(conn, SUMMARY_BACKFILL, batch_size=batch_size, pause_s=pause_s, progress=progress,
                       stop_after_batches=stop_after_batches, gates=gates, report=report, measure=measure)


# What "exact" means, written independently of the backfill's SQL: the stored summary of every
# conversation against what its messages say now. Used by the tests and the benchmark.
SUMMARY_MISMATCHES = f"""
SELECT count(*) FROM conversations c
LEFT JOIN LATERAL (SELECT count(*)::int AS n FROM messages m WHERE m.conversation_id = c.id) s ON true
LEFT JOIN LATERAL (
    SELECT m.id, m.created_at, m.content FROM messages m WHERE m.conversation_id = c.id
    ORDER BY m.created_at DESC, m.id DESC LIMIT 1) l ON true
WHERE c.message_count IS DISTINCT FROM s.n
   OR c.last_message_id IS DISTINCT FROM l.id
   OR c.last_activity_at IS DISTINCT FROM COALESCE(l.created_at, c.created_at)
   OR c.last_message_preview IS DISTINCT FROM left(l.content, {PREVIEW_CHARS})
"""


def summary_mismatches(conn: psycopg.Connection) -> int:
    """How many conversations' stored summaries differ from a recomputation from their messages."""
    row = conn.execute(SUMMARY_MISMATCHES).fetchone()
    return int(row[0]) if row else 0
