"""Running a migration under the lock policy: one transaction per revision, retried on lock timeouts.

Alembic's ``command`` functions do the work on a connection chatschema hands them. The runner
applies the lock policy (``Settings``, ``chatschema.migrate.locks``): a revision whose strong lock
could not be taken within lock_timeout has been rolled back as a whole (one transaction per
revision), so upgrading to the same target again re-runs exactly that revision; that is retried with
exponential backoff and jitter, a bounded number of times, for SQLSTATE 55P03 (and 40P01: the deadlock
detector cancelled the revision, not the application) only. Revisions with
autocommit blocks are written to be re-runnable (IF NOT EXISTS, INVALID-leftover repair, the
backfill's checkpoint), so the same retry is safe for them. Before a statement that takes a strong
lock or builds concurrently, the sessions it will wait for are named (``on_warning``); a failure
becomes an error that says what happened, where the database is, and what to do.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from alembic import command
from alembic.config import Config
from psycopg import errors as pg_errors

from .. import server
from ..errors import BackfillStopped, MigrationFailed
from ..progress import Progress, Warn
from ..settings import Settings, format_duration
from . import dependents, encoding, failures, locks, preflight, stamped
from .gates import BuildGate, DatabaseMeasure, GatePolicy
from .chain import (
    DEFAULT_LOCATION,
    RevisionInfo,
    alembic_config,
    check_known,
    connection,
    database_revision,
    resolve,
    script_directory,
    steps,
    title,
)

__all__ = ["AppliedRevision", "upgrade", "downgrade", "policy_lines", "policy_preamble", "policy_warnings", "backoff"]


@dataclass(frozen=True)
class AppliedRevision:
    revision: str
    down_revision: str | None
    direction: str
    title: str
    seconds: float


def policy_preamble(settings: Settings, database: str, revisions: list[RevisionInfo], direction: str) -> list[str]:
    """What is printed before every run: where, which revisions, and the lock policy, one line per class."""
    return [f"{direction.capitalize()} of {database}: {', '.join(r.revision for r in revisions)}. Lock policy:",
            *(f"  - {line}" for line in policy_lines(settings))]


def policy_lines(settings: Settings) -> list[str]:
    """The lock policy a run uses, one line per lock class, for printing before the run."""
    f = format_duration
    return [
        f"strong locks (SHARE and stronger: ALTER TABLE, DROP, plain CREATE INDEX, REFRESH): "
        f"lock_timeout {f(settings.lock_timeout_ms)}, statement_timeout {f(settings.statement_timeout_ms)}, "
        f"a revision that times out on a lock is rolled back and retried up to {settings.lock_retries} times "
        f"(backoff from {f(settings.retry_delay_ms)}, doubling, at most {f(settings.retry_max_delay_ms)}, with jitter)",
        f"online (CONCURRENTLY, VALIDATE, populating a new view): lock_timeout {f(settings.concurrent_lock_timeout_ms)}, "
        f"statement_timeout {f(settings.concurrent_statement_timeout_ms)}, not retried (an INVALID leftover is "
        f"rebuilt on the next run)",
        f"backfill: batches of {settings.backfill_batch_size} conversations, each committed, "
        f"pause {f(settings.backfill_pause_ms)} between batches",
    ]


@dataclass
class _RunState:
    """What the statement observer saw during one attempt."""

    lock_timeout_ms: int
    statement_timeout_ms: int
    long_transaction_s: float = 1.0
    direction: str = "upgrade"
    target: str = "head"
    last_revision: str | None = None
    applied: list[AppliedRevision] = field(default_factory=list)
    warned: bool = False
    timeouts_at: dict[str, tuple[int, int]] = field(default_factory=dict)
    below_stamp: bool = False  # a downgrade may undo the revision the database was stamped at
    crossed_stamp: str | None = None


class _BuildGates:
    """The replica gates before each CONCURRENTLY statement (``gates.BuildGate``), on a connection of
    their own opened at the first such statement, so a run without one opens nothing."""

    def __init__(self, info: str, policy: GatePolicy, warn: Warn | None) -> None:
        self.info, self.policy, self.warn = info, policy, warn
        self.conn: psycopg.Connection | None = None
        self.gate: BuildGate | None = None

    def before(self, lock: locks.StatementLock) -> None:
        if "concurrently" not in lock.kind:
            return
        what = f"{lock.kind.upper()} on {lock.locks[0].relation}" if lock.locks else lock.kind.upper()
        try:
            if self.gate is None:
                self.conn = server.connect(self.info, autocommit=True)
                self.gate = BuildGate(self.policy, DatabaseMeasure(self.conn), report=self.warn)
            self.gate.before(what)
        except psycopg.Error as exc:  # a gate that cannot read the standbys must not stop the build
            if self.warn:
                self.warn(f"could not read the standbys before {what}: {str(exc).strip().splitlines()[0]}")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def _observer(state: _RunState, monitor: psycopg.Connection | None, ours: tuple[int, ...], warn: Warn | None,
              build_gates: _BuildGates) -> Any:
    def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if setting := locks.timeout_setting(statement):
            name, value = setting
            if name == "lock_timeout":
                state.lock_timeout_ms = value
            else:
                state.statement_timeout_ms = value
            return
        state.timeouts_at[statement] = (state.lock_timeout_ms, state.statement_timeout_ms)
        lock = locks.classify(statement)
        build_gates.before(lock)
        if monitor is None or warn is None:
            return
        if lock.lock_class not in ("strong", "online") or not lock.locks or all(lk.new for lk in lock.locks):
            return
        try:
            _warn_blockers(monitor, lock, ours, warn, state)
        except psycopg.Error as exc:  # looking is a courtesy; it must never stop the migration
            warn(f"could not look for blocking sessions: {str(exc).strip().splitlines()[0]}")

    return before


def _warn_blockers(monitor: psycopg.Connection, lock: locks.StatementLock, ours: tuple[int, ...], warn: Warn,
                   state: _RunState) -> None:
    live = [lk for lk in lock.locks if not lk.new]
    if lock.kind in ("create index concurrently", "reindex concurrently"):
        target = live[0]
        holders = locks.blockers(monitor, failures.waited_for(lock, target), ours=ours,
                                 min_age_s=state.long_transaction_s)
        snapshots = [b for b in locks.old_snapshots(monitor, ours=ours, min_age_s=state.long_transaction_s)
                     if b.pid not in {h.pid for h in holders}]
        found = holders + snapshots
        if found:
            warn(
                f"{lock.kind} on {target.relation} will wait for these sessions (it waits for every transaction "
                f"holding an older snapshot, up to lock_timeout {format_duration(state.lock_timeout_ms)}): "
                + "; ".join(str(b) for b in found)
            )
        return
    for target in live:
        holders = locks.blockers(monitor, target, ours=ours, min_age_s=state.long_transaction_s)
        if holders:
            warn(
                f"{lock.kind} needs {target.mode_name} on {target.relation}, which these sessions hold conflicting "
                f"locks on; it will queue behind them (and block {target.blocks.removeprefix('blocks ')} meanwhile) "
                f"for at most lock_timeout {format_duration(state.lock_timeout_ms)}: "
                + "; ".join(str(b) for b in holders)
            )


def policy_warnings(settings: Settings, conn: psycopg.Connection) -> list[str]:
    """What in the server's configuration works against the lock policy."""
    found = []
    raw = conn.execute("SELECT setting FROM pg_settings WHERE name = 'deadlock_timeout'").fetchone()
    deadlock_ms = int(raw[0]) if raw else 1000
    if settings.lock_timeout_ms == 0 or settings.lock_timeout_ms >= deadlock_ms:
        found.append(
            f"lock_timeout {format_duration(settings.lock_timeout_ms)} is not below the server's deadlock_timeout "
            f"{format_duration(deadlock_ms)}: when an application transaction and this migration wait on each other, "
            f"PostgreSQL will cancel the application's transaction instead of the migration's statement; "
            f"use a --lock-timeout below {format_duration(deadlock_ms)}"
        )
    return found


def _attempt(
    settings: Settings,
    fn: Callable[[Config], None],
    state: _RunState,
    *,
    progress: Progress | None,
    on_revision: Callable[[AppliedRevision], None] | None,
    warn: Warn | None,
    location: str,
    on_gate: Warn | None = None,
) -> str:
    scripts = script_directory(location)
    # env.py sets the strong class's timeouts before the observer is attached.
    state.lock_timeout_ms, state.statement_timeout_ms = settings.lock_timeout_ms, settings.statement_timeout_ms
    with connection(settings) as (info, conn):
        state.last_revision = database_revision(conn)
        conn.rollback()
        check_known(state.last_revision, location)
        if not state.applied:
            failures.refuse_wrong_direction(state.last_revision, state.target, state.direction, location)
            if state.direction == "upgrade":
                _preflight(info, settings, steps(state.last_revision, state.target, location)[1], location)
            else:
                with server.connect(info, autocommit=True) as raw:
                    state.crossed_stamp = stamped.crossed(raw, state.last_revision, state.target,
                                                          below_stamp=state.below_stamp, location=location)
        cfg = alembic_config(settings, location=location)
        cfg.attributes["connection"] = conn
        cfg.attributes["progress"] = progress
        cfg.attributes["backfill_report"] = warn  # the health gates' waits and batch-size changes
        started = {"at": time.perf_counter()}

        def on_version_apply(*, ctx, step, heads, run_args):  # type: ignore[no-untyped-def]
            now = time.perf_counter()
            rev = AppliedRevision(
                revision=step.up_revision_id,
                down_revision=step.down_revision_ids[0] if step.down_revision_ids else None,
                direction="upgrade" if step.is_upgrade else "downgrade",
                title=title(scripts.get_revision(step.up_revision_id)),
                seconds=now - started["at"],
            )
            state.applied.append(rev)
            state.last_revision = rev.revision if rev.direction == "upgrade" else rev.down_revision
            if on_revision:
                on_revision(rev)
            started["at"] = time.perf_counter()

        cfg.attributes["on_version_apply"] = on_version_apply
        ours = (conn.connection.driver_connection.info.backend_pid,)
        monitor = server.connect(info, autocommit=True) if warn is not None else None
        if monitor is not None and warn is not None and not state.applied and not state.warned:
            state.warned = True
            for message in policy_warnings(settings, monitor):
                warn(message)
        build_gates = _BuildGates(info, GatePolicy.from_settings(settings), on_gate)
        try:
            cfg.attributes["before_statement"] = _observer(state, monitor, ours, warn, build_gates)
            fn(cfg)
        finally:
            build_gates.close()
            if monitor is not None:
                monitor.close()
        return info


def _preflight(info: str, settings: Settings, pending: list[RevisionInfo], location: str) -> None:
    """Stop before changing anything when a pending revision would fail validating a CHECK, or could
    not drop a key because an application's foreign key depends on it."""
    with server.connect(info, autocommit=True) as conn:
        found = [preflight.describe(v) for v in preflight.violations(conn, pending, settings, location=location)]
        found += [dependents.describe(d)
                  for d in dependents.blocking_foreign_keys(conn, pending, settings, location=location)]
    if found:
        raise MigrationFailed(" / ".join(found) + ". Nothing was changed: the upgrade did not start.")


def backoff(settings: Settings, attempt: int, rng: random.Random) -> float:
    """Seconds to wait before retry ``attempt`` (1-based): exponential, capped, with jitter."""
    ceiling = min(settings.retry_max_delay_ms, settings.retry_delay_ms * 2 ** (attempt - 1)) / 1000
    return ceiling * rng.uniform(0.5, 1.0)


def _next_revision(state: _RunState, direction: str, location: str) -> str:
    """The revision that was running when an attempt failed: the next one from where the database is."""
    if direction == "downgrade":
        return state.last_revision or "(none)"
    _, ahead = steps(state.last_revision, "head", location)
    return ahead[0].revision if ahead else "(none)"


def _run(
    settings: Settings,
    revision: str,
    direction: str,
    *,
    progress: Progress | None,
    on_revision: Callable[[AppliedRevision], None] | None,
    on_warning: Warn | None,
    location: str,
    on_gate: Warn | None = None,
    below_stamp: bool = False,
    require_utf8: bool = True,
) -> list[AppliedRevision]:
    target = resolve(revision, location)
    if direction == "upgrade" and require_utf8:
        encoding.require_utf8(server.conninfo(settings), "upgrade")  # before the guard, which may record
    if location == DEFAULT_LOCATION:
        from .adopt import guard  # adopting needs the runner (it renders each revision's schema)

        guard(settings, on_warning=on_warning)

    def fn(cfg: Config) -> None:
        (command.upgrade if direction == "upgrade" else command.downgrade)(cfg, target)

    state = _RunState(settings.lock_timeout_ms, settings.statement_timeout_ms, settings.long_transaction_ms / 1000,
                      direction=direction, target=target, below_stamp=below_stamp)
    rng = random.Random()
    first_try = time.monotonic()
    attempt = 0
    while True:
        info = ""
        try:
            info = _attempt(settings, fn, state, progress=progress, on_revision=on_revision, warn=on_warning,
                            location=location, on_gate=on_gate)
            if state.crossed_stamp:
                with server.connect(info, autocommit=True) as raw:
                    stamped.forget(raw)
            return state.applied
        except BackfillStopped:
            raise  # not a failure: the checkpoint is committed and a re-run continues
        except Exception as exc:
            failing = _next_revision(state, direction, location)
            statement = failures.failed_statement(exc)
            lock = locks.classify(statement) if statement else locks.StatementLock("row locks", "rows")
            error = failures.sqlstate_error(exc)
            # A deadlock the detector broke by cancelling this revision is a lock wait like a timeout:
            # the revision was rolled back as a whole, and the application's transaction went on.
            deadlock = isinstance(error, pg_errors.DeadlockDetected)
            retriable = (isinstance(error, pg_errors.LockNotAvailable) or deadlock) and lock.lock_class != "online"
            if retriable and attempt < settings.lock_retries:
                attempt += 1
                delay = backoff(settings, attempt, rng)
                if on_warning:
                    found = failures.kept(info or server.conninfo(settings))
                    undone = (f"the batch in progress was rolled back; {found}, and the retry resumes after them"
                              if found else "the revision was rolled back")
                    on_warning(
                        f"{'a deadlock with another session cancelled' if deadlock else 'lock_timeout expired in'} "
                        f"revision {failing} ({failures.what(lock)}); {undone}; "
                        f"retry {attempt} of {settings.lock_retries} in {delay:.1f}s"
                    )
                time.sleep(delay)
                continue
            info = info or server.conninfo(settings)
            attempted = failures.Attempt(
                failing, direction, state.last_revision, state.lock_timeout_ms, state.statement_timeout_ms,
                state.long_transaction_s, attempts=attempt + 1, seconds=time.monotonic() - first_try)
            raise failures.translate(exc, info, attempted, lock, state.timeouts_at) from exc


def upgrade(
    settings: Settings,
    revision: str = "head",
    *,
    progress: Progress | None = None,
    on_revision: Callable[[AppliedRevision], None] | None = None,
    on_warning: Warn | None = None,
    location: str = DEFAULT_LOCATION,
    on_gate: Warn | None = None,
    require_utf8: bool = True,
) -> list[AppliedRevision]:
    """Upgrade the database to ``revision``; returns the revisions applied, each with its duration.

    ``on_warning`` receives retries and the sessions that would block a strong lock or a
    concurrent build; without it nobody is looked for before statements run. ``on_gate`` hears, before
    each CONCURRENTLY statement, the standbys that will receive its WAL and their lag, and why it waits
    (``gates.BuildGate``; it waits whether or not anyone listens). A database that is not UTF8 is
    refused (``chatschema.migrate.encoding``) unless ``require_utf8`` is False, for a scratch schema
    that only gets compared.
    """
    return _run(settings, revision, "upgrade", progress=progress, on_revision=on_revision,
                on_warning=on_warning, location=location, on_gate=on_gate, require_utf8=require_utf8)


def downgrade(
    settings: Settings,
    revision: str,
    *,
    on_revision: Callable[[AppliedRevision], None] | None = None,
    on_warning: Warn | None = None,
    location: str = DEFAULT_LOCATION,
    on_gate: Warn | None = None,
    below_stamp: bool = False,
) -> list[AppliedRevision]:
    """Downgrade the database to ``revision`` ('base' removes everything chatschema created);
    ``on_warning`` and ``on_gate`` as for ``upgrade``.

    Below the revision a database was stamped at (adopted) only with ``below_stamp``: those
    revisions' downgrades would drop what chatschema did not create.
    """
    return _run(settings, revision, "downgrade", progress=None, on_revision=on_revision,
                on_warning=on_warning, location=location, on_gate=on_gate, below_stamp=below_stamp)
