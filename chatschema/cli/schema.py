"""Commands that look at a database: check, doctor, views refresh."""

from __future__ import annotations

import sys

import click

from ..settings import Settings
from . import connection_options, main, out


@main.command("check")
@click.option("--known-extras", "known_extras", type=click.Path(dir_okay=False), metavar="FILE",
              help="TOML file of objects on the managed tables that are known and fine: [[extra]] entries, "
                   "each with a name (messages.app_note, an index's name) and a reason.")
@connection_options
def check_(known_extras: str | None, settings: Settings) -> None:
    """Exit 1 unless the database is at head and matches the models, index shapes included.

    Compares what is on users, conversations, messages and the materialized views as
    PostgreSQL prints it: columns (collation, statistics target, storage), constraints,
    every index (INCLUDE, WHERE, DESC, opclass, INVALID), storage parameters, triggers,
    policies, row-level security, replica identity, the views' definitions, and the
    unique index each view needs for a concurrent refresh. Anything else in the
    database (the application's tables, views, functions, schemas) is not looked at;
    an extra object on the managed tables is named unless listed in --known-extras.
    Read-only: one READ ONLY transaction; head's schema is rendered on a scratch
    database of the same server.

    \b
    Example:
        chatschema check --dsn "$DATABASE_URL" --known-extras chatschema-extras.toml || echo "schema drift"
    """
    from ..check import check, load_known_extras

    allowed = load_known_extras(known_extras) if known_extras else {}
    notes: list[str] = []
    rev, head, findings = check(settings, allow=allowed, notes=notes)
    for note in notes:
        out.print(f"note: {note}", markup=False, soft_wrap=True)
    if findings:
        for finding in findings:
            out.print(f"✗ {finding}", markup=False, soft_wrap=True)
        sys.exit(1)
    suffix = f" ({len(allowed)} known extra{'s' * (len(allowed) != 1)} allowed by {known_extras})" if allowed else ""
    out.print(f"✓ at head ({head}); the database matches the models{suffix}", markup=False)


@main.command()
@connection_options
def doctor(settings: Settings) -> None:
    """Exit 1 if the database has INVALID, unused or duplicate indexes, stale or dropped views.

    Unused means no query chatschema knows needs it: not in chatschema/indexes.py, not
    backing a constraint, not a view's refresh key. Stale means never populated, or a
    UTC day or more behind the newest message (PostgreSQL keeps no refresh time).
    Views missing before the revision that makes them are named, not a finding;
    missing at or after it (dropped) they are. Read-only: it changes nothing.

    \b
    Example:
        chatschema doctor --dsn "$DATABASE_URL"
    """
    from ..doctor import checkup

    found = checkup(settings)
    for ix in found.building:
        out.print(f"note: {ix.name} on {ix.table} is being built right now by pid {ix.building_pid}", markup=False)
    for f in found.findings:
        out.print(f"✗ {f.kind}: {f.message}", markup=False, soft_wrap=True)
        out.print(f"    fix: {f.hint}", markup=False, soft_wrap=True)
    if found.findings:
        sys.exit(1)
    views = (f"{found.missing} (`chatschema upgrade` makes them)" if found.missing.views
             else "views are fresh")
    out.print(f"✓ {found.database}: no invalid, unused or duplicate indexes; {views}", markup=False, soft_wrap=True)


@main.group()
def views() -> None:
    """Analytics materialized views."""


@views.command("refresh")
@click.option("--concurrently", is_flag=True, help="Keep the views readable during the refresh (slower; needs a populated view).")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]), metavar="YYYY-MM-DD",
              help="Citus rollups only: recompute the UTC days from this one on (after deletes older than the "
                   "default window). Default: from the day before the newest rolled-up day.")
@connection_options
def views_refresh(concurrently: bool, since, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    """Refresh the analytics views in dependency order, and the Citus rollups where they exist.

    On a Citus coordinator `chatschema distribute` adds rollup tables that the analytics read
    there; their refresh recomputes whole UTC days of a window (exact and idempotent: a re-run
    changes nothing) and writes only the rows whose counts changed.

    \b
    Example:
        chatschema views refresh --concurrently --statement-timeout 30min
        chatschema views refresh --since 2026-11-01 --dsn postgresql://dba@coordinator/chat
    """
    from ..views import refresh_analytics

    results, rolled = refresh_analytics(settings, concurrently=concurrently, since=since.date() if since else None)
    for result in results:
        how = "concurrently" if result.concurrently else "exclusively"
        out.print(f"  refreshed {result.view} {how}: {result.rows} rows in {result.seconds:.2f} s")
    if rolled is not None:
        out.print(f"  refreshed the rollups {rolled.summary}", markup=False)


