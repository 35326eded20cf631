"""Health checks on any database: what a DBA looks for after a migration or an incident.

- **invalid indexes**: debris of a failed or cancelled concurrent build. They cost every write
  and serve no read; an index still being built also shows as invalid and is reported apart.
- **indexes no catalog query uses**: chatschema knows which indexes its queries need (the
  ``chatschema.indexes`` registry), which indexes back constraints, and the unique indexes the
  materialized views need for a concurrent refresh. Any other index is write cost with no
  reader chatschema knows of.
- **duplicate indexes**: a non-unique B-tree whose key columns are a leading prefix of another
  index on the same table (same opclass, collation and order, same predicate, its INCLUDE
  columns covered) answers nothing the longer one cannot.
- **stale materialized views**: PostgreSQL records no refresh time. A view is stale here when it
  was never populated, or when the newest message falls on a later UTC day than the view's
  newest day. The newest message time is read from ``conversations.last_activity_at`` (kept by
  the send statement, one scan of conversations, not of messages) once the summary columns
  exist, else from ``messages``. A view refreshed today that misses today's later messages is
  therefore not reported: the check detects views that are a day or more behind.

The same catalog queries serve ``chatschema lint`` (invalid indexes, refresh keys).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.rows import class_row

from . import server
from .indexes import INDEXES
from .migrations import BOOKKEEPING_TABLES, VERSION_TABLE
from .settings import Settings
from .views import VIEWS, VIEWS_REBUILT, VIEWS_REVISION

__all__ = [
    "HealthFinding",
    "InvalidIndex",
    "invalid_indexes",
    "unknown_indexes",
    "duplicate_indexes",
    "stale_views",
    "missing_views",
    "MissingViews",
    "refresh_key_problems",
    "diagnose",
    "Checkup",
    "checkup",
    "format_size",
]


@dataclass(frozen=True)
class HealthFinding:
    kind: str  # invalid-index | unused-index | duplicate-index | stale-view | missing-view
    name: str
    message: str
    hint: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


@dataclass(frozen=True)
class InvalidIndex:
    name: str
    table: str
    definition: str
    bytes: int
    building_pid: int | None  # a build in progress (pg_stat_progress_create_index), not debris


_INVALID = """
SELECT c.relname AS name, t.relname AS table, pg_get_indexdef(i.indexrelid) AS definition,
       pg_relation_size(i.indexrelid) AS bytes,
       (SELECT p.pid FROM pg_stat_progress_create_index p WHERE p.index_relid = i.indexrelid LIMIT 1) AS building_pid
  FROM pg_index i
  JOIN pg_class c ON c.oid = i.indexrelid
  JOIN pg_class t ON t.oid = i.indrelid
 WHERE c.relnamespace = current_schema()::regnamespace AND NOT i.indisvalid
 ORDER BY t.relname, c.relname
"""

_INDEXES = """
SELECT c.relname AS name, t.relname AS table, am.amname AS method, i.indisunique AS unique,
       i.indisvalid AS valid, i.indnkeyatts AS nkeys, i.indkey::int2[] AS columns, i.indclass::oid[] AS classes,
       i.indcollation::oid[] AS collations, i.indoption::int2[] AS options,
       pg_get_expr(i.indpred, i.indrelid) AS predicate, i.indexprs IS NOT NULL AS expressions,
       EXISTS (SELECT 1 FROM pg_constraint k
                WHERE k.conindid = i.indexrelid AND k.contype IN ('p', 'u', 'x')) AS backs_constraint,
       pg_relation_size(i.indexrelid) AS bytes, coalesce(s.idx_scan, 0) AS scans,
       pg_get_indexdef(i.indexrelid) AS definition
  FROM pg_index i
  JOIN pg_class c ON c.oid = i.indexrelid
  JOIN pg_class t ON t.oid = i.indrelid
  JOIN pg_am am ON am.oid = c.relam
  LEFT JOIN pg_stat_user_indexes s ON s.indexrelid = i.indexrelid
 WHERE c.relnamespace = current_schema()::regnamespace
 ORDER BY t.relname, c.relname
"""


@dataclass(frozen=True)
class _Index:
    name: str
    table: str
    method: str
    unique: bool
    valid: bool
    nkeys: int
    columns: list[int]
    classes: list[int]
    collations: list[int]
    options: list[int]
    predicate: str | None
    expressions: bool
    backs_constraint: bool
    bytes: int
    scans: int
    definition: str

    @property
    def keys(self) -> tuple[tuple[int, int, int, int], ...]:
        return tuple(zip(self.columns[: self.nkeys], self.classes, self.collations, self.options))


def _indexes(conn: psycopg.Connection) -> list[_Index]:
    with conn.cursor(row_factory=class_row(_Index)) as cur:
        return cur.execute(_INDEXES).fetchall()


def invalid_indexes(conn: psycopg.Connection) -> list[InvalidIndex]:
    """Indexes with indisvalid = false in the current schema, builds in progress marked as such."""
    with conn.cursor(row_factory=class_row(InvalidIndex)) as cur:
        return cur.execute(_INVALID).fetchall()


def format_size(n: float) -> str:
    """Bytes for people: 16.0 kB, 330.2 MB."""
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def known_index_names() -> set[str]:
    return {spec.name for spec in INDEXES} | {view.index for view in VIEWS}


def unknown_indexes(conn: psycopg.Connection) -> list[HealthFinding]:
    """Valid indexes that neither the registry, a constraint nor a view's refresh key accounts for."""
    known = known_index_names()
    out = []
    for ix in _indexes(conn):
        if ix.name in known or ix.backs_constraint or not ix.valid or ix.table in BOOKKEEPING_TABLES:
            continue
        out.append(HealthFinding(
            "unused-index", ix.name,
            f"{ix.name} on {ix.table} ({format_size(ix.bytes)}, {ix.scans} scans since statistics were reset) is not used "
            f"by any catalog query: {ix.definition}",
            f"if no other application reads through it, DROP INDEX CONCURRENTLY {ix.name}; if a query needs it, "
            f"add it to chatschema/indexes.py with the query it serves",
        ))
    return out


def _redundant(a: _Index, b: _Index) -> bool:
    """Whether ``a`` answers nothing ``b`` cannot (B-tree, leading-prefix keys)."""
    if a.name == b.name or a.table != b.table or a.method != "btree" or b.method != "btree":
        return False
    if not (a.valid and b.valid) or a.expressions or b.expressions or a.predicate != b.predicate:
        return False
    if a.backs_constraint:  # dropping it means dropping the constraint
        return False
    if a.unique and not (b.unique and a.keys == b.keys):
        return False
    if len(a.keys) > len(b.keys) or b.keys[: len(a.keys)] != a.keys:
        return False
    # a's INCLUDE columns must be in b somewhere, or a index-only scan would lose them.
    return set(a.columns) <= set(b.columns)


def duplicate_indexes(conn: psycopg.Connection) -> list[HealthFinding]:
    """Indexes made redundant by another index on the same table."""
    ixs = _indexes(conn)
    known = known_index_names()
    # Name the index a DBA keeps: a registered one first, then the longest.
    keepers = sorted(ixs, key=lambda ix: (ix.name not in known, -len(ix.keys), ix.name))
    out, reported = [], set()
    for a in ixs:
        for b in keepers:
            if _redundant(a, b) and (b.name, a.name) not in reported:
                reported.add((a.name, b.name))
                out.append(HealthFinding(
                    "duplicate-index", a.name,
                    f"{a.name} on {a.table} ({format_size(a.bytes)}) is redundant: its key columns are a leading prefix of "
                    f"{b.name}'s ({a.definition}; {b.definition})",
                    f"DROP INDEX CONCURRENTLY {a.name} (the longer index serves the same lookups)",
                ))
                break
    return out


def _has_column(conn: psycopg.Connection, table: str, column: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attname = %s AND NOT attisdropped",
        (table, column),
    ).fetchone()
    return row is not None


def _newest_message(conn: psycopg.Connection) -> dt.datetime | None:
    if _has_column(conn, "conversations", "last_message_id"):
        query = "SELECT max(last_activity_at) FROM conversations WHERE last_message_id IS NOT NULL"
    elif conn.execute("SELECT to_regclass('messages')").fetchone()[0] is not None:  # type: ignore[index]
        query = "SELECT max(created_at) FROM messages"
    else:
        return None
    row = conn.execute(query).fetchone()
    return row[0] if row else None


def stale_views(conn: psycopg.Connection) -> list[HealthFinding]:
    """Analytics views never populated, or a UTC day or more behind the newest message."""
    out = []
    newest = None
    for view in VIEWS:
        row = conn.execute(
            "SELECT ispopulated FROM pg_matviews WHERE schemaname = current_schema() AND matviewname = %s",
            (view.name,),
        ).fetchone()
        if row is None:
            continue
        if not row[0]:
            out.append(HealthFinding("stale-view", view.name, f"{view.name} was never populated",
                               "chatschema views refresh (the first refresh cannot be concurrent)"))
            continue
        if not _has_column(conn, view.name, "day"):
            continue
        newest = newest or _newest_message(conn)
        if newest is None:
            continue
        last_day = conn.execute(sql.SQL("SELECT max(day) FROM {}").format(sql.Identifier(view.name))).fetchone()[0]  # type: ignore[index]
        newest_day = newest.astimezone(dt.timezone.utc).date()
        if last_day is None or last_day < newest_day:
            behind = f"ends at {last_day}" if last_day else "is empty"
            out.append(HealthFinding(
                "stale-view", view.name,
                f"{view.name} {behind}, but messages exist up to {newest.astimezone(dt.timezone.utc):%Y-%m-%d %H:%M} UTC",
                "chatschema views refresh --concurrently (and schedule it)",
            ))
    return out


@dataclass(frozen=True)
class MissingViews:
    """The analytics views that do not exist, and the database's revision (None when none is recorded)."""

    views: tuple[str, ...]
    revision: str | None

    @property
    def dropped(self) -> bool:
        """At or past VIEWS_REVISION the views were made and are gone: debris, not a database still behind."""
        # Revisions are zero-padded numbers ("0006" < "0007"), so their order is the string order.
        return self.revision is not None and self.revision >= VIEWS_REVISION

    def __str__(self) -> str:
        names = " and ".join(self.views)
        at = f"the database is at {self.revision}" if self.revision else "the database has no revision recorded"
        return f"views missing: {names} {'come' if len(self.views) > 1 else 'comes'} with revision {VIEWS_REVISION}; {at}"


def _revision(conn: psycopg.Connection) -> str | None:
    # Read directly, not through the migration runner: doctor stays one READ ONLY transaction.
    if conn.execute("SELECT to_regclass(%s)", (VERSION_TABLE,)).fetchone()[0] is None:  # type: ignore[index]
        return None
    rows = conn.execute(sql.SQL("SELECT version_num FROM {}").format(sql.Identifier(VERSION_TABLE))).fetchall()
    return rows[0][0] if len(rows) == 1 else None


def missing_views(conn: psycopg.Connection) -> MissingViews:
    """VIEWS that are not materialized views of the schema, with the revision that would make them."""
    present = {name for (name,) in conn.execute(
        "SELECT matviewname FROM pg_matviews WHERE schemaname = current_schema()")}
    return MissingViews(tuple(v.name for v in VIEWS if v.name not in present), _revision(conn))


def _missing_findings(missing: MissingViews) -> list[HealthFinding]:
    if not missing.dropped:
        return []
    built, swapped = VIEWS_REBUILT
    if missing.revision is not None and missing.revision >= swapped:
        made = f"revision {built} made it ({swapped} swapped it in)"
        fix = (f"chatschema downgrade {_before(built)} && chatschema upgrade ({swapped}'s downgrade puts "
               f"{VIEWS_REVISION}'s views back and {built}'s drops only the views it built; the upgrade builds them again)")
    else:
        made = f"revision {VIEWS_REVISION} made it"
        fix = (f"chatschema downgrade {_before(VIEWS_REVISION)} && chatschema upgrade (revision {VIEWS_REVISION} makes the views "
               f"again; its downgrade drops only views)")
    return [HealthFinding(
        "missing-view", name,
        f"{name} does not exist, but the database is at {missing.revision}: {made} and it was dropped since", fix,
    ) for name in missing.views]


def _before(revision: str) -> str:
    """The revision before ``revision`` (the chain's ids are zero-padded consecutive numbers)."""
    return f"{int(revision) - 1:04d}"


_VIEW_UNIQUE = """
SELECT c.relname, i.indisvalid, i.indpred IS NOT NULL, i.indexprs IS NOT NULL,
       array(SELECT a.attname::text FROM unnest(i.indkey[:i.indnkeyatts - 1]) WITH ORDINALITY k(n, pos)
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n ORDER BY k.pos)
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
 WHERE i.indrelid = %s::regclass AND i.indisunique
 ORDER BY c.relname
"""


def refresh_key_problems(conn: psycopg.Connection) -> list[tuple[str, str]]:
    """(view, problem) for materialized views a concurrent refresh cannot use, or uses badly.

    REFRESH ... CONCURRENTLY needs a valid UNIQUE index on plain columns with no WHERE; rows with
    a NULL in that key never match the fresh result, so every refresh deletes and re-inserts them.
    """
    out = []
    views = conn.execute(
        "SELECT matviewname, ispopulated FROM pg_matviews WHERE schemaname = current_schema() ORDER BY 1"
    ).fetchall()
    for name, populated in views:
        uniques = conn.execute(_VIEW_UNIQUE, (name,)).fetchall()
        usable = [(ix, cols) for ix, valid, partial, expr, cols in uniques if valid and not partial and not expr]
        if not usable:
            why = "; ".join(
                f"{ix} is " + ", ".join(w for w, bad in (("INVALID", not valid), ("partial (WHERE)", partial),
                                                         ("on an expression", expr)) if bad)
                for ix, valid, partial, expr, _ in uniques
            ) or "it has no unique index"
            out.append((name, f"no unique index a concurrent refresh can use: {why}"))
            continue
        if not populated:
            continue
        for ix, cols in usable:
            cond = sql.SQL(" OR ").join(sql.SQL("{} IS NULL").format(sql.Identifier(c)) for c in cols)
            has_null = conn.execute(
                sql.SQL("SELECT EXISTS (SELECT 1 FROM {} WHERE {})").format(sql.Identifier(name), cond)
            ).fetchone()[0]  # type: ignore[index]
            if has_null:
                out.append((name, f"key column(s) {', '.join(cols)} of {ix} contain NULLs: every concurrent refresh "
                                  f"deletes and re-inserts those rows"))
    return out


def _diagnose(conn: psycopg.Connection) -> list[HealthFinding]:
    findings = []
    for ix in invalid_indexes(conn):
        if ix.building_pid is not None:
            continue
        findings.append(HealthFinding(
            "invalid-index", ix.name,
            f"{ix.name} on {ix.table} is INVALID ({format_size(ix.bytes)}; left by a failed or cancelled build): {ix.definition}",
            f"DROP INDEX CONCURRENTLY {ix.name}; then re-run `chatschema upgrade` (it rebuilds its own indexes)",
        ))
    return (findings + unknown_indexes(conn) + duplicate_indexes(conn) + stale_views(conn)
            + _missing_findings(missing_views(conn)))


def diagnose(settings: Settings) -> list[HealthFinding]:
    """Every finding on the database: invalid, unknown and duplicate indexes, stale views."""
    with server.connect(server.conninfo(settings), autocommit=True) as conn:
        return _diagnose(conn)


@dataclass(frozen=True)
class Checkup:
    """What ``chatschema doctor`` found on ``database``; ``building`` are builds in progress, not debris."""

    database: str
    findings: tuple[HealthFinding, ...]
    building: tuple[InvalidIndex, ...]
    missing: MissingViews  # not yet made (a database before VIEWS_REVISION) or dropped (then also a finding)


def checkup(settings: Settings) -> Checkup:
    """``diagnose``, with the builds in progress and where it looked."""
    info = server.conninfo(settings)
    # One READ ONLY transaction: doctor changes nothing, and works on a standby or as a SELECT-only role.
    with server.connect(info) as conn:
        conn.execute("SET TRANSACTION READ ONLY")
        try:
            building = tuple(ix for ix in invalid_indexes(conn) if ix.building_pid is not None)
            return Checkup(server.describe_target(info), tuple(_diagnose(conn)), building, missing_views(conn))
        finally:
            conn.rollback()
