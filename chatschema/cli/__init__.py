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


def connection_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--dsn, --pg-version, --data-dir, --lock-timeout, --statement-timeout, resolved into ``settings``."""

    @click.option("--dsn", metavar="DSN", help="PostgreSQL to use (libpq string or URL). Default: $DATABASE_URL, else the embedded server.")
    @click.option("--pg-version", type=int, metavar="16|18", help="Embedded server major version (default 18, or $CHATSCHEMA_PG_VERSION).")
    @click.option("--data-dir", type=click.Path(file_okay=False), help="Embedded server data directory (default: per-user data dir, or $CHATSCHEMA_DATA_DIR).")
    @click.option("--lock-timeout", metavar="DURATION", help="lock_timeout for statements that take strong locks (default 500ms, below deadlock_timeout). CONCURRENTLY builds use --concurrent-lock-timeout.")
    @click.option("--statement-timeout", metavar="DURATION", help="statement_timeout for statements that take strong locks (default 60s). CONCURRENTLY builds use --concurrent-statement-timeout.")
    @functools.wraps(fn)
    def wrapper(*args: Any, dsn: str | None, pg_version: int | None, data_dir: str | None,
                lock_timeout: str | None, statement_timeout: str | None, **kwargs: Any) -> Any:
        settings = Settings.resolve(
            dsn=dsn, pg_version=pg_version, data_dir=data_dir,
            lock_timeout=lock_timeout, statement_timeout=statement_timeout,
        )
        return fn(*args, settings=settings, **kwargs)

    return wrapper


def policy_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The rest of the lock policy and the backfill's pace, for commands that migrate."""

    @click.option("--concurrent-lock-timeout", metavar="DURATION",
                  help="lock_timeout for CONCURRENTLY builds and other statements that let reads and writes through "
                       "(default 15min, or $CHATSCHEMA_CONCURRENT_LOCK_TIMEOUT).")
    @click.option("--concurrent-statement-timeout", metavar="DURATION",
                  help="statement_timeout for those statements (default 0 = none: a cancelled build leaves an INVALID index).")
    @click.option("--lock-retries", metavar="N",
                  help="Times a revision rolled back by a lock timeout is retried (default 5, or $CHATSCHEMA_LOCK_RETRIES).")
    @click.option("--retry-delay", metavar="DURATION",
                  help="First wait before a retry, doubled each time up to 30s, with jitter (default 1s).")
    @click.option("--backfill-batch-size", metavar="N",
                  help=f"Conversations per committed backfill batch (default {Settings().backfill_batch_size}).")
    @click.option("--backfill-pause", metavar="DURATION", help="Pause between backfill batches, to throttle it (default 0).")
    @functools.wraps(fn)
    def wrapper(*args: Any, settings: Settings, concurrent_lock_timeout: str | None,
                concurrent_statement_timeout: str | None, lock_retries: str | None, retry_delay: str | None,
                backfill_batch_size: str | None, backfill_pause: str | None, **kwargs: Any) -> Any:
        settings = settings.with_policy(
            concurrent_lock_timeout=concurrent_lock_timeout, concurrent_statement_timeout=concurrent_statement_timeout,
            lock_retries=lock_retries, retry_delay=retry_delay, backfill_batch_size=backfill_batch_size,
            backfill_pause=backfill_pause,
        )
        return fn(*args, settings=settings, **kwargs)

    return wrapper


def warn(message: str) -> None:
    err.print(f"warning: {redact(message)}", markup=False, soft_wrap=True)


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
from . import adopt, bench, docs, migrate, plans, queries, schema, seed  # noqa: E402,F401
