"""Commands that change or describe the schema's revision: upgrade, downgrade, current, history, sql, lint."""

from __future__ import annotations

import sys
from typing import Any

import click
from rich.table import Table

from .. import migrate, server
from ..errors import BackfillStopped
from ..settings import Settings
from . import connection_options, main, note, out, policy_options, print_applied, warn
from .backfill import gate_tracking, stop_between_batches, upgrade_bar


def _print_lines(lines: list[str]) -> None:
    for line in lines:
        out.print(line, markup=False, soft_wrap=True)


def _print_policy(settings: Settings, steps: list[migrate.RevisionInfo], direction: str) -> None:
    database = server.describe_target(server.conninfo(settings))
    _print_lines(migrate.policy_preamble(settings, database, steps, direction))


def _print_plan(plan: migrate.MigrationPlan, settings: Settings) -> None:
    _print_lines(migrate.plan_lines(plan, settings, migrate.policy_lines(settings)))


@main.command()
@click.argument("revision", default="head")
@click.option("--dry-run", is_flag=True,
              help="Print the plan (each pending revision, its statements, the lock each takes on which table, "
                   "the table's size) and change nothing.")
@connection_options
@policy_options
def upgrade(revision: str, dry_run: bool, settings: Settings) -> None:
    """Upgrade the database to REVISION (default: head).

    Each revision runs in its own transaction, except CONCURRENTLY index builds and
    the summary backfill, which commit as they go and resume when re-run.

    Statements that take strong locks wait at most --lock-timeout; a revision that
    times out is rolled back and retried (--lock-retries) with backoff, then stops
    naming the sessions in the way. CONCURRENTLY builds wait --concurrent-lock-timeout;
    the sessions they will wait for are named before they start. The policy is
    printed before the run.

    \b
    Example:
        chatschema upgrade --dry-run --dsn postgresql://dba@db.internal/chat
        chatschema upgrade --dsn postgresql://dba@db.internal/chat --lock-timeout 3s --backfill-pause 50ms
    """
    if dry_run:
        _print_plan(migrate.plan(settings, revision), settings)
        return
    steps = migrate.pending(settings, revision)
    if steps:
        _print_policy(settings, steps, "upgrade")
    with upgrade_bar() as bar:
        tasks: dict[str, Any] = {}

        def progress(name: str, done: int, total: int) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(f"backfill {name}", total=total, gate="")
            bar.update(tasks[name], completed=done, total=total)

        try:
            with stop_between_batches():
                applied = migrate.upgrade(settings, revision, progress=progress, on_revision=print_applied,
                                          on_warning=gate_tracking(bar, tasks, warn), on_gate=note)
        except BackfillStopped as stopped:
            bar.stop()
            out.print(str(stopped), markup=False)
            return
    if not applied:
        out.print(f"Already at {revision}; nothing to do.")
    else:
        out.print(f"Upgraded to {applied[-1].revision} ({len(applied)} revision{'s' * (len(applied) != 1)}, "
                  f"{sum(r.seconds for r in applied):.2f} s).")


@main.command()
@click.argument("revision")
@click.option("--dry-run", is_flag=True, help="Print the plan and change nothing.")
@click.option("--below-stamp", is_flag=True,
              help="Go below the revision `chatschema stamp` adopted the database at, whose downgrades drop "
                   "tables chatschema did not create (refused without it).")
@connection_options
@policy_options
def downgrade(revision: str, dry_run: bool, below_stamp: bool, settings: Settings) -> None:
    """Downgrade the database to REVISION ('base' removes everything chatschema created).

    Runs under the same lock policy as upgrade.

    \b
    Example:
        chatschema downgrade 0005     # undo the activity index and the views
    """
    if dry_run:
        _print_plan(migrate.plan(settings, revision, direction="downgrade", below_stamp=below_stamp), settings)
        return
    steps = migrate.pending(settings, revision, direction="downgrade", below_stamp=below_stamp)
    if steps:
        _print_policy(settings, steps, "downgrade")
    applied = migrate.downgrade(settings, revision, on_revision=print_applied, on_warning=warn, on_gate=note,
                                below_stamp=below_stamp)
    if not applied:
        out.print(f"Already at {revision}; nothing to do.")
    else:
        out.print(f"Downgraded to {revision} ({len(applied)} revision{'s' * (len(applied) != 1)}).")


@main.command()
@connection_options
def current(settings: Settings) -> None:
    """Print the database's revision ('none' for a database chatschema never migrated).

    When chatschema's tables are there but no revision is recorded (made by the
    application's create_all, its own Alembic, a restore), a second line names the
    revision their schema matches and the `chatschema stamp` that records it.

    \b
    Example:
        chatschema current --dsn "$DATABASE_URL"
    """
    rev = migrate.current(settings)
    head = migrate.script_directory().get_current_head()
    suffix = " (head)" if rev == head else f" (head is {head})"
    out.print(f"{rev or 'none'}{suffix}")
    if rev is None:
        from ..migrate.adopt import unrecorded

        hint = unrecorded(settings)
        if hint:
            out.print(f"hint: {hint}", markup=False, soft_wrap=True)


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
@click.option("--lock-timeout", metavar="DURATION", help="lock_timeout written into the script (default 500ms).")
@click.option("--statement-timeout", metavar="DURATION", help="statement_timeout written into the script for strong-lock statements (default 60s).")
def sql_(range_: str | None, lock_timeout: str | None, statement_timeout: str | None) -> None:
    """Print the SQL of a migration for review, one block per revision. Connects to nothing.

    FROM:TO defaults to base:head; a FROM later than TO prints the downgrade.
    Run the output with psql -v ON_ERROR_STOP=1 (not with -1: CONCURRENTLY
    statements must run outside a transaction).

    \b
    Example:
        chatschema sql 0001:head > upgrade.sql && psql -v ON_ERROR_STOP=1 -f upgrade.sql
    """
    settings = Settings().with_policy(lock_timeout=lock_timeout, statement_timeout=statement_timeout)
    click.echo(migrate.offline_sql(range_, settings), nl=False)


@main.command("lint")
@click.argument("revisions", nargs=-1, metavar="[REVISION]...")
@click.option("--dsn", metavar="DSN",
              help="Also check this database: drift from the models (index shapes included), INVALID indexes, "
                   "materialized views a concurrent refresh cannot use. Without it lint connects to nothing.")
@click.option("--pg-version", type=click.IntRange(10, 30), metavar="N",
              help="PostgreSQL major version the migrations will run on, for squawk "
                   "(default: the --dsn server's, else $CHATSCHEMA_PG_VERSION, else 18).")
@click.option("--script-location", metavar="DIR", help="Lint another Alembic script directory (default: chatschema's chain).")
@click.option("--format", "format_", type=click.Choice(["text", "json", "sarif", "github"]), default="text",
              show_default=True, help="text for people, json for machines, sarif for code scanning, github for "
                                      "GitHub Actions annotations (each finding at its revision's file and line).")
@click.option("--citus", is_flag=True, help="Instead: is the --dsn database (default: $DATABASE_URL, else the "
                                            "embedded server) ready for Citus? Keys, foreign keys, triggers and "
                                            "materialized views of the tables to distribute, and the hot queries.")
def lint_(revisions: tuple[str, ...], dsn: str | None, pg_version: int | None, script_location: str | None,
          format_: str, citus: bool) -> None:
    """Lint every revision (or the REVISIONs named), upgrade and downgrade, one at a time.

    Each revision's offline SQL goes through squawk; each finding names the revision and the
    line of its Python file. chatschema adds what squawk cannot see: a CONCURRENTLY build
    sharing a revision with transactional work, a data backfill inside a DDL revision, a
    materialized view without a refresh key; and with --dsn, the database's drift from the
    models, INVALID indexes and NULL refresh keys. Suppress a finding with a comment above the
    statement: `# chatschema-lint: ignore RULE -- reason` (the reason is required).
    Exit 1 when there are findings. REVISION 'head' is the newest revision; 'base' is no
    revision (the empty database before the first) and is refused.

    \b
    Example:
        chatschema lint --pg-version 15
        chatschema lint 0006 --dsn "$DATABASE_URL" --format json
        chatschema lint --citus --dsn "$DATABASE_URL"
    """
    if citus:
        from ..citus.readiness import readiness
        from .citus import render_readiness

        settings = Settings.resolve(dsn=dsn)
        render_readiness(readiness(settings), server.describe_target(settings.dsn))
        return
    from ..migrate import lint as lint_mod
    from ..migrate.lint.formats import render

    settings = Settings.resolve(dsn=dsn) if dsn else None
    report = lint_mod.lint(revisions=revisions, location=script_location or migrate.DEFAULT_LOCATION,
                           pg_version=pg_version, settings=settings)
    click.echo(render(report, format_), nl=False)
    if report.findings:
        sys.exit(1)


