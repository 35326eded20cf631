"""Adopting databases chatschema did not migrate itself: proving where one stands, and recording it.

chatschema records its revision in its own table (``VERSION_TABLE``). A database whose managed
tables exist but which records no revision there was made by someone else (the application's
``create_all``, its own Alembic chain, a restore) or by an earlier chatschema:

- an earlier chatschema recorded its revision in ``alembic_version``; when that table holds exactly
  one row, the row is one of chatschema's revision ids, and the schema is that revision's schema,
  the revision is carried over once (with a warning) and ``alembic_version`` is left as it was;
- otherwise ``alembic_version`` is the application's and is ignored entirely, and a run stops
  (``NotAdopted``, exit 2) naming the revision the schema matches, for ``chatschema stamp``.

``stamp`` proves a database is at a revision (every object of that revision's schema on the managed
tables, with the same definition, and nothing else) before recording it; the proof only reads the
database (READ ONLY transaction), the revision's schema is rendered on a scratch database.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from alembic.runtime.migration import MigrationContext
from psycopg import sql
from psycopg.rows import dict_row

from .. import server
from ..schema_catalog import Catalog, Difference, differences, managed_tables_present, read_catalog
from ..errors import ConfigError, NotAdopted
from ..migrations import LEGACY_VERSION_TABLE, VERSION_TABLE
from ..progress import Warn
from ..settings import Settings
from . import stamped
from .chain import connection, database_revision, history, resolve, script_directory
from .encoding import require_utf8
from .reference import revision_schemas

__all__ = ["StampResult", "stamp", "guard", "starting_revision", "legacy_revision", "matching_revisions"]


@dataclass(frozen=True)
class StampResult:
    database: str
    revision: str
    previous: str | None
    differences: tuple[Difference, ...]
    recorded: bool
    forced: bool


def legacy_revision(raw: psycopg.Connection) -> str | None:
    """The revision an earlier chatschema left in ``alembic_version``, if the table looks like its record:
    exactly one row, one of chatschema's revision ids. Anything else is the application's. Only reads."""
    with raw.cursor(row_factory=dict_row) as cur:
        present = cur.execute("SELECT to_regclass(%s) IS NOT NULL AS present", (LEGACY_VERSION_TABLE,)).fetchone()
        if not (present and present["present"]):
            return None
        try:
            rows = cur.execute(sql.SQL("SELECT version_num::text AS v FROM {} LIMIT 2").format(
                sql.Identifier(LEGACY_VERSION_TABLE))).fetchall()
        except psycopg.Error:  # the application's table, of another shape: not ours
            raw.rollback()
            return None
    known = {r.revision for r in history()}
    return rows[0]["v"] if len(rows) == 1 and rows[0]["v"] in known else None


def matching_revisions(actual: Catalog, schemas: dict[str, Catalog]) -> tuple[list[str], tuple[str, int] | None]:
    """(revisions whose schema the catalog is exactly, the closest otherwise as (revision, differences))."""
    counts = {rev: len(differences(actual, schema)) for rev, schema in schemas.items()}
    exact = [rev for rev, n in counts.items() if n == 0]
    closest = min(counts.items(), key=lambda item: item[1]) if counts else None
    return exact, closest


def _read_only(raw: psycopg.Connection) -> Catalog:
    raw.rollback()
    raw.execute("SET TRANSACTION READ ONLY")
    try:
        return read_catalog(raw)
    finally:
        raw.rollback()


def _record(conn, revision: str, *, stamp_forced: bool | None = None) -> None:  # type: ignore[no-untyped-def]
    """Record ``revision``; with ``stamp_forced`` (a DBA's stamp) also where the database was adopted."""
    context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
    with conn.begin():
        context.stamp(script_directory(), revision)
        if stamp_forced is not None:
            stamped.record(conn, revision, forced=stamp_forced)


def _assess(settings: Settings, conn, info: str) -> str | None:  # type: ignore[no-untyped-def]
    """None when there is nothing to adopt; the earlier chatschema's revision to carry over; else NotAdopted."""
    raw = conn.connection.driver_connection
    recorded = database_revision(conn)
    present = managed_tables_present(raw)
    legacy = legacy_revision(raw)
    conn.rollback()
    raw.rollback()
    if recorded is not None or not present:
        return None
    schemas = revision_schemas(settings)
    actual = _read_only(raw)
    if legacy is not None and not differences(actual, schemas[legacy]):
        return legacy
    exact, closest = matching_revisions(actual, schemas)
    ignored = (f" ({LEGACY_VERSION_TABLE} records {legacy}, but the schema is not revision {legacy}'s, so it "
               f"was not taken for chatschema's)" if legacy else "")
    if exact:
        advice = f"the schema is revision {exact[-1]}'s; run `chatschema stamp {exact[-1]}` to record it, then upgrade"
    elif closest:
        advice = (f"the schema matches no revision (closest: {closest[0]}, {closest[1]} differences); "
                  f"`chatschema stamp {closest[0]}` lists them")
    else:
        advice = "run `chatschema stamp REV`"
    raise NotAdopted(
        f"{server.describe_target(info)} already has {', '.join(present)} but {VERSION_TABLE} records no revision"
        f"{ignored}: {advice}; nothing was changed"
    )


def starting_revision(settings: Settings) -> str | None:
    """Where a run would start: the recorded revision, or the one an earlier chatschema's record proves
    (carried over when the run starts); NotAdopted for tables with no revision. Only reads."""
    with connection(settings) as (info, conn):
        carried = _assess(settings, conn, info)
        return carried if carried is not None else database_revision(conn)


def guard(settings: Settings, *, on_warning: Warn | None = None) -> None:
    """Before a run: carry an earlier chatschema's revision over, or stop on tables with no revision recorded."""
    with connection(settings) as (info, conn):
        legacy = _assess(settings, conn, info)
        if legacy is None:
            return
        _record(conn, legacy)
        if on_warning:
            on_warning(
                f"{server.describe_target(info)} was migrated by an earlier chatschema, which recorded revision "
                f"{legacy} in {LEGACY_VERSION_TABLE}; its schema is revision {legacy}'s, so {VERSION_TABLE} now "
                f"records {legacy}. chatschema no longer reads or writes {LEGACY_VERSION_TABLE}: it was left as it "
                f"was (drop it once no application's Alembic uses it)"
            )


def stamp(settings: Settings, revision: str, *, force: bool = False) -> StampResult:
    """Prove the database is at ``revision`` and record it; with differences, record only when ``force``."""
    target = resolve(revision)
    if target == "base":
        raise ConfigError("stamp needs a revision of the chain, not 'base' (`chatschema downgrade base` removes "
                          "chatschema's objects; deleting the row from chatschema_version forgets them)")
    if target in ("head", "heads"):
        target = script_directory().get_current_head() or target
    with connection(settings) as (info, conn):
        require_utf8(info, "stamp")
        raw = conn.connection.driver_connection
        previous = database_revision(conn)
        conn.rollback()
        schemas = revision_schemas(settings)
        found = tuple(differences(_read_only(raw), schemas[target]))
        recorded = not found or force
        if recorded:
            _record(conn, target, stamp_forced=bool(found))
    return StampResult(server.describe_target(info), target, previous, found, recorded, bool(found) and force)
