"""Would Citus take this schema? The blockers, read from a database that is not on Citus yet.

Citus requires the distribution column in every primary key, unique key and foreign key of a
distributed table, refuses triggers on distributed tables by default, and keeps a materialized view
as a local table on the coordinator whose refresh must run as a distributed query (0007's
user_daily_messages joins messages to conversations on conversation_id, which Citus refuses: "the
query contains a join that requires repartitioning"; from 0016 it reads messages alone, grouped by
the distribution column, which each shard computes). A catalog query that does not pin every distributed table it reads to
one owner fans out to every shard. Each of those is a blocker here, named with the fix.

Reads only (the catalog), so it runs on any role that can read pg_catalog.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import psycopg
from psycopg.rows import dict_row

from .. import queries as catalog
from .. import server
from ..settings import Settings
from ..queries import Query
from . import HOT_OPERATIONS, LAYOUT

__all__ = ["REFUSED", "Blocker", "schema_blockers", "query_blockers", "blockers", "readiness"]


REFUSED = ("column", "key", "foreign-key", "trigger")
"""Blocker kinds create_distributed_table refuses; the others break once the tables are distributed."""


@dataclass(frozen=True)
class Blocker:
    kind: str  # column | key | foreign-key | trigger | materialized-view | query
    subject: str  # the table, constraint, trigger, view or query it is about
    message: str

    @property
    def refused(self) -> bool:
        """Whether Citus's create_distributed_table itself would refuse (rather than a query failing later)."""
        return self.kind in REFUSED

    def __str__(self) -> str:
        return f"{self.kind} {self.subject}: {self.message}"


_COLUMNS = """
SELECT a.attname, a.attnotnull FROM pg_attribute a
 WHERE a.attrelid = to_regclass(%(t)s) AND a.attnum > 0 AND NOT a.attisdropped
"""
# Keys and unique indexes (a unique index without a constraint binds Citus the same way).
_KEYS = """
SELECT coalesce(k.conname, i.relname) AS name, k.contype,
       array(SELECT a.attname::text FROM unnest(x.indkey) WITH ORDINALITY AS u(n, o)
             JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = u.n ORDER BY u.o) AS columns
  FROM pg_index x
  JOIN pg_class i ON i.oid = x.indexrelid
  LEFT JOIN pg_constraint k ON k.conindid = x.indexrelid AND k.conrelid = x.indrelid AND k.contype IN ('p', 'u', 'x')
 WHERE x.indrelid = to_regclass(%(t)s) AND (x.indisunique OR k.contype = 'x')
 ORDER BY 1
"""
_FOREIGN_KEYS = """
SELECT k.conname AS name, k.confrelid::regclass::text AS referenced,
       array(SELECT a.attname::text FROM unnest(k.conkey) WITH ORDINALITY AS u(n, o)
             JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.n ORDER BY u.o) AS columns,
       array(SELECT a.attname::text FROM unnest(k.confkey) WITH ORDINALITY AS u(n, o)
             JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.n ORDER BY u.o) AS referenced_columns
  FROM pg_constraint k
 WHERE k.contype = 'f' AND k.conrelid = to_regclass(%(t)s)
 ORDER BY 1
"""
_TRIGGERS = "SELECT tgname FROM pg_trigger WHERE tgrelid = to_regclass(%(t)s) AND NOT tgisinternal ORDER BY 1"
_MATVIEWS = """
SELECT DISTINCT v.relname AS name,
       array(SELECT DISTINCT t.relname::text FROM pg_depend d2 JOIN pg_rewrite r2 ON r2.oid = d2.objid
              JOIN pg_class t ON t.oid = d2.refobjid
             WHERE r2.ev_class = v.oid AND t.relname = ANY(%(tables)s) ORDER BY 1) AS reads
  FROM pg_class v
  JOIN pg_rewrite r ON r.ev_class = v.oid
  JOIN pg_depend d ON d.objid = r.oid AND d.classid = 'pg_rewrite'::regclass
  JOIN pg_class t ON t.oid = d.refobjid
 WHERE v.relkind = 'm' AND t.relname = ANY(%(tables)s) AND v.relnamespace = current_schema()::regnamespace
 ORDER BY 1
"""
def _column_of(table: str) -> str | None:
    return next((d.column for d in LAYOUT if d.table == table), None)


def schema_blockers(conn: psycopg.Connection) -> list[Blocker]:
    """What stops ``create_distributed_table`` for LAYOUT's tables, or breaks once they are distributed."""
    found: list[Blocker] = []
    tables = [d.table for d in LAYOUT]
    with conn.cursor(row_factory=dict_row) as cur:
        for d in LAYOUT:
            columns = {r["attname"]: r["attnotnull"] for r in cur.execute(_COLUMNS, {"t": d.table}).fetchall()}
            if not columns:
                found.append(Blocker("column", d.table, "the table does not exist (run `chatschema upgrade`)"))
                continue
            if d.column not in columns:
                found.append(Blocker("column", d.table, f"has no {d.column} column to distribute by "
                                                        f"(revision 0009 adds messages.user_id)"))
                continue
            if not columns[d.column]:
                found.append(Blocker("column", d.table, f"{d.column} allows NULL; a distribution column must not "
                                                        f"(revisions 0010-0013)"))
            for key in cur.execute(_KEYS, {"t": d.table}).fetchall():
                if d.column not in key["columns"]:
                    what = {"p": "primary key", "u": "unique key", "x": "exclusion constraint"}.get(key["contype"],
                                                                                                 "unique index")
                    found.append(Blocker("key", key["name"], f"{what} of {d.table} ({', '.join(key['columns'])}) does "
                                                             f"not contain {d.column} (revisions 0012 and 0015)"))
            for trigger in cur.execute(_TRIGGERS, {"t": d.table}).fetchall():
                found.append(Blocker("trigger", trigger["tgname"], f"on {d.table}: Citus refuses triggers on "
                                                                   f"distributed tables"))
        for d in LAYOUT:
            for fk in cur.execute(_FOREIGN_KEYS, {"t": d.table}).fetchall():
                found.extend(_foreign_key_blocker(fk))
        for view in cur.execute(_MATVIEWS, {"tables": tables}).fetchall():
            if len(view["reads"]) > 1:
                found.append(Blocker("materialized-view", view["name"], (
                    f"joins {' and '.join(view['reads'])}: on Citus its refresh is a distributed query, and a join "
                    f"on a column other than the distribution column is one Citus refuses; compute it from one "
                    f"table grouped by its distribution column (revisions 0016-0017)")))
    return found


def _foreign_key_blocker(fk: dict) -> Iterable[Blocker]:
    referencing = fk["name"]
    cols, ref_cols, referenced = list(fk["columns"]), list(fk["referenced_columns"]), fk["referenced"]
    ref_dist = _column_of(referenced)
    if ref_dist is None:
        return  # a key to a table that stays local or becomes a reference table: Citus allows it
    pairs = dict(zip(ref_cols, cols))
    if ref_dist not in pairs:
        yield Blocker("foreign-key", referencing, f"({', '.join(cols)}) -> {referenced} ({', '.join(ref_cols)}) does "
                                                  f"not contain the distribution column {ref_dist} of {referenced} "
                                                  f"(revisions 0013-0015)")


_REFERENCE = re.compile(r"\b(FROM|JOIN|UPDATE|INTO)\s+(\w+)(?:\s+AS)?(?:\s+(?!WHERE|SET|ON|LEFT|JOIN|ORDER)(\w+))?",
                        re.IGNORECASE)


def _scope(sql: str, start: int) -> str:
    """The text from ``start`` to the end of the parenthesised scope it is in."""
    depth = 0
    for i in range(start, len(sql)):
        depth += {"(": 1, ")": -1}.get(sql[i], 0)
        if depth < 0:
            return sql[start:i]
    return sql[start:]


def query_blockers(queries: Iterable[Query] | None = None) -> list[Blocker]:
    """Hot catalog queries that read or write a distributed table without pinning it to one owner."""
    selected = queries if queries is not None else [q for q in catalog.all_queries()
                                                    if q.variant in catalog.DEPLOYED and q.operation in HOT_OPERATIONS]
    found: list[Blocker] = []
    for query in selected:
        for statement in query.explained:
            for ref in _REFERENCE.finditer(statement.sql):
                table, alias = ref.group(2), ref.group(3)
                column = _column_of(table)
                if column is None:
                    continue
                scope = _scope(statement.sql, ref.end())
                if ref.group(1).upper() == "INTO":
                    pinned = re.match(rf"\s*\([^)]*\b{column}\b", scope) is not None
                else:
                    prefix = rf"(?:\b{alias}\.)?" if alias else ""
                    pinned = re.search(rf"{prefix}\b{column}\s*=\s*%\(user_id\)s", scope) is not None
                if not pinned:
                    found.append(Blocker("query", query.name, (
                        f"{ref.group(1).upper()} {table} without {column} = %(user_id)s: on Citus it runs on every "
                        f"shard instead of the owner's one")))
    return found


def blockers(conn: psycopg.Connection) -> list[Blocker]:
    """Everything that keeps the database of ``conn`` and the catalog from a router-query Citus layout."""
    return [*schema_blockers(conn), *query_blockers()]


def readiness(settings: Settings) -> list[Blocker]:
    """``blockers`` of the database of ``settings``, read in a READ ONLY transaction."""
    with server.connect(settings.dsn) as conn:
        conn.read_only = True
        return blockers(conn)
