"""Does the database match the models? Index shapes included, which Alembic's own compare ignores.

``check`` reads the database in a READ ONLY transaction and compares it with head's schema, rendered
on a scratch database of the same server by running the chain (``migrate.reference``): columns
(collation, statistics target, storage), constraints, indexes (INVALID included), storage
parameters, triggers, policies, row-level security, replica identity and the views' definitions,
as PostgreSQL prints them (``chatschema.schema_catalog``). Only chatschema's scope counts.

``compare_schema`` is the older, models-only comparison (``metadata.create_all`` in a scratch schema
inside a rolled-back transaction, so it writes): the seed's tests compare seeded databases with it.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from pathlib import Path

import psycopg
import sqlalchemy as sa
from psycopg import sql
from psycopg.rows import dict_row

from . import migrate
from .schema_catalog import Difference, differences, read_catalog, uncompared
from .errors import ConfigError
from .migrate.chain import check_known, connection, database_revision
from .migrate.reference import revision_schemas
from .citus.distribute import layout_differences
from .migrations import MANAGED_TABLES
from .models import metadata
from .settings import Settings
from .views import VIEWS

__all__ = ["Difference", "check", "head_differences", "compare_schema", "load_known_extras"]

SCRATCH = "chatschema_model_check"
_QUALIFIED_TABLE = re.compile(r' ON (?:ONLY )?(?:"[^"]+"|\w+)\.')


_COLUMNS = """
SELECT c.relname || '.' || a.attname,
       format_type(a.atttypid, a.atttypmod)
         || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
         || coalesce(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), '')
  FROM pg_attribute a
  JOIN pg_class c ON c.oid = a.attrelid
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'
   AND a.attnum > 0 AND NOT a.attisdropped AND c.relname = ANY(%(managed)s)
"""
_INDEXES = """
SELECT ic.relname, pg_get_indexdef(i.indexrelid)
  FROM pg_index i
  JOIN pg_class ic ON ic.oid = i.indexrelid
  JOIN pg_class tc ON tc.oid = i.indrelid
 WHERE tc.relnamespace = current_schema()::regnamespace AND tc.relkind = 'r'
   AND tc.relname = ANY(%(managed)s)
   AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.contype IN ('p', 'u'))
"""
_CONSTRAINTS = """
SELECT t.relname || '.' || k.conname, pg_get_constraintdef(k.oid)
  FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid
 WHERE t.relnamespace = current_schema()::regnamespace AND t.relname = ANY(%(managed)s) AND k.contype <> 'n'
"""
_RELOPTIONS = """
SELECT relname, array_to_string(reloptions, ', ') FROM pg_class
 WHERE relnamespace = current_schema()::regnamespace AND relkind = 'r' AND reloptions IS NOT NULL
   AND relname = ANY(%(managed)s)
"""
_VIEW_INDEX = """
SELECT pg_get_indexdef(i.indexrelid) AS definition,
       i.indisunique AND i.indisvalid AND i.indpred IS NULL AND i.indexprs IS NULL AS usable
  FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
 WHERE ic.relname = %(index)s AND ic.relnamespace = current_schema()::regnamespace
"""


def _read(conn: sa.Connection) -> dict[str, dict[str, str]]:
    params = {"managed": list(MANAGED_TABLES)}
    raw = conn.connection.driver_connection
    out = {}
    for kind, query in (("column", _COLUMNS), ("index", _INDEXES), ("constraint", _CONSTRAINTS), ("storage", _RELOPTIONS)):
        out[kind] = {name: _unqualify(value) for name, value in raw.execute(query, params).fetchall()}
    return out


def _unqualify(definition: str) -> str:
    # pg_get_indexdef always schema-qualifies the table; the two schemas differ by design.
    return _QUALIFIED_TABLE.sub(" ON ", definition)


def compare_schema(conn: sa.Connection) -> list[Difference]:
    """Differences between the connected database's current schema and the models."""
    raw = conn.connection.driver_connection
    schema = raw.execute("SELECT current_schema()").fetchone()[0]
    with conn.begin():
        actual = _read(conn)
        raw.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(SCRATCH)))
        raw.execute("SELECT set_config('search_path', %s, true)", (sql.Identifier(SCRATCH).as_string(raw),))
        metadata.create_all(conn)
        expected = _read(conn)
        raw.execute("SELECT set_config('search_path', %s, true)", (sql.Identifier(schema).as_string(raw),))
        views = []
        for view in VIEWS:
            with raw.cursor(row_factory=dict_row) as cur:
                row = cur.execute(_VIEW_INDEX, {"index": view.index}).fetchone()
            views.append((view, row))
        conn.rollback()
    diffs: list[Difference] = []
    for kind in ("column", "index", "constraint", "storage"):
        have, want = actual[kind], expected[kind]
        for name in sorted(set(have) | set(want)):
            if have.get(name) != want.get(name):
                diffs.append(Difference(kind, name, have.get(name), want.get(name)))
    for view, row in views:
        if row is None:
            diffs.append(Difference("materialized view", view.name, None, f"unique index {view.index} on {', '.join(view.key)}"))
        elif not row["usable"]:
            diffs.append(
                Difference("materialized view", view.name, row["definition"],
                           "a valid UNIQUE index on plain columns with no WHERE")
            )
    return diffs


def load_known_extras(path: str | Path) -> dict[str, str]:
    """{name: reason} from a TOML file of objects on the managed tables that are known and fine.

    Each entry names one object as check names it (``messages.app_note`` for a column, constraint,
    trigger or policy; the index's name for an index) and says why it is there::

        [[extra]]
        name = "messages.moderation_flag"
        reason = "the moderation service's column (ticket MOD-12)"
    """
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read the known extras file {file}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file} is not valid TOML: {exc}") from None
    extras = data.get("extra", [])
    unknown = sorted(set(data) - {"extra"})
    if unknown or not isinstance(extras, list):
        raise ConfigError(f"{file}: expected only [[extra]] entries (name, reason); found {', '.join(unknown) or 'extra'}")
    found: dict[str, str] = {}
    for number, entry in enumerate(extras, 1):
        name, reason = (entry.get("name"), entry.get("reason")) if isinstance(entry, dict) else (None, None)
        if not isinstance(name, str) or not name or not isinstance(reason, str) or not reason.strip():
            raise ConfigError(f"{file}: [[extra]] number {number} needs a name and a reason (both non-empty strings)")
        found[name] = reason.strip()
    return found


def _view_keys(raw: psycopg.Connection) -> list[Difference]:
    diffs = []
    for view in VIEWS:
        with raw.cursor(row_factory=dict_row) as cur:
            row = cur.execute(_VIEW_INDEX, {"index": view.index}).fetchone()
        if row is None:
            diffs.append(Difference("materialized view", view.name, None, f"unique index {view.index} on {', '.join(view.key)}"))
        elif not row["usable"]:
            diffs.append(Difference("materialized view", view.name, row["definition"],
                                    "a valid UNIQUE index on plain columns with no WHERE"))
    return diffs


def check(settings: Settings, *, allow: Iterable[str] = (),
          notes: list[str] | None = None) -> tuple[str | None, str, list[str]]:
    """(database revision, head revision, findings). No findings means: at head and matching the models.

    The database is only read, in a READ ONLY transaction; what head looks like is rendered on a
    scratch database of the same server (``migrate.reference``). Only chatschema's scope counts
    (``schema_catalog.SCOPE``); ``allow`` names known extras on the managed tables (``messages.app_note``).
    What could not be compared is appended to ``notes`` (``schema_catalog.uncompared``).
    """
    head = migrate.head()
    findings: list[str] = []
    with connection(settings) as (_, conn):
        rev = database_revision(conn)
        conn.rollback()
        check_known(rev)
        if rev != head:
            findings.append(f"the database is at revision {rev or '(none)'}, not at head {head}; run `chatschema upgrade`")
            return rev, head, findings
        found = head_differences(settings, conn, head, allow=allow, notes=notes)
        # What `chatschema distribute` recorded against what Citus holds (nothing when never distributed).
        raw = conn.connection.driver_connection
        try:
            layout = layout_differences(raw)
        finally:
            raw.rollback()
    findings.extend(str(d) for d in found)
    findings.extend(f"Citus layout: {d}" for d in layout)
    return rev, head, findings


def head_differences(settings: Settings, conn: sa.Connection, head: str, *, allow: Iterable[str] = (),
                     notes: list[str] | None = None) -> list[Difference]:
    """How the connected database (at head) differs from head's schema; read in one READ ONLY transaction."""
    raw = conn.connection.driver_connection
    raw.rollback()
    raw.execute("SET TRANSACTION READ ONLY")
    try:
        actual = read_catalog(raw)
        views = _view_keys(raw)
    finally:
        raw.rollback()
    expected = revision_schemas(settings, [head])[head]
    note = uncompared(actual, expected)
    if note and notes is not None:
        notes.append(note)
    return differences(actual, expected, allow=allow) + views
