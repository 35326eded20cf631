"""The migration API: upgrade, downgrade, current, history, offline SQL, the dry-run plan.

Alembic's ``command`` functions do the work; chatschema builds their ``Config`` in code
(``script_location = chatschema:migrations``), hands them a connection, and turns their failures
into errors a DBA can act on.

The runner applies the lock policy (``Settings``, ``chatschema.locks``): a revision whose strong
lock could not be taken within lock_timeout has been rolled back as a whole (one transaction per
revision), so upgrading to the same target again re-runs exactly that revision; that is retried
with exponential backoff and jitter, a bounded number of times, for SQLSTATE 55P03 only.
Revisions with autocommit blocks are written to be re-runnable (IF NOT EXISTS, INVALID-leftover
repair, the backfill's checkpoint), so the same retry is safe for them.
"""

from __future__ import annotations

import io
import random
import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from alembic.util import CommandError
from psycopg import errors as pg_errors

from .. import server
from . import backfill, locks
from ..errors import LockTimeout, MigrationFailed, UnknownRevision
from ..settings import Settings, format_duration

__all__ = [
    "AppliedRevision",
    "RevisionInfo",
    "Emitted",
    "PlannedStatement",
    "PlannedRevision",
    "RelationSize",
    "Plan",
    "DEFAULT_LOCATION",
    "alembic_config",
    "script_directory",
    "history",
    "current",
    "pending",
    "upgrade",
    "downgrade",
    "offline_sql",
    "render",
    "planned_statements",
    "plan",
    "policy_lines",
    "policy_warnings",
    "engine_for",
]

DEFAULT_LOCATION = "chatschema:migrations"
Progress = Callable[[str, int, int], None]
Warn = Callable[[str], None]


@dataclass(frozen=True)
class AppliedRevision:
    revision: str
    down_revision: str | None
    direction: str
    title: str
    seconds: float


@dataclass(frozen=True)
class RevisionInfo:
    revision: str
    down_revision: str | None
    title: str
    doc: str
    path: str


def alembic_config(settings: Settings | None = None, *, location: str = DEFAULT_LOCATION) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", location)
    if settings is not None:
        cfg.attributes.update(
            lock_timeout_ms=settings.lock_timeout_ms,
            statement_timeout_ms=settings.statement_timeout_ms,
            concurrent_lock_timeout_ms=settings.concurrent_lock_timeout_ms,
            concurrent_statement_timeout_ms=settings.concurrent_statement_timeout_ms,
            backfill_batch_size=settings.backfill_batch_size,
            backfill_pause_s=settings.backfill_pause_ms / 1000,
        )
    return cfg


def script_directory(location: str = DEFAULT_LOCATION) -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config(location=location))


def _title(script: Script) -> str:
    return (script.doc or "").strip().splitlines()[0].rstrip(".") if script.doc else script.revision


def _down(script: Script) -> str | None:
    down = script.down_revision
    return down if isinstance(down, str) or down is None else ",".join(down)


def history(location: str = DEFAULT_LOCATION) -> list[RevisionInfo]:
    """Every revision, oldest first."""
    scripts = list(script_directory(location).walk_revisions("base", "heads"))
    scripts.reverse()
    return [RevisionInfo(s.revision, _down(s), _title(s), s.longdoc or "", s.path) for s in scripts]


def _resolve(revision: str, location: str = DEFAULT_LOCATION) -> str:
    scripts = script_directory(location)
    if revision in ("head", "heads", "base"):
        return revision
    try:
        found = scripts.get_revision(revision)
    except CommandError:
        found = None
    if found is None:
        known = ", ".join(r.revision for r in history(location))
        raise UnknownRevision(f"unknown revision {revision!r}; known revisions are {known} (see `chatschema history`)")
    return found.revision


def engine_for(info: str) -> sa.Engine:
    """A SQLAlchemy engine whose connections come from psycopg with exactly this conninfo."""
    return sa.create_engine("postgresql+psycopg://", creator=lambda: server.connect(info), poolclass=sa.NullPool)


@contextmanager
def _connection(settings: Settings) -> Iterator[tuple[str, sa.Connection]]:
    info = server.conninfo(settings)
    engine = engine_for(info)
    try:
        with engine.connect() as conn:
            yield info, conn
    finally:
        engine.dispose()


def _db_revision(conn: sa.Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def current(settings: Settings) -> str | None:
    """The database's revision (None for a database chatschema never migrated)."""
    with _connection(settings) as (_, conn):
        rev = _db_revision(conn)
        _check_known(rev, settings)
        return rev


def _check_known(rev: str | None, settings: Settings | None = None, location: str = DEFAULT_LOCATION) -> None:
    if rev is None:
        return
    try:
        known = script_directory(location).get_revision(rev)
    except CommandError:
        known = None
    if known is None:
        raise UnknownRevision(
            f"the database is at revision {rev!r}, which this version of chatschema does not know "
            f"(migrated by a newer chatschema or another tool); nothing was changed"
        )


def _steps(current_rev: str | None, target: str, location: str = DEFAULT_LOCATION) -> tuple[str, list[RevisionInfo]]:
    """('upgrade' | 'downgrade', the revisions that would run, in the order they run)."""
    chain = history(location)
    index = {r.revision: i for i, r in enumerate(chain)}
    here = index[current_rev] if current_rev else -1
    there = {"base": -1, "head": len(chain) - 1, "heads": len(chain) - 1}.get(target, index.get(target, -1))
    if there >= here:
        return "upgrade", chain[here + 1 : there + 1]
    return "downgrade", list(reversed(chain[there + 1 : here + 1]))


def pending(settings: Settings, revision: str = "head", *, direction: str = "upgrade") -> list[RevisionInfo]:
    """The revisions an upgrade (or downgrade) to ``revision`` would run, in order; nothing is changed."""
    target = _resolve(revision)
    rev = current(settings)
    way, steps = _steps(rev, target)
    return steps if way == direction else []


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


# --- offline rendering, with where each statement came from -------------------------------


@dataclass(frozen=True)
class Emitted:
    """One statement of the offline script and the Python line that emitted it.

    ``origin`` is the revision file when the statement came from a revision (directly or
    through a helper it called: the revision's own call site is kept), else the env/environment
    file, else 'alembic' (its version table, BEGIN/COMMIT, comments).
    """

    sql: str
    origin: str
    line: int | None


class _Recorder(io.StringIO):
    """An output buffer that remembers, for each write, the innermost frame in a revision file."""

    def __init__(self, versions_dir: Path, env_files: tuple[Path, ...]) -> None:
        super().__init__()
        self.items: list[Emitted] = []
        self._versions = str(versions_dir.resolve())
        self._env = {str(p.resolve()) for p in env_files}

    def write(self, text: str) -> int:
        origin, line = "alembic", None
        frame = sys._getframe(1)
        env_hit: tuple[str, int] | None = None
        while frame is not None:
            name = str(Path(frame.f_code.co_filename).resolve()) if frame.f_code.co_filename[:1] != "<" else ""
            if name.startswith(self._versions):
                origin, line = name, frame.f_lineno
                break
            if env_hit is None and name in self._env:
                env_hit = (name, frame.f_lineno)
            frame = frame.f_back  # type: ignore[assignment]
        else:
            if env_hit:
                origin, line = env_hit
        self.items.append(Emitted(text.rstrip("\n"), origin, line))
        return super().write(text)


def _range_command(cfg: Config, low: str, high: str, location: str) -> None:
    order = {r.revision: i for i, r in enumerate(history(location))}
    order.update({"base": -1, "head": len(order), "heads": len(order)})
    if order[low] <= order[high]:
        command.upgrade(cfg, f"{low}:{high}", sql=True)
    else:
        command.downgrade(cfg, f"{low}:{high}", sql=True)


def _split_range(range_: str | None, location: str) -> tuple[str, str]:
    spec = range_ or "base:head"
    low, _, high = spec.rpartition(":") if ":" in spec else ("base", ":", spec)
    return _resolve(low or "base", location), _resolve(high, location)


def render(range_: str, settings: Settings | None = None, *, location: str = DEFAULT_LOCATION) -> list[Emitted]:
    """The offline script of ``range_`` ('FROM:TO'), statement by statement, each with its origin."""
    low, high = _split_range(range_, location)
    scripts = script_directory(location)
    env_files = (Path(scripts.env_py_location), Path(__file__).parent.parent / "migrations" / "environment.py")
    buf = _Recorder(Path(scripts.versions), env_files)
    cfg = alembic_config(settings or Settings(), location=location)
    cfg.output_buffer = buf
    cfg.attributes["output_buffer"] = buf
    _range_command(cfg, low, high, location)
    return buf.items


def offline_sql(range_: str | None = None, settings: Settings | None = None, *, location: str = DEFAULT_LOCATION) -> str:
    """The SQL an upgrade (or a downgrade, for 'HIGH:LOW') would run, one block per revision.

    ``range_`` is 'FROM:TO' ('base:head' when omitted); 'TO' alone means 'base:TO'.
    """
    low, high = _split_range(range_, location)
    buf = io.StringIO()
    cfg = alembic_config(settings or Settings(), location=location)
    cfg.output_buffer = buf
    cfg.attributes["output_buffer"] = buf
    _range_command(cfg, low, high, location)
    return buf.getvalue()


# --- running, with the lock policy ------------------------------------------------------------

_SET_TIMEOUT = re.compile(r"^\s*SET\s+(?:LOCAL\s+)?(lock_timeout|statement_timeout)\s*(?:=|TO)\s*'?(\d+)(ms)?'?", re.I)


@dataclass
class _RunState:
    """What the statement observer saw during one attempt."""

    lock_timeout_ms: int
    statement_timeout_ms: int
    long_transaction_s: float = 1.0
    last_revision: str | None = None
    applied: list[AppliedRevision] = field(default_factory=list)
    warned: bool = False
    timeouts_at: dict[str, tuple[int, int]] = field(default_factory=dict)


def _observer(state: _RunState, monitor: psycopg.Connection | None, ours: tuple[int, ...], warn: Warn | None) -> Any:
    def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if m := _SET_TIMEOUT.match(statement):
            value = int(m.group(2)) * (1 if m.group(3) else 1000)
            if m.group(1).lower() == "lock_timeout":
                state.lock_timeout_ms = value
            else:
                state.statement_timeout_ms = value
            return
        state.timeouts_at[statement] = (state.lock_timeout_ms, state.statement_timeout_ms)
        if monitor is None or warn is None:
            return
        lock = locks.classify(statement)
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
        holders = locks.blockers(monitor, target, ours=ours, min_age_s=state.long_transaction_s)
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
) -> str:
    scripts = script_directory(location)
    # env.py sets the strong class's timeouts before the observer is attached.
    state.lock_timeout_ms, state.statement_timeout_ms = settings.lock_timeout_ms, settings.statement_timeout_ms
    with _connection(settings) as (info, conn):
        state.last_revision = _db_revision(conn)
        conn.rollback()
        _check_known(state.last_revision, settings, location)
        cfg = alembic_config(settings, location=location)
        cfg.attributes["connection"] = conn
        cfg.attributes["progress"] = progress
        started = {"at": time.perf_counter()}

        def on_version_apply(*, ctx, step, heads, run_args):  # type: ignore[no-untyped-def]
            now = time.perf_counter()
            rev = AppliedRevision(
                revision=step.up_revision_id,
                down_revision=step.down_revision_ids[0] if step.down_revision_ids else None,
                direction="upgrade" if step.is_upgrade else "downgrade",
                title=_title(scripts.get_revision(step.up_revision_id)),
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
        try:
            cfg.attributes["before_statement"] = _observer(state, monitor, ours, warn)
            fn(cfg)
        finally:
            if monitor is not None:
                monitor.close()
        return info


def _failed_statement(exc: BaseException) -> str:
    return getattr(exc, "statement", "") or ""


def _sqlstate_error(exc: BaseException) -> psycopg.Error | None:
    orig = getattr(exc, "orig", None)
    if isinstance(orig, psycopg.Error):
        return orig
    return exc if isinstance(exc, psycopg.Error) else None


def _backoff(settings: Settings, attempt: int, rng: random.Random) -> float:
    """Seconds to wait before retry ``attempt`` (1-based): exponential, capped, with jitter."""
    ceiling = min(settings.retry_max_delay_ms, settings.retry_delay_ms * 2 ** (attempt - 1)) / 1000
    return ceiling * rng.uniform(0.5, 1.0)


def _next_revision(state: _RunState, direction: str, location: str) -> str:
    """The revision that was running when an attempt failed: the next one from where the database is."""
    if direction == "downgrade":
        return state.last_revision or "(none)"
    _, steps = _steps(state.last_revision, "head", location)
    return steps[0].revision if steps else "(none)"


def _run(
    settings: Settings,
    revision: str,
    direction: str,
    *,
    progress: Progress | None,
    on_revision: Callable[[AppliedRevision], None] | None,
    on_warning: Warn | None,
    location: str,
) -> list[AppliedRevision]:
    target = _resolve(revision, location)

    def fn(cfg: Config) -> None:
        (command.upgrade if direction == "upgrade" else command.downgrade)(cfg, target)

    state = _RunState(settings.lock_timeout_ms, settings.statement_timeout_ms, settings.long_transaction_ms / 1000)
    rng = random.Random()
    first_try = time.monotonic()
    attempt = 0
    while True:
        info = ""
        try:
            info = _attempt(settings, fn, state, progress=progress, on_revision=on_revision, warn=on_warning,
                            location=location)
            return state.applied
        except Exception as exc:
            failing = _next_revision(state, direction, location)
            statement = _failed_statement(exc)
            lock = locks.classify(statement) if statement else locks.StatementLock("row locks", "rows")
            error = _sqlstate_error(exc)
            retriable = isinstance(error, pg_errors.LockNotAvailable) and lock.lock_class != "online"
            if retriable and attempt < settings.lock_retries:
                attempt += 1
                delay = _backoff(settings, attempt, rng)
                if on_warning:
                    on_warning(
                        f"lock_timeout expired in revision {failing} ({_what(lock)}); the revision was rolled back; "
                        f"retry {attempt} of {settings.lock_retries} in {delay:.1f}s"
                    )
                time.sleep(delay)
                continue
            info = info or server.conninfo(settings)
            raise _translate(exc, info, state, failing, lock, attempts=attempt + 1,
                             seconds=time.monotonic() - first_try) from exc


def _what(lock: locks.StatementLock) -> str:
    if not lock.locks:
        return lock.kind
    target = lock.locks[0]
    return f"{lock.kind}: {target.mode_name} on {target.relation}"


def _blockers_for(info: str, lock: locks.StatementLock, min_age_s: float) -> list[locks.Blocker]:
    with server.connect(info, autocommit=True) as conn:
        found: list[locks.Blocker] = []
        for target in lock.locks:
            if not target.new:
                found += [b for b in locks.blockers(conn, target) if b.pid not in {f.pid for f in found}]
        if lock.concurrently or not lock.locks:
            found += [b for b in locks.old_snapshots(conn, min_age_s=min_age_s)
                      if b.pid not in {f.pid for f in found}]
        return found


def _translate(
    exc: BaseException,
    info: str,
    state: _RunState,
    revision: str,
    lock: locks.StatementLock,
    *,
    attempts: int,
    seconds: float,
) -> Exception:
    error = _sqlstate_error(exc)
    statement = _failed_statement(exc)
    lock_ms, stmt_ms = state.timeouts_at.get(statement, (state.lock_timeout_ms, state.statement_timeout_ms))
    first_line = statement.strip().splitlines()[0].strip() if statement.strip() else ""
    debris = (
        " It may leave an INVALID index behind; the next `chatschema upgrade` drops and rebuilds it."
        if lock.concurrently and lock.kind.startswith("create") else ""
    )
    if isinstance(error, pg_errors.LockNotAvailable):
        found = _blockers_for(info, lock, state.long_transaction_s)
        table = lock.locks[0].relation if lock.locks else None
        held = (f"; held by {found[0]}" if lock.locks else f"; sessions with old transactions: {found[0]}") if found else (
            "; no session holds a conflicting lock any more (the holder finished after the timeout)")
        more = f" (and {len(found) - 1} more: " + "; ".join(str(b) for b in found[1:]) + ")" if len(found) > 1 else ""
        tries = (f" after {attempts} attempts over {seconds:.1f}s, each rolled back" if attempts > 1 else "")
        where = f"{lock.locks[0].mode_name} on {table}" if lock.locks else "a row or table lock"
        knob = "--concurrent-lock-timeout" if lock.lock_class == "online" else "--lock-timeout or --lock-retries"
        pid_hint = f" (or end it: SELECT pg_terminate_backend({found[0].pid}))" if found else ""
        return LockTimeout(
            f"lock_timeout ({format_duration(lock_ms)}) expired waiting for {where} in revision {revision}{tries}"
            f"{held}{more}. Nothing of revision {revision} was kept; the database is at {state.last_revision or 'base'}."
            f"{debris} Re-run when that session ends{pid_hint}, or raise {knob}.",
            table=table,
            blockers=tuple(str(b) for b in found),
        )
    if isinstance(error, pg_errors.QueryCanceled):
        if stmt_ms > 0:
            knob = "--concurrent-statement-timeout" if lock.lock_class == "online" else "--statement-timeout"
            return MigrationFailed(
                f"statement_timeout ({format_duration(stmt_ms)}) cancelled revision {revision}: {first_line}.{debris} "
                f"Raise {knob} and re-run."
            )
        return MigrationFailed(
            f"revision {revision} was cancelled while running {first_line} (statement_timeout is off for it, so "
            f"another session cancelled it, e.g. pg_cancel_backend, or the server is shutting down).{debris} "
            f"The database is at {state.last_revision or 'base'}; re-run to continue."
        )
    if isinstance(error, psycopg.Error):
        detail = str(error).strip().splitlines()[0]
        return MigrationFailed(f"revision {revision} failed: {detail.rstrip('.')}.{debris}")
    if isinstance(exc, CommandError):
        return MigrationFailed(str(exc))
    return exc if isinstance(exc, Exception) else RuntimeError(str(exc))


def upgrade(
    settings: Settings,
    revision: str = "head",
    *,
    progress: Progress | None = None,
    on_revision: Callable[[AppliedRevision], None] | None = None,
    on_warning: Warn | None = None,
    location: str = DEFAULT_LOCATION,
) -> list[AppliedRevision]:
    """Upgrade the database to ``revision``; returns the revisions applied, each with its duration.

    ``on_warning`` receives retries and the sessions that would block a strong lock or a
    concurrent build; without it nobody is looked for before statements run.
    """
    return _run(settings, revision, "upgrade", progress=progress, on_revision=on_revision,
                on_warning=on_warning, location=location)


def downgrade(
    settings: Settings,
    revision: str,
    *,
    on_revision: Callable[[AppliedRevision], None] | None = None,
    on_warning: Warn | None = None,
    location: str = DEFAULT_LOCATION,
) -> list[AppliedRevision]:
    """Downgrade the database to ``revision`` ('base' removes everything chatschema created)."""
    return _run(settings, revision, "downgrade", progress=None, on_revision=on_revision,
                on_warning=on_warning, location=location)


# --- the dry-run plan -------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedStatement:
    sql: str
    lock: locks.StatementLock
    in_transaction: bool
    lock_timeout_ms: int
    statement_timeout_ms: int
    origin: str = "alembic"  # see Emitted
    line: int | None = None


@dataclass(frozen=True)
class PlannedRevision:
    revision: str
    title: str
    direction: str
    statements: tuple[PlannedStatement, ...]


@dataclass(frozen=True)
class RelationSize:
    name: str
    table: str | None  # for an index: its table; None when the relation does not exist (yet)
    bytes: int | None
    rows: int | None  # pg_class.reltuples; None when never vacuumed or analyzed


@dataclass(frozen=True)
class Plan:
    target: str
    current: str | None
    direction: str
    revisions: tuple[PlannedRevision, ...]
    sizes: dict[str, RelationSize]
    backfill: Any = None  # backfill.Checkpoint of an interrupted backfill, which a run resumes from


def planned_statements(emitted: list[Emitted], settings: Settings) -> list[PlannedStatement]:
    """The statements of one revision's offline script, with the transaction and timeouts each runs under."""
    out: list[PlannedStatement] = []
    in_tx = False
    lock_ms, stmt_ms = settings.lock_timeout_ms, settings.statement_timeout_ms
    for item in emitted:
        sql = item.sql.strip()
        if m := _SET_TIMEOUT.match(sql):
            value = int(m.group(2)) * (1 if m.group(3) else 1000)
            lock_ms, stmt_ms = (value, stmt_ms) if m.group(1).lower() == "lock_timeout" else (lock_ms, value)
            continue
        lock = locks.classify(sql)
        if lock.kind == "transaction control":
            in_tx = locks.normalize(sql).upper().startswith(("BEGIN", "START"))
            continue
        if lock.kind in ("comment", "setting") or "alembic_version" in sql:
            continue
        out.append(PlannedStatement(sql, lock, in_tx, lock_ms, stmt_ms, item.origin, item.line))
    marked = locks.in_sequence([p.lock for p in out])
    return [replace(p, lock=lock) for p, lock in zip(out, marked)]


_SIZE = """
SELECT c.relname, CASE WHEN c.relkind = 'i' THEN i.indrelid::regclass::text ELSE c.oid::regclass::text END,
       pg_total_relation_size(CASE WHEN c.relkind = 'i' THEN i.indrelid ELSE c.oid END),
       (SELECT t.reltuples FROM pg_class t WHERE t.oid = CASE WHEN c.relkind = 'i' THEN i.indrelid ELSE c.oid END)
  FROM pg_class c LEFT JOIN pg_index i ON i.indexrelid = c.oid
 WHERE c.oid = to_regclass(%s)
"""


def plan(settings: Settings, revision: str = "head", *, direction: str = "upgrade",
         location: str = DEFAULT_LOCATION) -> Plan:
    """What ``upgrade``/``downgrade`` to ``revision`` would run: statements, locks, table sizes. Changes nothing."""
    target = _resolve(revision, location)
    info = server.conninfo(settings)
    with _connection(settings) as (_, conn):
        rev = _db_revision(conn)
        conn.rollback()
    _check_known(rev, settings, location)
    way, steps = _steps(rev, target, location)
    if way != direction:
        steps = []
    revisions = []
    for step in steps:
        low, high = (step.down_revision or "base", step.revision)
        range_ = f"{low}:{high}" if direction == "upgrade" else f"{high}:{low}"
        statements = planned_statements(render(range_, settings, location=location), settings)
        revisions.append(PlannedRevision(step.revision, step.title, direction, tuple(statements)))
    sizes: dict[str, RelationSize] = {}
    with server.connect(info, autocommit=True) as raw:
        checkpoint = backfill.status(raw)
        for planned in revisions:
            for st in planned.statements:
                for lk in st.lock.locks:
                    if lk.relation in sizes:
                        continue
                    row = raw.execute(_SIZE, (lk.relation,)).fetchone()
                    if row is None:
                        sizes[lk.relation] = RelationSize(lk.relation, None, None, None)
                    else:
                        rows = int(row[3]) if row[3] is not None and row[3] >= 0 else None
                        sizes[lk.relation] = RelationSize(lk.relation, row[1], int(row[2]), rows)
    return Plan(target, rev, direction, tuple(revisions), sizes, checkpoint)
