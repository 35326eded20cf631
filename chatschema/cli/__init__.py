"""The chatschema command line: a thin layer that parses options, calls the library, renders results.

Exit codes: 0 all good, 1 findings (drift, a failed plan contract), 2 could not run.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import sys
from collections.abc import Callable
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from .. import migrate, server
from ..errors import ChatSchemaError
from ..settings import Settings

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
    @click.option("--backfill-batch-size", metavar="N", help="Conversations per committed backfill batch (default 2000).")
    @click.option("--backfill-pause", metavar="DURATION", help="Pause between backfill batches, to throttle it (default 0).")
    @functools.wraps(fn)
    def wrapper(*args: Any, settings: Settings, concurrent_lock_timeout: str | None,
                concurrent_statement_timeout: str | None, lock_retries: str | None, retry_delay: str | None,
                backfill_batch_size: str | None, backfill_pause: str | None, **kwargs: Any) -> Any:
        # Resolved like every other setting (option > $CHATSCHEMA_* > default), then merged in.
        policy = Settings.resolve(
            dsn="-", concurrent_lock_timeout=concurrent_lock_timeout,
            concurrent_statement_timeout=concurrent_statement_timeout, lock_retries=lock_retries,
            retry_delay=retry_delay, backfill_batch_size=backfill_batch_size, backfill_pause=backfill_pause,
        )
        settings = dataclasses.replace(
            settings,
            concurrent_lock_timeout_ms=policy.concurrent_lock_timeout_ms,
            concurrent_statement_timeout_ms=policy.concurrent_statement_timeout_ms,
            lock_retries=policy.lock_retries,
            retry_delay_ms=policy.retry_delay_ms,
            backfill_batch_size=policy.backfill_batch_size,
            backfill_pause_ms=policy.backfill_pause_ms,
        )
        return fn(*args, settings=settings, **kwargs)

    return wrapper


def _warn(message: str) -> None:
    err.print(f"warning: {message}", markup=False, soft_wrap=True)


def _print_policy(settings: Settings, steps: list[migrate.RevisionInfo], direction: str) -> None:
    out.print(f"{direction.capitalize()} of {server.describe_target(server.conninfo(settings))}: "
              f"{', '.join(s.revision for s in steps)}. Lock policy:", markup=False)
    for line in migrate.policy_lines(settings):
        out.print(f"  - {line}", markup=False, soft_wrap=True)


def _print_plan(plan: migrate.Plan, settings: Settings) -> None:
    from ..doctor import format_size
    from ..migrate.locks import normalize
    from ..settings import format_duration

    target = server.describe_target(server.conninfo(settings))
    if not plan.revisions:
        out.print(f"Dry run on {target}: already at {plan.target}; nothing would run.", markup=False)
        return
    last = plan.revisions[-1].revision if plan.direction == "upgrade" else plan.target
    out.print(f"Dry run on {target} (nothing is changed): {plan.direction} {plan.current or 'base'} -> {last}. "
              f"Lock policy:", markup=False)
    for line in migrate.policy_lines(settings):
        out.print(f"  - {line}", markup=False, soft_wrap=True)
    strong: list[str] = []
    for rev in plan.revisions:
        out.print(f"\n{rev.revision}  {rev.title}", markup=False)
        if not rev.statements:
            out.print("    (no statements)", markup=False)
        for st in rev.statements:
            text = normalize(st.sql)
            text = text if len(text) <= 100 else text[:99] + "…"
            if st.lock.kind == "DO block: catalog check":
                raises = re.search(r"RAISE EXCEPTION '([^']*)'", st.sql)
                message = raises.group(1) if raises else text
                if "left by a failed build" in message:
                    # online the runner repairs what the offline script can only refuse
                    message = ("an INVALID leftover of a failed build is dropped first (the offline script stops "
                               "instead); one being built by another session stops the run")
                elif "after CREATE INDEX CONCURRENTLY" in message:
                    message = "the run stops unless the new index is valid"
                out.print(f"  (check: {message})", markup=False, soft_wrap=True)
                continue
            context = (f"[{'in the revision transaction' if st.in_transaction else 'autocommit'}; lock_timeout "
                       f"{format_duration(st.lock_timeout_ms)}, statement_timeout {format_duration(st.statement_timeout_ms)}]")
            out.print(f"  {text}", markup=False, soft_wrap=True)
            if not st.lock.locks:
                out.print(f"      {st.lock.kind}: no table lock {context}", markup=False, soft_wrap=True)
            for lk in st.lock.locks:
                size = plan.sizes.get(lk.relation)
                if lk.new or size is None or size.bytes is None:
                    on = f"{lk.relation} (new)"
                else:
                    rows = f"~{size.rows:,} rows" if size.rows is not None else "rows unknown (never analyzed)"
                    on = f"{size.table if lk.via_index else lk.relation} ({format_size(size.bytes)}, {rows})"
                    if st.lock.lock_class == "strong":
                        strong.append(f"{lk.mode_name} on {size.table if lk.via_index else lk.relation} "
                                      f"({rev.revision}, waits at most {format_duration(st.lock_timeout_ms)})")
                extra = ""
                if st.lock.dml and size is not None and size.rows:
                    batches = -(-size.rows // settings.backfill_batch_size)
                    extra = (f"; row locks (FOR UPDATE) on one batch of {settings.backfill_batch_size} at a time, "
                             f"~{batches:,} batches")
                out.print(f"      {lk.mode_name} on {on}: {lk.blocks}{extra} {context}", markup=False, soft_wrap=True)
            if st.lock.dml and plan.backfill is not None and not plan.backfill.finished:
                out.print(f"      checkpoint: {plan.backfill.rows_done:,} conversations already done; the run resumes "
                          f"after them", markup=False)
    if strong:
        out.print("\nLocks that block reads or writes of a live table: " + "; ".join(dict.fromkeys(strong)),
                  markup=False, soft_wrap=True)
    else:
        out.print("\nNo statement takes a lock that blocks reads or writes of a live table.", markup=False)


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
    with _progress() as bar:
        tasks: dict[str, Any] = {}

        def progress(name: str, done: int, total: int) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(f"backfill {name}", total=total)
            bar.update(tasks[name], completed=done, total=total)

        applied = migrate.upgrade(settings, revision, progress=progress, on_revision=_print_applied,
                                  on_warning=_warn)
    if not applied:
        out.print(f"Already at {revision}; nothing to do.")
    else:
        out.print(f"Upgraded to {applied[-1].revision} ({len(applied)} revision{'s' * (len(applied) != 1)}, "
                  f"{sum(r.seconds for r in applied):.2f} s).")


@main.command()
@click.argument("revision")
@click.option("--dry-run", is_flag=True, help="Print the plan and change nothing.")
@connection_options
@policy_options
def downgrade(revision: str, dry_run: bool, settings: Settings) -> None:
    """Downgrade the database to REVISION ('base' removes everything chatschema created).

    Runs under the same lock policy as upgrade.

    \b
    Example:
        chatschema downgrade 0005     # undo the activity index and the views
    """
    if dry_run:
        _print_plan(migrate.plan(settings, revision, direction="downgrade"), settings)
        return
    steps = migrate.pending(settings, revision, direction="downgrade")
    if steps:
        _print_policy(settings, steps, "downgrade")
    applied = migrate.downgrade(settings, revision, on_revision=_print_applied, on_warning=_warn)
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
    from ..check import check

    rev, head, findings = check(settings)
    if findings:
        for finding in findings:
            out.print(f"✗ {finding}", markup=False, soft_wrap=True)
        sys.exit(1)
    out.print(f"✓ at head ({head}); the database matches the models")


@main.command("lint")
@click.argument("revisions", nargs=-1, metavar="[REVISION]...")
@click.option("--dsn", metavar="DSN",
              help="Also check this database: drift from the models (index shapes included), INVALID indexes, "
                   "materialized views a concurrent refresh cannot use. Without it lint connects to nothing.")
@click.option("--pg-version", type=click.IntRange(10, 30), metavar="N",
              help="PostgreSQL major version the migrations will run on, for squawk "
                   "(default: the --dsn server's, else $CHATSCHEMA_PG_VERSION, else 18).")
@click.option("--script-location", metavar="DIR", help="Lint another Alembic script directory (default: chatschema's chain).")
@click.option("--format", "format_", type=click.Choice(["text", "json"]), default="text", show_default=True)
def lint_(revisions: tuple[str, ...], dsn: str | None, pg_version: int | None, script_location: str | None,
          format_: str) -> None:
    """Lint every revision (or the REVISIONs named), upgrade and downgrade, one at a time.

    Each revision's offline SQL goes through squawk; each finding names the revision and the
    line of its Python file. chatschema adds what squawk cannot see: a CONCURRENTLY build
    sharing a revision with transactional work, a data backfill inside a DDL revision, a
    materialized view without a refresh key; and with --dsn, the database's drift from the
    models, INVALID indexes and NULL refresh keys. Suppress a finding with a comment above the
    statement: `# chatschema-lint: ignore RULE -- reason` (the reason is required).
    Exit 1 when there are findings.

    \b
    Example:
        chatschema lint --pg-version 15
        chatschema lint 0006 --dsn "$DATABASE_URL" --format json
    """
    import json as json_
    import os

    from ..migrate import lint as lint_mod

    settings = Settings.resolve(dsn=dsn) if dsn else None
    if pg_version is None:
        if settings is not None:
            pg_version = server.server_version(server.conninfo(settings))
        else:
            pg_version = int(os.environ.get("CHATSCHEMA_PG_VERSION") or 18)
    report = lint_mod.lint(revisions=revisions, location=script_location or migrate.DEFAULT_LOCATION,
                           pg_version=pg_version, settings=settings)
    if format_ == "json":
        click.echo(json_.dumps({
            "findings": [dataclasses.asdict(f) for f in report.findings],
            "suppressed": [dataclasses.asdict(f) for f in report.suppressed],
            "notes": list(report.notes), "revisions": list(report.revisions),
            "squawk": report.squawk, "pg_version": report.pg_version, "database": report.database,
        }, indent=2))
    else:
        for f in report.findings:
            scope = f" (revision {f.revision} {f.direction})" if f.revision and f.direction else ""
            out.print(f"✗ {f.where}: {f.rule} [{f.source}]{scope}: {f.message}", markup=False, soft_wrap=True)
            if f.statement:
                out.print(f"    {f.statement}", markup=False, soft_wrap=True)
            if f.hint:
                out.print(f"    fix: {f.hint}", markup=False, soft_wrap=True)
        for note in report.notes:
            out.print(f"note: {note}", markup=False, soft_wrap=True)
        groups: dict[tuple, list[lint_mod.Finding]] = {}
        for f in report.suppressed:
            groups.setdefault((f.path, f.revision, f.direction, f.rule, f.reason), []).append(f)
        for (path, rev, direction, rule, reason), items in groups.items():
            lines = ",".join(str(f.line) for f in items)
            out.print(f"~ {items[0].where.rsplit(':', 1)[0]}:{lines}: {rule} ({rev} {direction}) suppressed: {reason}",
                      markup=False, soft_wrap=True)
        checked = f"{len(report.revisions)} revision{'s' * (len(report.revisions) != 1)} (upgrade and downgrade)"
        tools = f"{report.squawk} --pg-version {report.pg_version} and chatschema's checks" + (
            f", database {report.database}" if report.database else "")
        if report.findings:
            out.print(f"✗ {len(report.findings)} finding{'s' * (len(report.findings) != 1)} in {checked} "
                      f"({tools})", markup=False)
        else:
            out.print(f"✓ {checked}: no findings ({tools}); {len(report.suppressed)} suppressed with a reason",
                      markup=False)
    if report.findings:
        sys.exit(1)


@main.command()
@connection_options
def doctor(settings: Settings) -> None:
    """Exit 1 if the database has INVALID, unused or duplicate indexes, or stale views.

    Unused means no query chatschema knows needs it: not in chatschema/indexes.py, not
    backing a constraint, not a view's refresh key. Stale means never populated, or a
    UTC day or more behind the newest message (PostgreSQL keeps no refresh time).
    Read-only: it changes nothing.

    \b
    Example:
        chatschema doctor --dsn "$DATABASE_URL"
    """
    from ..doctor import builds_in_progress, diagnose

    findings = diagnose(settings)
    for ix in builds_in_progress(settings):
        out.print(f"note: {ix.name} on {ix.table} is being built right now by pid {ix.building_pid}", markup=False)
    for f in findings:
        out.print(f"✗ {f.kind}: {f.message}", markup=False, soft_wrap=True)
        out.print(f"    fix: {f.hint}", markup=False, soft_wrap=True)
    if findings:
        sys.exit(1)
    out.print(f"✓ {server.describe_target(server.conninfo(settings))}: no invalid, unused or duplicate indexes; "
              f"views are fresh", markup=False)


@main.command("seed")
@click.option("--scale", type=click.Choice(["tiny", "ci", "bench", "large"]), default="ci", show_default=True,
              help="How much: tiny (5k messages, unit tests), ci (200k), bench (2M), large (10M).")
@click.option("--messages", type=int, metavar="N",
              help="Generate N messages instead of the scale's count; users and conversations scale in proportion.")
@click.option("--seed", "seed_", type=int, default=42, show_default=True,
              help="Same seed, same data: ids, content and timestamps.")
@click.option("--replace", is_flag=True, help="Delete every row first (TRUNCATE users CASCADE) if the tables are not empty.")
@connection_options
def seed_(scale: str, messages: int | None, seed_: int, replace: bool, settings: Settings) -> None:
    """Fill the database with skewed, deterministic chat data, generated inside PostgreSQL.

    A whale user with tens of thousands of conversations, conversations with tens of
    thousands of messages, users and conversations with none, user/assistant pairs sharing
    a timestamp, and content from two characters to 9 kB. Works at any revision from 0001
    on (summaries exact from 0003; views refreshed at 0007), then VACUUM (ANALYZE)s every
    table. --lock-timeout bounds the wait for locks (TRUNCATE takes the strongest);
    --statement-timeout does not apply, since every statement here is a bulk load.

    \b
    Example:
        chatschema upgrade && chatschema seed --scale ci
        chatschema seed --scale large --seed 7 --replace --dsn postgresql://dba@bench/chat
    """
    from psycopg import conninfo as pg_conninfo

    from ..seed import seed_database

    params = pg_conninfo.conninfo_to_dict(server.conninfo(settings))
    params["options"] = f"{params.get('options') or ''} -c lock_timeout={settings.lock_timeout_ms}ms".strip()
    info = pg_conninfo.make_conninfo(**params)
    bar = _progress()  # started by the first chunk, so a refusal prints nothing but its error
    tasks: dict[str, Any] = {}

    def progress(name: str, done: int, total: int) -> None:
        if not tasks:
            bar.start()
        if name not in tasks:
            tasks[name] = bar.add_task(name, total=total)
        bar.update(tasks[name], completed=done, total=total)

    try:
        report = seed_database(info, scale=scale, messages=messages, seed=seed_, replace=replace, progress=progress)
    finally:
        if tasks:
            bar.stop()
    loading = dict(report.phases).get("messages") or report.seconds
    out.print(
        f"Seeded {server.describe_target(info)} at revision {report.revision} (scale {report.scale}, seed {report.seed}): "
        f"{report.users:,} users, {report.conversations:,} conversations, {report.messages:,} messages "
        f"in {report.seconds:.1f} s ({report.messages_per_second:,.0f} messages/s; "
        f"{report.messages / loading:,.0f}/s while loading messages).",
        markup=False,
    )
    rows = report.interesting
    for label, value in (
        ("heaviest user", f"{rows.heaviest_user_id} ({rows.heaviest_user_conversations:,} conversations)"),
        ("typical user", f"{rows.typical_user_id} ({rows.typical_user_conversations:,} conversations)"),
        ("idle user", f"{rows.idle_user_id} (no conversations)"),
        ("longest conversation", f"{rows.longest_conversation_id} ({rows.longest_conversation_messages:,} messages, "
                                 f"user {rows.longest_conversation_user_id})"),
        ("empty conversation", f"{rows.empty_conversation_id} (user {rows.empty_conversation_user_id})"),
    ):
        out.print(f"  {label:<21} {value}", markup=False)


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
    from ..views import refresh_views

    info = server.conninfo(settings)
    with server.connect(info, autocommit=True) as conn:
        conn.execute(f"SET lock_timeout = '{settings.lock_timeout_ms}ms'")
        conn.execute(f"SET statement_timeout = '{settings.statement_timeout_ms}ms'")
        for result in refresh_views(conn, concurrently=concurrently):
            how = "concurrently" if result.concurrently else "exclusively"
            out.print(f"  refreshed {result.view} {how}: {result.rows} rows in {result.seconds:.2f} s")


@main.group()
def queries() -> None:
    """The query catalog: the application's canonical queries in every variant."""


@queries.command("list")
def queries_list() -> None:
    """List every query: operation, variant, schema revision, round trips, whether it writes.

    \b
    Example:
        chatschema queries list
    """
    from .. import queries as catalog

    table = Table("operation", "variant", "revision", "round trips", "writes", box=None, pad_edge=False)
    for q in catalog.all_queries():
        table.add_row(q.operation, q.variant, q.revision, str(q.round_trips), "yes" if q.writes else "")
    out.print(table)


@queries.command("show")
@click.argument("name")
def queries_show(name: str) -> None:
    """Print the formatted SQL of NAME: 'operation.variant', or 'operation' for all its variants.

    \b
    Example:
        chatschema queries show list_conversations.optimized
    """
    from .. import queries as catalog

    try:
        found = catalog.by_name(name)
    except KeyError as exc:
        raise click.BadParameter(str(exc.args[0]), param_hint="NAME") from None
    for q in found:
        click.echo(f"-- {q.name} (revision {q.revision}, {q.round_trips} round trip{'s' * (q.round_trips != 1)})")
        if q.notes:
            click.echo("\n".join(f"-- {line}" for line in _wrap(q.notes)))
        click.echo(catalog.formatted_sql(q) + "\n")


def _wrap(text: str) -> list[str]:
    import textwrap

    return textwrap.wrap(text, 100)


@main.group()
def plans() -> None:
    """Plan contracts: prove every catalog query uses its indexes and costs O(page)."""


def _plan_progress(bar: Progress) -> Callable[[str, int, int], None]:
    tasks: dict[str, Any] = {}

    def progress(name: str, done: int, total: int) -> None:
        key = name.split()[0]
        if key not in tasks:
            tasks[key] = bar.add_task(name, total=total)
        bar.update(tasks[key], description=name, completed=done, total=total)

    return progress


def _plan_events(console: Console) -> Callable[[str, Any], None]:
    def on_event(kind: str, payload: Any) -> None:
        if kind == "stage":
            console.print(f"• {payload}", markup=False, soft_wrap=True)
        elif kind == "seeded":
            console.print(f"  seeded {payload.messages:,} messages, {payload.conversations:,} conversations, "
                          f"{payload.users:,} users in {payload.seconds:.1f} s", markup=False)

    return on_event


@plans.command("verify")
@click.option("--variant", type=click.Choice(["optimized", "today", "seed_proposal", "all"]), default="optimized",
              show_default=True, help="Which variants of the catalog to verify.")
@click.option("--query", "query_name", metavar="NAME", help="One operation (all its chosen variants) or operation.variant.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "junit", "markdown"]), default="text",
              show_default=True, help="text for people, json for machines, junit for CI, markdown for pull requests.")
@click.option("--analyze/--no-analyze", default=None,
              help="Measure with EXPLAIN ANALYZE (read queries only, READ ONLY). Default: on for the scratch database, "
                   "off for --dsn, where writes are never executed.")
@click.option("--scale", default="ci", show_default=True, metavar="tiny|ci|bench|large",
              help="Data the scratch database is seeded with (a second one at a quarter of it measures growth).")
@click.option("--messages", type=int, metavar="N", help="Seed exactly N messages (same shape as --scale).")
@click.option("--growth/--no-growth", default=True, show_default=True,
              help="Measure buffer growth on a second, smaller scratch database.")
@connection_options
def plans_verify(variant: str, query_name: str | None, fmt: str, analyze: bool | None, scale: str,
                 messages: int | None, growth: bool, settings: Settings) -> None:
    """Verify every catalog query's plan against its contract.

    Without --dsn: seeds a scratch database on the embedded server at today's schema,
    verifies today's queries, upgrades it to head, verifies the optimized ones, and
    measures buffer growth on a second, smaller database. With --dsn: plans the
    variants that match the database's revision, in READ ONLY transactions.
    Exit 0: every contract holds; 1: findings; 2: could not run.

    \b
    Example:
        chatschema plans verify --variant all
        chatschema plans verify --dsn "$REPLICA_URL" --format junit > plans.xml
    """
    from ..plans import pipeline
    from ..plans.render import render

    with _progress() as bar:
        report = pipeline.run(settings, variant=variant, query=query_name, analyze=analyze, scale=scale,
                              messages=messages, growth=growth, progress=_plan_progress(bar),
                              on_event=_plan_events(err))
    click.echo(render(report, fmt), nl=False)
    for error in report.errors:
        err.print(f"Error: {error}", markup=False, soft_wrap=True)
    sys.exit(report.exit_code)


@plans.command("show")
@click.argument("name")
@click.option("--case", "case_name", metavar="CASE", help="Parameter case (default: the operation's first, e.g. 'heaviest user, first page').")
@click.option("--mode", type=click.Choice(["custom", "generic", "probe"]), default="custom", show_default=True,
              help="custom: the planner with the values; generic: a prepared statement's plan; probe: seq scans, bitmap scans and sorts off.")
@click.option("--analyze/--no-analyze", default=None, help="Measure (default: on for the scratch database, off for --dsn).")
@click.option("--scale", default="ci", show_default=True, metavar="tiny|ci|bench|large", help="Scratch database data.")
@click.option("--messages", type=int, metavar="N", help="Seed exactly N messages.")
@connection_options
def plans_show(name: str, case_name: str | None, mode: str, analyze: bool | None, scale: str, messages: int | None,
               settings: Settings) -> None:
    """Show the plan of NAME (operation.variant) as a tree, with the contract's verdict on each node.

    \b
    Example:
        chatschema plans show list_conversations.today
        chatschema plans show load_messages.optimized --case "longest conversation, first page" --mode generic
    """
    from ..plans import pipeline
    from ..plans.render import contract_marks, tree

    with _progress() as bar:
        shown = pipeline.show(settings, name, case=case_name, mode=mode, analyze=analyze, scale=scale,
                              messages=messages, progress=_plan_progress(bar), on_event=_plan_events(err))
    result, check = shown.result, shown.check
    findings = [f for f in result.findings if f.case == check.case and f.mode == check.mode]
    out.print(f"{result.name} on PostgreSQL {shown.server_version} ({shown.target}): {check.case}, {check.mode} plan",
              markup=False)
    out.print(f"contract: {result.contract.describe()}", markup=False, soft_wrap=True)
    for i, plan in enumerate(check.plans):
        if len(check.plans) > 1:
            out.print(f"\nstatement {i + 1} ({plan.statement}):", markup=False)
        for line in tree(plan, contract_marks(result.contract, plan, findings, i), indent="  "):
            out.print(line, markup=False, soft_wrap=True)
    query_findings = [f for f in findings if f.node is None]
    for f in query_findings:
        out.print(f"✗ {f.rule}: {f.message}", markup=False, soft_wrap=True)
    out.print(("✓ the contract holds" if not findings else f"✗ {len(findings)} finding{'s' * (len(findings) != 1)}")
              + f"; other cases: {'; '.join(c for c in shown.cases if c != check.case) or 'none'}", markup=False)
    sys.exit(1 if findings else 0)


@plans.command("docs")
@click.option("--output", type=click.Path(dir_okay=False), default="docs/plan-rules.md", show_default=True,
              help="File to write.")
@click.option("--check", "check_only", is_flag=True, help="Write nothing; exit 1 if the file is not up to date.")
def plans_docs(output: str, check_only: bool) -> None:
    """Generate the plan-rule reference from the rules' docstrings and the contracts.

    \b
    Example:
        chatschema plans docs && git diff --exit-code docs/plan-rules.md
    """
    from pathlib import Path

    from ..plans.docs import rules_markdown

    text = rules_markdown()
    path = Path(output)
    current = path.read_text(encoding="utf-8") if path.exists() else None
    if check_only:
        if current != text:
            out.print(f"✗ {output} is stale; run `chatschema plans docs`", markup=False)
            sys.exit(1)
        out.print(f"✓ {output} is up to date", markup=False)
        return
    path.write_text(text, encoding="utf-8")
    out.print(f"wrote {output}", markup=False)


@main.command("docs")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="docs", show_default=True,
              help="Directory of the generated files.")
@click.option("--check", "check_only", is_flag=True,
              help="Write nothing; exit 1 naming each file that is missing or not up to date.")
def docs_(out_dir: str, check_only: bool) -> None:
    """Generate the reference docs: queries.md, cli.md, schema.md and plan-rules.md.

    queries.md from the query catalog and the API's signatures and docstrings; cli.md from
    every command's --help; schema.md from the models, indexes, views and migration chain;
    plan-rules.md as `chatschema plans docs` writes it. Connects to nothing. The files are
    committed, and tests/test_docs.py fails when one is stale.

    \b
    Example:
        chatschema docs
        chatschema docs --check || echo "run chatschema docs and commit the result"
    """
    from pathlib import Path

    from .. import docs

    directory = Path(out_dir)
    if check_only:
        bad = docs.stale(directory, main)
        for path in bad:
            out.print(f"✗ {path} is stale; run `chatschema docs`", markup=False)
        if bad:
            sys.exit(1)
        out.print(f"✓ the generated docs in {directory} are up to date", markup=False)
        return
    for path, changed in docs.write(directory, main):
        out.print(f"wrote {path}" if changed else f"{path} is up to date", markup=False)


@main.command()
@click.option("--scale", default="ci", show_default=True, metavar="tiny|ci|bench|large", help="Data to seed.")
@click.option("--messages", type=int, metavar="N", help="Seed exactly N messages instead (same shape).")
@click.option("--database", default="chatschema_demo", show_default=True,
              help="Name of the demo database (dropped and created again).")
@connection_options
def demo(scale: str, messages: int | None, database: str, settings: Settings) -> None:
    """The whole story in about a minute: today's schema fails its plan contracts, head passes.

    A new database (--database, dropped first) at today's schema (0001), seeded with
    skewed data; today's queries and the seed plan's proposals verified, failing with
    their findings; the same database migrated to head; the optimized queries verified,
    passing; then each operation's cost before and after. With --dsn the demo database
    is created on that server (it needs CREATEDB). Exit 1 if an optimized query fails.

    \b
    Example:
        chatschema demo
    """
    from ..plans import pipeline
    from ..plans.findings import count, rows_text

    def on_event(kind: str, payload: Any) -> None:
        if kind == "stage":
            out.print(f"\n{payload}", markup=False, soft_wrap=True)
        elif kind == "revision":
            _print_applied(payload)
        elif kind == "seeded":
            ids = payload.interesting
            out.print(f"  seeded {payload.messages:,} messages, {payload.conversations:,} conversations, "
                      f"{payload.users:,} users in {payload.seconds:.1f} s; the heaviest user has "
                      f"{ids.heaviest_user_conversations:,} conversations, the longest conversation "
                      f"{ids.longest_conversation_messages:,} messages", markup=False, soft_wrap=True)
        elif kind == "verified":
            for result in payload:
                if result.passed:
                    check = result.check("custom")
                    cost = (f"{rows_text(check.rows_read)} read, {rows_text(check.buffers, 'buffer')}, "
                            f"{rows_text(check.rows_returned)} returned ({check.case})") if check else ""
                    out.print(f"  ✓ {result.name}: {cost}", markup=False)
                    continue
                first = result.findings[0] if result.findings else None
                rules = list(dict.fromkeys(f.rule for f in result.findings))
                out.print(f"  ✗ {result.name}: {result.error or first.message if first else result.error}",
                          markup=False, soft_wrap=True)
                if len(rules) > 1:
                    out.print(f"      also: {', '.join(rules[1:])}", markup=False, soft_wrap=True)

    out.print("chatschema demo: today's schema and queries, verified; migrated to head; verified again.",
              markup=False)
    with _progress() as bar:
        report = pipeline.run(settings, variant="all", scale=scale, messages=messages, growth=False,
                              database=database, scratch=True, progress=_plan_progress(bar), on_event=on_event)
    table = Table("operation", "today", "seed proposal", "optimized", "fewer",
                  title="Shared buffers per request (rows read), before and after", box=None, pad_edge=False)
    cases: list[str] = []
    for operation in dict.fromkeys(r.query.operation for r in report.results):
        cells: dict[str, tuple[str, int | None]] = {}
        for r in report.results:
            check = r.check("custom") if r.query.operation == operation else None
            if check is not None:
                cells[r.query.variant] = (f"{count(check.buffers)} ({count(check.rows_read)})", check.buffers)
                if r.query.variant == "optimized":
                    cases.append(f"{operation}: {check.case}")
        before, after = cells.get("today", ("-", None))[1], cells.get("optimized", ("-", None))[1]
        ratio = before / after if before and after else None
        fewer = "-" if ratio is None else (f"x{ratio:,.0f}" if ratio >= 10 else f"x{ratio:.1f}")
        table.add_row(operation, *(cells.get(v, ("-", None))[0] for v in ("today", "seed_proposal", "optimized")), fewer)
    out.print()
    out.print(table)
    out.print(f"Each operation measured on its heaviest case ({'; '.join(cases)}).", markup=False, soft_wrap=True)
    optimized = [r for r in report.results if r.query.variant == "optimized"]
    failing = [r.name for r in optimized if not r.passed]
    today_failing = sum(1 for r in report.results if r.query.variant != "optimized" and not r.passed)
    out.print(f"\n{today_failing} of {len(report.results) - len(optimized)} queries of today and the seed plan fail "
              f"their contracts; {len(optimized) - len(failing)} of {len(optimized)} optimized queries pass. "
              f"Details: chatschema plans verify --variant all", markup=False, soft_wrap=True)
    if failing or report.schema_findings:
        sys.exit(1)


def _bench_progress(bar: Progress) -> Callable[[str, int, int], None]:
    tasks: dict[str, Any] = {}

    def progress(name: str, done: int, total: int) -> None:
        if name not in tasks:
            tasks[name] = bar.add_task(name, total=total)
        bar.update(tasks[name], completed=done, total=total)

    return progress


def _bench_events(console: Console, partial: Any = None) -> Callable[[str, Any], None]:
    def on_event(kind: str, payload: Any) -> None:
        if kind == "partial" and partial is not None:
            partial(payload)
        elif kind == "stage":
            console.print(f"• {payload}", markup=False, soft_wrap=True)
        elif kind == "revision":
            label, rev = payload
            console.print(f"  {label}: {rev.revision} {rev.title} ({rev.seconds:.2f} s)", markup=False, soft_wrap=True)
        elif kind == "seeded":
            label, seeded = payload
            console.print(f"  {label}: seeded {seeded.messages:,} messages, {seeded.conversations:,} conversations, "
                          f"{seeded.users:,} users in {seeded.seconds:.1f} s", markup=False)

    return on_event


@main.command("bench")
@click.option("--scales", default="ci", show_default=True, metavar="NAME[,NAME...]",
              help="Data sizes, smallest first: tiny (5k messages), ci (200k), bench (2M), large (10M); "
                   "NAME=N resizes one to N messages. Each gets its own scratch database.")
@click.option("--iterations", type=click.IntRange(1, 100_000), default=100, show_default=True,
              help="Rounds of the interleaved read loop (every read cell once per round).")
@click.option("--budget", type=click.FloatRange(0.1), default=15.0, show_default=True, metavar="SECONDS",
              help="A read cell stops after this much measured time (once it has 3 calls): bounds the slow variants.")
@click.option("--write-seconds", type=click.FloatRange(0.1), default=3.0, show_default=True, metavar="SECONDS",
              help="Duration of each send run (variant x spread/hot x clients).")
@click.option("--clients", default="1,4,16", show_default=True, metavar="N[,N...]",
              help="Concurrent clients (pool sizes) of the send runs.")
@click.option("--control/--no-control", default=True, show_default=True,
              help="Also measure today's queries at head, interleaved with ours.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="docs", show_default=True,
              help="Directory for benchmarks.md; plots and results.json go to OUT/bench/.")
@click.option("--keep", is_flag=True, help="Keep the scratch databases (chatschema_bench_SCALE) afterwards.")
@click.option("--from-json", "from_json", type=click.Path(dir_okay=False, exists=True), metavar="FILE",
              help="Render the report from a results.json of an earlier run; connects to nothing.")
@connection_options
def bench_(scales: str, iterations: int, budget: float, write_seconds: float, clients: str, control: bool, out_dir: str,
           keep: bool, from_json: str | None, settings: Settings) -> None:
    """Benchmark every query variant at several data sizes; write OUT/benchmarks.md, plots and JSON.

    Per scale: a scratch database (chatschema_bench_SCALE, dropped afterwards unless
    --keep) at revision 0001 is seeded; today's queries and the seed plan's proposals
    are measured, interleaved; it is upgraded to head (each revision timed) and ours
    are measured, with today's at head as a control; then sends through a connection
    pool with 1, 4 and 16 clients, a check that every summary is exact, and a
    concurrent refresh of the views. With --dsn the scratch databases are created on
    that server (CREATEDB needed). Exit 1 if a summary is not exact after the sends.
    Migrations there run without a statement timeout (the databases are private).

    \b
    Example:
        chatschema bench --scales ci,bench,large         # regenerates docs/benchmarks.md (~45 min)
        chatschema bench --scales tiny --iterations 5 --out /tmp/bench
        chatschema bench --from-json docs/bench/results.json   # re-render only
    """
    import json
    import shlex
    from pathlib import Path

    from .. import bench
    from ..bench import report as bench_report

    given = [f"--scales {shlex.quote(scales)}"] + [
        f"{flag} {value}" for flag, value, default in (
            ("--iterations", iterations, 100), ("--budget", f"{budget:g}", "15"),
            ("--write-seconds", f"{write_seconds:g}", "3"), ("--clients", shlex.quote(clients), "1,4,16"),
        ) if str(value) != str(default)
    ] + ([] if control else ["--no-control"])
    command = "chatschema bench " + " ".join(given)
    if from_json:
        try:
            data = json.loads(Path(from_json).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise click.BadParameter(f"cannot read {from_json}: {exc}", param_hint="--from-json") from None
        command = data.get("command", command)
    else:
        specs = bench.parse_scales(scales)
        try:
            pool_sizes = tuple(int(c) for c in clients.split(",") if c.strip())
        except ValueError:
            raise click.BadParameter(f"expected whole numbers separated by commas, got {clients!r}",
                                     param_hint="--clients") from None
        if not pool_sizes or min(pool_sizes) < 1:
            raise click.BadParameter(f"expected whole numbers of at least 1, got {clients!r}", param_hint="--clients")
        options = bench.BenchOptions(iterations=iterations, budget_s=budget, write_seconds=write_seconds,
                                     clients=pool_sizes, control=control)
        partial_path = Path(out_dir) / "bench" / "results.partial.json"

        def save_partial(run: bench.BenchRun) -> None:
            # A long run that fails in its last scale can still be rendered with --from-json.
            partial_path.parent.mkdir(parents=True, exist_ok=True)
            partial_path.write_text(json.dumps({**run.to_dict(), "command": command}, indent=1, default=str),
                                    encoding="utf-8")

        with _progress() as bar:
            result = bench.run(settings, specs, options, keep=keep, progress=_bench_progress(bar),
                               on_event=_bench_events(err, save_partial))
        data = {**result.to_dict(), "command": command}
        partial_path.unlink(missing_ok=True)
    written = bench_report.write_report(data, Path(out_dir), command)
    for target in bench_report.targets(data):
        mark = {"PASS": "✓", "MISS": "✗"}.get(target.status, "-")
        out.print(f"{mark} {target.status} {target.name}: {target.measured}", markup=False, soft_wrap=True)
    bad = [s for s in data["scales"] if s["summary_mismatches"] != 0]
    for s in data["scales"]:
        verdict = "exact" if s["summary_mismatches"] == 0 else f"{s['summary_mismatches']:,} NOT EXACT"
        out.print(f"summaries at {s['scale']}: {s['summary_conversations']:,} conversations checked, "
                               f"{verdict}", markup=False)
    out.print(f"wrote {written[0]} and {len(written) - 1} files in {Path(out_dir) / 'bench'}", markup=False)
    if bad:
        sys.exit(1)
