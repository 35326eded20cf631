"""The chatschema command line: a thin layer that parses options, calls the library, renders results.

Exit codes: 0 all good, 1 findings (drift, a failed plan contract), 2 could not run.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ..migrate import AppliedRevision
from .. import server
from ..errors import ChatSchemaError, redact
from ..settings import Settings

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False)


class _Group(click.Group):
    """Turns chatschema errors into one line on stderr and exit status 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ChatSchemaError as exc:
            _fail(str(exc))
        except Exception as exc:
            # A server error the library did not expect (a privilege, a standby, a lost connection):
            # still one line and exit 2, never a traceback; anything else is a bug and keeps its traceback.
            error = server.database_error(exc)
            if error is None:
                raise
            _fail(f"the server refused the command: {server.error_line(error)}")


def _fail(message: str) -> None:
    err.print(f"Error: {redact(message)}", markup=False, soft_wrap=True)
    sys.exit(2)


_DEFAULT = Settings()  # every default a help text shows is read from here, never spelled twice


def _duration(ms: int) -> str:
    """A duration as the options take it, in the unit people say: 500ms, 60s, 15min."""
    if ms and ms % 60_000 == 0 and ms >= 120_000:
        return f"{ms // 60_000}min"
    return f"{ms // 1000}s" if ms and ms % 1000 == 0 else f"{ms}ms" if ms else "0"


def _size(n: int) -> str:
    """Bytes as --max-slot-wal takes them: the largest 1024-based unit that divides them."""
    for unit, size in (("TB", 1024 ** 4), ("GB", 1024 ** 3), ("MB", 1024 ** 2), ("kB", 1024)):
        if n and n % size == 0:
            return f"{n // size}{unit}"
    return str(n)


def connection_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--dsn, --pg-version, --data-dir, --lock-timeout, --statement-timeout, resolved into ``settings``."""

    @click.option("--dsn", metavar="DSN", help="PostgreSQL to use (libpq string or URL). Default: $DATABASE_URL, else the embedded server.")
    @click.option("--pg-version", type=int, metavar="16|18", help="Embedded server major version (default 18, or $CHATSCHEMA_PG_VERSION).")
    @click.option("--data-dir", type=click.Path(file_okay=False), help="Embedded server data directory (default: per-user data dir, or $CHATSCHEMA_DATA_DIR).")
    @click.option("--lock-timeout", metavar="DURATION", help=f"lock_timeout for statements that take strong locks (default {_duration(_DEFAULT.lock_timeout_ms)}, below deadlock_timeout). CONCURRENTLY builds use --concurrent-lock-timeout.")
    @click.option("--statement-timeout", metavar="DURATION", help=f"statement_timeout for statements that take strong locks (default {_duration(_DEFAULT.statement_timeout_ms)}). CONCURRENTLY builds use --concurrent-statement-timeout.")
    @functools.wraps(fn)
    def wrapper(*args: Any, dsn: str | None, pg_version: int | None, data_dir: str | None,
                lock_timeout: str | None, statement_timeout: str | None, **kwargs: Any) -> Any:
        settings = Settings.resolve(
            dsn=dsn, pg_version=pg_version, data_dir=data_dir,
            lock_timeout=lock_timeout, statement_timeout=statement_timeout,
        )
        return fn(*args, settings=settings, **kwargs)

    return wrapper


_GATE_OPTIONS = ("max_replica_lag", "max_slot_wal", "vacuum_gate", "max_archive_backlog", "max_wal_rate",
                 "backfill_target_time")


def gate_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The health gates every backfill batch waits on (chatschema.migrate.gates); 0 turns one off."""
    for option in reversed((
        click.option("--max-replica-lag", metavar="DURATION",
                     help="Before each batch and each CONCURRENTLY statement, wait until every standby replays less "
                          f"than this behind (default {_duration(_DEFAULT.max_replica_lag_ms)}, or "
                          "$CHATSCHEMA_MAX_REPLICA_LAG; 0 = off)."),
        click.option("--max-slot-wal", metavar="SIZE",
                     help="Before each batch and each CONCURRENTLY statement, wait until no replication slot retains "
                          f"more WAL than this (default {_size(_DEFAULT.max_slot_wal_bytes)}, or "
                          "$CHATSCHEMA_MAX_SLOT_WAL; 0 = off)."),
        click.option("--vacuum-gate", metavar="wait|slow|off",
                     help="While a VACUUM works on the backfilled table: wait for it, or run half-size batches "
                          f"resting as long as each took (default {_DEFAULT.vacuum_gate}, or $CHATSCHEMA_VACUUM_GATE)."),
        click.option("--max-archive-backlog", metavar="N",
                     help="With archive_mode on, wait while more WAL segments than this wait to be archived "
                          f"(default {_DEFAULT.max_archive_backlog}, or $CHATSCHEMA_MAX_ARCHIVE_BACKLOG; 0 = off)."),
        click.option("--max-wal-rate", metavar="SIZE",
                     help="Rest after each batch to keep the WAL it wrote under this many bytes per second "
                          f"(e.g. 20MB; default {_size(_DEFAULT.max_wal_rate_bytes)}"
                          f"{' = off' * (_DEFAULT.max_wal_rate_bytes == 0)}, or $CHATSCHEMA_MAX_WAL_RATE)."),
        click.option("--backfill-target-time", metavar="DURATION",
                     help="Adapt the batch size to this batch duration: halved after a slower batch, grown by "
                          "half after one under half of it, within 1/16 and 8x --backfill-batch-size "
                          f"(default {_duration(_DEFAULT.backfill_target_ms)}, or $CHATSCHEMA_BACKFILL_TARGET_TIME; "
                          "0 = fixed size)."),
    )):
        fn = option(fn)
    return fn


def policy_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The rest of the lock policy and the backfill's pace, for commands that migrate."""

    @click.option("--concurrent-lock-timeout", metavar="DURATION",
                  help="lock_timeout for CONCURRENTLY builds and other statements that let reads and writes through "
                       f"(default {_duration(_DEFAULT.concurrent_lock_timeout_ms)}, or $CHATSCHEMA_CONCURRENT_LOCK_TIMEOUT).")
    @click.option("--concurrent-statement-timeout", metavar="DURATION",
                  help=f"statement_timeout for those statements (default "
                       f"{_duration(_DEFAULT.concurrent_statement_timeout_ms)}"
                       f"{' = none' * (_DEFAULT.concurrent_statement_timeout_ms == 0)}: a cancelled build leaves an INVALID index).")
    @click.option("--lock-retries", metavar="N",
                  help=f"Times a revision rolled back by a lock timeout is retried (default {_DEFAULT.lock_retries}, or "
                       "$CHATSCHEMA_LOCK_RETRIES).")
    @click.option("--retry-delay", metavar="DURATION",
                  help=f"First wait before a retry, doubled each time up to {_duration(_DEFAULT.retry_max_delay_ms)}, "
                       f"with jitter (default {_duration(_DEFAULT.retry_delay_ms)}).")
    @click.option("--backfill-batch-size", metavar="N",
                  help=f"Conversations per committed backfill batch (default {_DEFAULT.backfill_batch_size}).")
    @click.option("--backfill-pause", metavar="DURATION",
                  help=f"Pause between backfill batches, to throttle it (default {_duration(_DEFAULT.backfill_pause_ms)}).")
    @gate_options
    @functools.wraps(fn)
    def wrapper(*args: Any, settings: Settings, concurrent_lock_timeout: str | None,
                concurrent_statement_timeout: str | None, lock_retries: str | None, retry_delay: str | None,
                backfill_batch_size: str | None, backfill_pause: str | None, **kwargs: Any) -> Any:
        gates = {name: kwargs.pop(name) for name in _GATE_OPTIONS}
        settings = settings.with_policy(
            concurrent_lock_timeout=concurrent_lock_timeout, concurrent_statement_timeout=concurrent_statement_timeout,
            lock_retries=lock_retries, retry_delay=retry_delay, backfill_batch_size=backfill_batch_size,
            backfill_pause=backfill_pause, **gates,
        )
        return fn(*args, settings=settings, **kwargs)

    return wrapper


def warn(message: str) -> None:
    err.print(f"warning: {redact(message)}", markup=False, soft_wrap=True)


def note(message: str) -> None:
    """What the user should see while work runs and is not a warning (where a build's WAL goes)."""
    err.print(redact(message), markup=False, soft_wrap=True)


def progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=err, transient=True,
    )


def print_applied(rev: AppliedRevision) -> None:
    arrow = "↑" if rev.direction == "upgrade" else "↓"
    out.print(f"  {arrow} {rev.revision}  {rev.title}  [dim]({rev.seconds:.2f} s)[/dim]")


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="chatschema")
def main() -> None:
    """PostgreSQL schema, safe migrations and plan-verified queries for a chat backend.

    With no --dsn and no DATABASE_URL every command uses an embedded PostgreSQL that
    chatschema starts itself (no installation needed).

    \b
    Example:
        chatschema upgrade            # migrate the embedded database to head
        chatschema --help             # list commands; each has its own --help
    """


# Registers every command on ``main`` (each module adds its family).
from . import (  # noqa: E402,F401
    adopt, backfill, bench, citus, docs, export, migrate, plans, queries, retention, roles, schema, seed,
)
