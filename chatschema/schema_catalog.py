"""What chatschema's objects look like in a database, as PostgreSQL itself prints them.

A ``Catalog`` is read from the catalogs through PostgreSQL's own printers (``format_type``,
``pg_get_indexdef``, ``pg_get_constraintdef``, ``pg_get_triggerdef``, ``pg_get_viewdef``), so two
databases hold the same object exactly when PostgreSQL prints it the same way in both: INCLUDE, WHERE,
DESC, opclass, NOT VALID, storage parameters, collations, statistics targets all count.

Only chatschema's scope is read: the managed tables (``MANAGED_TABLES``) and the materialized views.
The application's tables, views, functions and schemas are not looked at, and neither is the
bookkeeping (the version table, the backfill checkpoint), which is chatschema's but not schema.
Reading only reads: it runs in whatever transaction the caller opened (READ ONLY in check).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import psycopg
from psycopg.rows import dict_row

from .migrations import MANAGED_TABLES
from .views import VIEWS

__all__ = ["KINDS", "SCOPE", "Catalog", "Difference", "read_catalog", "differences", "managed_tables_present",
           "uncompared"]

SCOPE = MANAGED_TABLES + tuple(v.name for v in VIEWS)
"""Every relation chatschema compares: its tables and its materialized views."""

KINDS = ("relation", "column", "constraint", "index", "storage", "trigger", "policy", "view definition")
"""The kinds of object a Catalog holds, in the order differences are listed."""

_QUALIFIED = re.compile(r' ON (?:ONLY )?(?:"[^"]+"|\w+)\.')

# Each query returns (name, definition) for one kind; ``%(scope)s`` is SCOPE, in the current schema.
_QUERIES = {
    "relation": """
SELECT c.relname AS name,
       CASE c.relkind WHEN 'r' THEN 'table' WHEN 'm' THEN 'materialized view' WHEN 'v' THEN 'view'
                      WHEN 'p' THEN 'partitioned table' ELSE 'relation of kind ' || c.relkind::text END
         || CASE WHEN c.relrowsecurity THEN ', ROW LEVEL SECURITY enabled' ELSE '' END
         || CASE WHEN c.relforcerowsecurity THEN ', FORCE ROW LEVEL SECURITY' ELSE '' END
         || CASE c.relreplident WHEN 'd' THEN '' WHEN 'n' THEN ', REPLICA IDENTITY NOTHING'
                 WHEN 'f' THEN ', REPLICA IDENTITY FULL' ELSE ', REPLICA IDENTITY USING INDEX' END
         || CASE WHEN c.relpersistence = 'u' THEN ', UNLOGGED' ELSE '' END AS definition
  FROM pg_class c
 WHERE c.relnamespace = current_schema()::regnamespace AND c.relname = ANY(%(scope)s)
   AND c.relkind IN ('r', 'm', 'v', 'p', 'f')
""",
    "column": """
SELECT c.relname || '.' || a.attname AS name,
       format_type(a.atttypid, a.atttypmod)
         || CASE WHEN a.attcollation <> t.typcollation
                 THEN ' COLLATE ' || quote_ident(co.collname) ELSE '' END
         || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
         || coalesce(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), '')
         || CASE WHEN coalesce(a.attstattarget::int, -1) >= 0
                 THEN ' STATISTICS ' || a.attstattarget ELSE '' END
         || CASE WHEN a.attstorage <> t.typstorage
                 THEN ' STORAGE ' || CASE a.attstorage WHEN 'p' THEN 'PLAIN' WHEN 'e' THEN 'EXTERNAL'
                                                       WHEN 'm' THEN 'MAIN' ELSE 'EXTENDED' END
                 ELSE '' END AS definition
  FROM pg_attribute a
  JOIN pg_class c ON c.oid = a.attrelid
  JOIN pg_type t ON t.oid = a.atttypid
  LEFT JOIN pg_collation co ON co.oid = a.attcollation
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE c.relnamespace = current_schema()::regnamespace AND c.relname = ANY(%(scope)s)
   AND c.relkind IN ('r', 'm', 'p') AND a.attnum > 0 AND NOT a.attisdropped
""",
    # NOT NULL constraints (catalogued from PostgreSQL 18) are the column's NOT NULL above.
    "constraint": """
SELECT t.relname || '.' || k.conname AS name, pg_get_constraintdef(k.oid) AS definition
  FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid
 WHERE t.relnamespace = current_schema()::regnamespace AND t.relname = ANY(%(scope)s) AND k.contype <> 'n'
""",
    # Indexes behind a primary key or unique constraint are the constraint's.
    "index": """
SELECT ic.relname AS name,
       pg_get_indexdef(i.indexrelid) || CASE WHEN i.indisvalid THEN '' ELSE ' (INVALID)' END AS definition
  FROM pg_index i
  JOIN pg_class ic ON ic.oid = i.indexrelid
  JOIN pg_class tc ON tc.oid = i.indrelid
 WHERE tc.relnamespace = current_schema()::regnamespace AND tc.relname = ANY(%(scope)s)
   AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.contype IN ('p', 'u', 'x'))
""",
    "storage": """
SELECT relname AS name, array_to_string(reloptions, ', ') AS definition FROM pg_class
 WHERE relnamespace = current_schema()::regnamespace AND relname = ANY(%(scope)s) AND reloptions IS NOT NULL
""",
    "trigger": """
SELECT c.relname || '.' || g.tgname AS name,
       pg_get_triggerdef(g.oid) || CASE g.tgenabled WHEN 'D' THEN ' (DISABLED)' ELSE '' END AS definition
  FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid
 WHERE c.relnamespace = current_schema()::regnamespace AND c.relname = ANY(%(scope)s) AND NOT g.tgisinternal
""",
    "policy": """
SELECT c.relname || '.' || p.polname AS name,
       CASE WHEN p.polpermissive THEN 'PERMISSIVE' ELSE 'RESTRICTIVE' END
         || ' FOR ' || CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE'
                                     WHEN 'd' THEN 'DELETE' ELSE 'ALL' END
         || coalesce(' USING (' || pg_get_expr(p.polqual, p.polrelid) || ')', '')
         || coalesce(' WITH CHECK (' || pg_get_expr(p.polwithcheck, p.polrelid) || ')', '') AS definition
  FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
 WHERE c.relnamespace = current_schema()::regnamespace AND c.relname = ANY(%(scope)s)
""",
    "view definition": """
SELECT c.relname AS name, pg_get_viewdef(c.oid) AS definition
  FROM pg_class c
 WHERE c.relnamespace = current_schema()::regnamespace AND c.relname = ANY(%(scope)s) AND c.relkind IN ('m', 'v')
""",
}


@dataclass(frozen=True)
class Catalog:
    """Every object in scope, by kind, then by name (``table.column``, ``table.constraint``...)."""

    objects: dict[str, dict[str, str]] = field(default_factory=dict)
    server_version: int = 0
    """The major version that printed it: PostgreSQL 16 stopped qualifying columns in single-relation
    view definitions, so those are compared only between catalogs of the same major version."""

    def get(self, kind: str) -> dict[str, str]:
        return self.objects.get(kind, {})


@dataclass(frozen=True)
class Difference:
    kind: str
    name: str
    database: str | None
    models: str | None

    def __str__(self) -> str:
        if self.database is None:
            return f"{self.kind} {self.name} is missing from the database; the models define: {self.models}"
        if self.models is None:
            return f"{self.kind} {self.name} is in the database but not in the models: {self.database}"
        return f"{self.kind} {self.name} differs: database has {self.database}; models say {self.models}"

    def against(self, revision: str) -> str:
        """The same difference, worded against a revision's schema instead of the models."""
        if self.database is None:
            return f"{self.kind} {self.name} is missing; revision {revision} defines: {self.models}"
        if self.models is None:
            return f"{self.kind} {self.name} is not in revision {revision}'s schema: {self.database}"
        return f"{self.kind} {self.name} differs: database has {self.database}; revision {revision} has {self.models}"


def _unqualify(definition: str) -> str:
    # pg_get_indexdef and pg_get_triggerdef schema-qualify the table; compared schemas may differ by name.
    return _QUALIFIED.sub(" ON ", definition)


def read_catalog(conn: psycopg.Connection) -> Catalog:
    """The objects in scope in the connected database's current schema. Only reads."""
    objects: dict[str, dict[str, str]] = {}
    with conn.cursor(row_factory=dict_row) as cur:
        for kind, query in _QUERIES.items():
            rows = cur.execute(query, {"scope": list(SCOPE)}).fetchall()
            objects[kind] = {row["name"]: _unqualify(row["definition"]) for row in rows}
    return Catalog(objects, conn.info.server_version // 10000)


def managed_tables_present(conn: psycopg.Connection) -> list[str]:
    """Which of the managed tables exist in the current schema."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT relname FROM pg_class WHERE relnamespace = current_schema()::regnamespace "
            "AND relname = ANY(%(tables)s) ORDER BY relname", {"tables": list(MANAGED_TABLES)}
        ).fetchall()
    return [row["relname"] for row in rows]


def differences(actual: Catalog, expected: Catalog, *, allow: Iterable[str] = ()) -> list[Difference]:
    """What differs between two catalogs, kind by kind; ``allow`` names extras that are known and fine.

    View definitions are skipped between different major versions (see ``Catalog.server_version``).
    An allowed name (``messages.app_note``, ``ix_messages_app``) is skipped only when it is an extra
    in ``actual``: something the expected schema defines still has to be right.
    """
    allowed = set(allow)
    found: list[Difference] = []
    for kind in KINDS:
        if kind == "view definition" and actual.server_version != expected.server_version:
            continue
        have, want = actual.get(kind), expected.get(kind)
        for name in sorted(set(have) | set(want)):
            if have.get(name) == want.get(name):
                continue
            if name not in want and name in allowed:
                continue
            found.append(Difference(kind, name, have.get(name), want.get(name)))
    return found


def uncompared(actual: Catalog, expected: Catalog) -> str | None:
    """The line that says what ``differences`` could not compare between these two catalogs, if anything.

    A reference made on another major version (the embedded server, when the examined one may not make
    a scratch database) prints view definitions its own way, so those are left out, and said so."""
    if actual.server_version == expected.server_version:
        return None
    names = sorted(set(actual.get("view definition")) | set(expected.get("view definition")))
    if not names:
        return None
    return (f"view definitions not compared ({', '.join(names)}): the reference schema was made on PostgreSQL "
            f"{expected.server_version}, the database is PostgreSQL {actual.server_version}, and the two print "
            f"view definitions differently; the views' columns, indexes and storage were compared")
