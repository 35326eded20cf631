"""What a failed migration attempt tells the DBA: one message that says what happened, what was kept,
where the database is, and what to do.

The runner (``run.py``) decides whether to retry; this module only reads the error, the statement that
failed and the server's state (blocking sessions, the backfill's checkpoint) to word it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import psycopg
from alembic.util import CommandError
from psycopg import errors as pg_errors

from .. import server
from ..errors import ConfigError, LockTimeout, MigrationFailed
from ..settings import format_duration
from . import locks
from ..migrations import CHECKPOINT_TABLE
from .backfill import status
from .chain import DEFAULT_LOCATION, steps

__all__ = ["waited_for", "kept", "refuse_wrong_direction", "Attempt", "failed_statement", "sqlstate_error", "what", "translate"]


@dataclass(frozen=True)
class Attempt:
    """Where a run stood when it failed."""

    revision: str  # the revision that was running
    direction: str
    last_revision: str | None  # where the database is
    lock_timeout_ms: int
    statement_timeout_ms: int
    long_transaction_s: float
    attempts: int
    seconds: float


def failed_statement(exc: BaseException) -> str:
    # SQLAlchemy puts the statement on its wrapper; after a lost connection the error raised is a
    # PendingRollbackError whose context is that wrapper.
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            break
        if statement := getattr(seen, "statement", None):
            return str(statement)
        seen = seen.__cause__ or seen.__context__
    return ""


def sqlstate_error(exc: BaseException) -> psycopg.Error | None:
    return server.database_error(exc)


def _connection_lost(error: psycopg.Error | None) -> str | None:
    """Why the migration's connection is gone, when it is, in words for the message."""
    if isinstance(error, pg_errors.AdminShutdown):
        return "terminated by an administrator command (pg_terminate_backend) or a server shutdown"
    if isinstance(error, (pg_errors.CrashShutdown, pg_errors.CannotConnectNow)):
        return "the server restarted"
    if isinstance(error, psycopg.OperationalError) and not getattr(error, "sqlstate", None):
        return f"the connection broke: {server.error_line(error)}"
    return None


def what(lock: locks.StatementLock) -> str:
    if not lock.locks:
        return lock.kind
    target = lock.locks[0]
    return f"{lock.kind}: {target.mode_name} on {target.relation}"


def waited_for(lock: locks.StatementLock, target: locks.TableLock) -> locks.TableLock:
    """The lock whose holders ``target``'s statement waits for. A concurrent build takes only SHARE UPDATE
    EXCLUSIVE, but before each scan it waits for every transaction holding a lock that conflicts with
    SHARE (WaitForLockers): writers idle in a transaction (ROW EXCLUSIVE) included."""
    if lock.concurrently:
        return replace(target, mode="ShareLock")
    return target


def _blockers_for(info: str, lock: locks.StatementLock, min_age_s: float) -> list[locks.Blocker]:
    with server.connect(info, autocommit=True) as conn:
        found: list[locks.Blocker] = []
        for target in lock.locks:
            if not target.new:
                found += [b for b in locks.blockers(conn, waited_for(lock, target))
                          if b.pid not in {f.pid for f in found}]
        if lock.concurrently or not lock.locks:
            found += [b for b in locks.old_snapshots(conn, min_age_s=min_age_s)
                      if b.pid not in {f.pid for f in found}]
        return found


def translate(exc: BaseException, info: str, attempt: Attempt, lock: locks.StatementLock,
              timeouts_at: dict[str, tuple[int, int]]) -> Exception:
    """The error to raise for a failed attempt (the original is its cause)."""
    revision, attempts, seconds = attempt.revision, attempt.attempts, attempt.seconds
    error = sqlstate_error(exc)
    statement = failed_statement(exc)
    lock_ms, stmt_ms = timeouts_at.get(statement, (attempt.lock_timeout_ms, attempt.statement_timeout_ms))
    first_line = statement.strip().splitlines()[0].strip() if statement.strip() else ""
    debris = (
        " It may leave an INVALID index behind; the next `chatschema upgrade` drops and rebuilds it."
        if lock.concurrently and lock.kind.startswith("create") else ""
    )
    if (lost := _connection_lost(error)) is not None:
        return MigrationFailed(
            f"revision {revision} lost its connection to the server ({lost}) while running "
            f"{first_line or 'it'}; the database is at {attempt.last_revision or 'base'}.{debris} "
            f"Re-run `chatschema {attempt.direction}` to continue."
        )
    if isinstance(error, pg_errors.LockNotAvailable):
        found = _blockers_for(info, lock, attempt.long_transaction_s)
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
            f"{held}{more}. {_kept_sentence(info, revision, attempt.last_revision or 'base')}"
            f"{debris} Re-run when that session ends{pid_hint}, or raise {knob}.",
            table=table,
            blockers=tuple(str(b) for b in found),
        )
    if isinstance(error, pg_errors.QueryCanceled):
        # A statement run on a raw connection (the backfill's batches) reaches us without its text.
        ran = first_line or "one of its backfill batches (run on the backfill's own connection)"
        done = _kept_sentence(info, revision, attempt.last_revision or "base")
        if stmt_ms > 0:
            knob = "--concurrent-statement-timeout" if lock.lock_class == "online" else "--statement-timeout"
            return MigrationFailed(
                f"statement_timeout ({format_duration(stmt_ms)}) cancelled revision {revision} while running "
                f"{ran}. {done}{debris} Raise {knob} and re-run."
            )
        return MigrationFailed(
            f"revision {revision} was cancelled while running {ran} (statement_timeout is off for it, so "
            f"another session cancelled it, e.g. pg_cancel_backend, or the server is shutting down).{debris} "
            f"The database is at {attempt.last_revision or 'base'}; re-run to continue."
        )
    if isinstance(error, psycopg.Error):
        detail = str(error).strip().splitlines()[0]
        return MigrationFailed(f"revision {revision} failed: {detail.rstrip('.')}.{debris}")
    if isinstance(exc, CommandError):
        return MigrationFailed(str(exc))
    return exc if isinstance(exc, Exception) else RuntimeError(str(exc))


def refuse_wrong_direction(current: str | None, target: str, direction: str, location: str = DEFAULT_LOCATION) -> None:
    """ConfigError when reaching ``target`` from ``current`` takes the other command: an upgrade to a
    revision the database is already past is not "nothing to do", it is a downgrade the user did not ask for."""
    way, between = steps(current, target, location)
    if way == direction or not between:
        return
    here = current or "base"
    if direction == "upgrade":
        raise ConfigError(
            f"the database is at {here}, ahead of {target}: upgrade only moves forward, and nothing was changed. "
            f"To go back to {target}, run `chatschema downgrade {target}` (try --dry-run first: it removes "
            f"{', '.join(r.revision for r in between)})"
        )
    raise ConfigError(
        f"the database is at {here}, behind {target}: downgrade only moves back, and nothing was changed. "
        f"To move forward to {target}, run `chatschema upgrade {target}`"
    )


def kept(info: str) -> str | None:
    """What a stopped backfill kept, in words, when its earlier batches committed rows (None otherwise)."""
    try:
        with server.connect(info, autocommit=True) as conn:
            checkpoint = status(conn)
    except Exception:  # noqa: BLE001 - describing what was kept must not hide the error being reported
        return None
    if checkpoint is None or checkpoint.finished or checkpoint.rows_done <= 0:
        return None
    return (f"{checkpoint.rows_done} rows committed by earlier batches are kept in the checkpoint "
            f"({CHECKPOINT_TABLE})")


def _kept_sentence(info: str, revision: str, at: str) -> str:
    found = kept(info)
    if found is None:
        return f"Nothing of revision {revision} was kept; the database is at {at}."
    return (f"Only the batch in progress was rolled back: {found}; the next `chatschema upgrade` resumes after "
            f"them. The database is at {at}.")
