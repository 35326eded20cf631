"""`chatschema stamp`: record the revision of a database chatschema did not migrate, after proving it."""

from __future__ import annotations

import sys

import click

from ..settings import Settings
from . import connection_options, main, out, warn


@main.command()
@click.argument("revision")
@click.option("--force", "force", is_flag=True,
              help="Record REVISION even though the schema differs from it (the differences are printed). "
                   "For a DBA who has checked them by hand; later revisions may then fail or leave drift.")
@connection_options
def stamp(revision: str, force: bool, settings: Settings) -> None:
    """Record that an existing database is at REVISION, after proving it.

    For a database whose tables were made by the application (its create_all, its own
    Alembic chain, a restore) or by hand: every object REVISION's schema defines on
    users, conversations, messages and the views must be there with the same definition,
    and nothing else on them. REVISION's schema is rendered on a scratch database of the
    same server; the database itself is only read for the proof. When something differs,
    the differences are listed, nothing is recorded, and the exit status is 1.
    The application's own alembic_version is never read or written.

    \b
    Example:
        chatschema stamp 0001 --dsn postgresql://dba@db.internal/chat && chatschema upgrade --dsn ...
    """
    from ..migrate.adopt import stamp as stamp_

    result = stamp_(settings, revision, force=force)
    for diff in result.differences:
        out.print(f"✗ {diff.against(result.revision)}", markup=False, soft_wrap=True)
    if result.forced:
        warn(f"--force: recorded revision {result.revision} in {result.database} although its schema differs "
             f"from revision {result.revision}'s in {len(result.differences)} way(s) listed above")
    if not result.recorded:
        out.print(f"✗ {result.database} is not at revision {result.revision}: {len(result.differences)} "
                  f"difference(s); nothing was recorded (--force records it anyway)", markup=False)
        sys.exit(1)
    was = f" (was {result.previous})" if result.previous else ""
    proven = "" if result.forced else f"; its schema is revision {result.revision}'s"
    out.print(f"✓ {result.database} is recorded at revision {result.revision}{was}{proven}; `chatschema downgrade` "
              f"stops there (--below-stamp goes further)", markup=False)
