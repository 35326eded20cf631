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
from rich.table import Table

from . import migrate, server
from .errors import ChatSchemaError
from .settings import Settings

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False)


class _Group(click.Group):
    """Turns chatschema errors into one line on stderr and exit status 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ChatSchemaError as exc:
            err.print(f"Error: {exc}", markup=False, soft_wrap=True)
            sys.exit(2)


def connection_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--dsn, --pg-version, --data-dir, --lock-timeout, --statement-timeout, resolved into ``settings``."""

    @click.option("--dsn", metavar="DSN", help="PostgreSQL to use (libpq string or URL). Default: $DATABASE_URL, else the embedded server.")
    @click.option("--pg-version", type=int, metavar="16|18", help="Embedded server major version (default 18, or $CHATSCHEMA_PG_VERSION).")
    @click.option("--data-dir", type=click.Path(file_okay=False), help="Embedded server data directory (default: per-user data dir, or $CHATSCHEMA_DATA_DIR).")
    @click.option("--lock-timeout", metavar="DURATION", help="lock_timeout for statements that take strong locks (default 2s). CONCURRENTLY builds wait as long as needed.")
    @click.option("--statement-timeout", metavar="DURATION", help="statement_timeout for transactional statements (default 0 = none).")
    @functools.wraps(fn)
    def wrapper(*args: Any, dsn: str | None, pg_version: int | None, data_dir: str | None,
                lock_timeout: str | None, statement_timeout: str | None, **kwargs: Any) -> Any:
        settings = Settings.resolve(
            dsn=dsn, pg_version=pg_version, data_dir=data_dir,
            lock_timeout=lock_timeout, statement_timeout=statement_timeout,
        )
        return fn(*args, settings=settings, **kwargs)

    return wrapper


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=err, transient=True,
    )


def _print_applied(rev: migrate.AppliedRevision) -> None:
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


@main.command()
@click.argument("revision", default="head")
@connection_options
def upgrade(revision: str, settings: Settings) -> None:
    """Upgrade the database to REVISION (default: head).

    Each revision runs in its own transaction, except CONCURRENTLY index builds and
    the summary backfill, which commit as they go and resume when re-run.

    \b
    Example:
        chatschema upgrade --dsn postgresql://dba@db.internal/chat --lock-timeout 3s
    """
    with _progress() as bar:
        tasks: dict[str, Any] = {}

        def progress(name: str, done: int, total: int) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(f"backfill {name}", total=total)
            bar.update(tasks[name], completed=done, total=total)

        applied = migrate.upgrade(settings, revision, progress=progress, on_revision=_print_applied)
    if not applied:
        out.print(f"Already at {revision}; nothing to do.")
    else:
        out.print(f"Upgraded to {applied[-1].revision} ({len(applied)} revision{'s' * (len(applied) != 1)}, "
                  f"{sum(r.seconds for r in applied):.2f} s).")


@main.command()
@click.argument("revision")
@connection_options
def downgrade(revision: str, settings: Settings) -> None:
    """Downgrade the database to REVISION ('base' removes everything chatschema created).

    \b
    Example:
        chatschema downgrade 0005     # undo the activity index and the views
    """
    applied = migrate.downgrade(settings, revision, on_revision=_print_applied)
    if not applied:
        out.print(f"Already at {revision}; nothing to do.")
    else:
        out.print(f"Downgraded to {revision} ({len(applied)} revision{'s' * (len(applied) != 1)}).")


@main.command()
@connection_options
def current(settings: Settings) -> None:
    """Print the database's revision ('none' for a database chatschema never migrated).

    \b
    Example:
        chatschema current --dsn "$DATABASE_URL"
    """
    rev = migrate.current(settings)
    head = migrate.script_directory().get_current_head()
    suffix = " (head)" if rev == head else f" (head is {head})"
    out.print(f"{rev or 'none'}{suffix}")


@main.command()
def history() -> None:
    """List the revisions, oldest first, with what each does.

    \b
    Example:
        chatschema history
    """
    table = Table("revision", "revises", "what it does", box=None, pad_edge=False)
    for rev in migrate.history():
        table.add_row(rev.revision, rev.down_revision or "-", rev.title)
    out.print(table)


@main.command("sql")
@click.argument("range_", metavar="[FROM:TO]", required=False)
@click.option("--lock-timeout", metavar="DURATION", help="lock_timeout written into the script (default 2s).")
@click.option("--statement-timeout", metavar="DURATION", help="statement_timeout written into the script (default 0).")
def sql_(range_: str | None, lock_timeout: str | None, statement_timeout: str | None) -> None:
    """Print the SQL of a migration for review, one block per revision. Connects to nothing.

    FROM:TO defaults to base:head; a FROM later than TO prints the downgrade.
    Run the output with psql -v ON_ERROR_STOP=1 (not with -1: CONCURRENTLY
    statements must run outside a transaction).

    \b
    Example:
        chatschema sql 0001:head > upgrade.sql && psql -v ON_ERROR_STOP=1 -f upgrade.sql
    """
    settings = Settings.resolve(lock_timeout=lock_timeout, statement_timeout=statement_timeout, dsn="offline")
    click.echo(migrate.offline_sql(range_, settings), nl=False)


@main.command("check")
@connection_options
def check_(settings: Settings) -> None:
    """Exit 1 unless the database is at head and matches the models, index shapes included.

    Compares columns, constraints, storage parameters and every index as PostgreSQL
    prints it (INCLUDE, WHERE, DESC, opclass), plus the unique index each materialized
    view needs for a concurrent refresh.

    \b
    Example:
        chatschema check --dsn "$DATABASE_URL" || echo "schema drift"
    """
    from .check import check

    rev, head, findings = check(settings)
    if findings:
        for finding in findings:
            out.print(f"✗ {finding}", markup=False, soft_wrap=True)
        sys.exit(1)
    out.print(f"✓ at head ({head}); the database matches the models")


@main.group()
def views() -> None:
    """Analytics materialized views."""


@views.command("refresh")
@click.option("--concurrently", is_flag=True, help="Keep the views readable during the refresh (slower; needs a populated view).")
@connection_options
def views_refresh(concurrently: bool, settings: Settings) -> None:
    """Refresh the analytics views in dependency order.

    \b
    Example:
        chatschema views refresh --concurrently --statement-timeout 30min
    """
    from .views import refresh_views

    info = server.conninfo(settings)
    with server.connect(info, autocommit=True) as conn:
        conn.execute(f"SET lock_timeout = '{settings.lock_timeout_ms}ms'")
        conn.execute(f"SET statement_timeout = '{settings.statement_timeout_ms}ms'")
        for result in refresh_views(conn, concurrently=concurrently):
            how = "concurrently" if result.concurrently else "exclusively"
            out.print(f"  refreshed {result.view} {how}: {result.rows} rows in {result.seconds:.2f} s")


@main.command()
@connection_options
def demo(settings: Settings) -> None:
    """Migrate a new database to head on the embedded server and show what was applied.

    \b
    Example:
        chatschema demo
    """
    from .check import check

    settings = settings.with_database("chatschema_demo")
    if settings.dsn is None:
        info = server.conninfo(settings.with_database("postgres"))
        with server.connect(info, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS chatschema_demo WITH (FORCE)")
    out.print(f"Migrating {server.describe_target(server.conninfo(settings))} from scratch to head:")
    applied = migrate.upgrade(settings, on_revision=_print_applied)
    _, head, findings = check(settings)
    out.print(f"Applied {len(applied)} revisions; at head {head}; "
              + ("schema matches the models." if not findings else f"{len(findings)} differences from the models!"))
    if findings:
        sys.exit(1)
