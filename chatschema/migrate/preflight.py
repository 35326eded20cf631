"""Pre-flight: rows that would make a pending revision fail validating a CHECK constraint.

A CHECK added NOT VALID is only tried against existing rows by its VALIDATE, revisions later: a
legacy row (a ``function`` role) lets the upgrade run up to that revision and fail there with
"is violated by some row", naming neither rows nor values. Before anything is changed (and in the
dry run) each CHECK a pending revision validates, or adds without NOT VALID, is evaluated against
the table as it is: violating rows are counted and a few sampled, with the SQL that lists them.

Only reads. A constraint whose columns a pending revision adds, or an earlier pending revision
backfills (0010 fills messages.user_id before 0011 validates it), cannot be checked yet and is skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.rows import dict_row

from ..settings import Settings
from .chain import DEFAULT_LOCATION, RevisionInfo
from .offline import render

__all__ = ["Violation", "violations", "describe"]

SAMPLE = 3
VALUE_CHARS = 40

_TABLE = re.compile(r'^\s*ALTER\s+TABLE\s+(?:ONLY\s+)?"?(?P<table>\w+)"?', re.IGNORECASE)
_ADD = re.compile(r'ADD\s+CONSTRAINT\s+"?(?P<name>\w+)"?\s+CHECK\s*\(', re.IGNORECASE)
_VALIDATE = re.compile(r'VALIDATE\s+CONSTRAINT\s+"?(?P<name>\w+)"?', re.IGNORECASE)
_BACKFILL = re.compile(r'UPDATE\s+"?(?P<table>\w+)"?(?:\s+AS\s+\w+)?\s+SET\s+(?P<set>.+?)\s+FROM\b',
                       re.IGNORECASE | re.DOTALL)


def _backfilled(text: str) -> set[tuple[str, str]]:
    """(table, column) pairs a batched backfill's UPDATE ... SET ... FROM writes."""
    return {(m["table"], c) for m in _BACKFILL.finditer(text) for c in re.findall(r"(?:^|,)\s*(\w+)\s*=", m["set"])}

_NOT_VALID = """
SELECT c.conname AS name, c.conrelid::regclass::text AS table_name, pg_get_expr(c.conbin, c.conrelid) AS expr
  FROM pg_constraint c
 WHERE c.contype = 'c' AND NOT c.convalidated AND c.connamespace = current_schema()::regnamespace
"""


@dataclass(frozen=True)
class Violation:
    revision: str  # the revision that would fail
    constraint: str
    table: str
    expression: str
    rows: int
    sample: tuple[str, ...]  # "id=...: role='function'"
    see: str  # the SQL that lists them


def _balanced(text: str, start: int) -> str:
    """The text inside the parenthesis opened just before ``start``."""
    depth, i, quoted = 1, start, False
    while i < len(text) and depth:
        ch = text[i]
        if ch == "'":
            quoted = not quoted
        elif not quoted:
            depth += {"(": 1, ")": -1}.get(ch, 0)
        i += 1
    return text[start:i - 1]


def _may_touch_constraints(rev: RevisionInfo) -> bool:
    try:
        text = Path(rev.path).read_text().lower()
    except OSError:
        return True
    return "constraint" in text or "check" in text or "backfill" in text


def _checks(revisions: list[RevisionInfo], settings: Settings | None, location: str,
            known: dict[str, tuple[str, str]]) -> list[tuple[str, str, str, str]]:
    """(revision, constraint, table, expression) of every CHECK the revisions try against existing rows."""
    expressions = dict(known)
    found: list[tuple[str, str, str, str]] = []
    filled: set[tuple[str, str]] = set()

    def later_filled(table: str, expr: str) -> bool:
        return any((table, word) in filled for word in re.findall(r"\w+", expr))

    for rev in revisions:
        if not _may_touch_constraints(rev):
            continue
        for item in render(f"{rev.down_revision or 'base'}:{rev.revision}", settings, location=location):
            filled |= _backfilled(item.sql)
            table = _TABLE.match(item.sql)
            if table is None:
                continue
            for add in _ADD.finditer(item.sql):
                raw = _balanced(item.sql, add.end())
                rest = item.sql[add.end() + len(raw) + 1:].lstrip()
                expr = " ".join(raw.split())  # one line in messages, however the revision wraps it
                expressions[add["name"]] = (table["table"], expr)
                if not rest.upper().startswith("NOT VALID") and not later_filled(table["table"], expr):
                    found.append((rev.revision, add["name"], table["table"], expr))
            for validate in _VALIDATE.finditer(item.sql):
                if validate["name"] in expressions:
                    tbl, expr = expressions[validate["name"]]
                    if later_filled(tbl, expr):
                        continue
                    found.append((rev.revision, validate["name"], tbl, expr))
    return found


def _sample_columns(conn: psycopg.Connection, table: str, expr: str) -> list[str]:
    rows = conn.execute("SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0 "
                        "AND NOT attisdropped ORDER BY attnum", (table,)).fetchall()
    words = set(re.findall(r"\w+", expr))
    return [r[0] for r in rows if r[0] in words]


def _shown(value: object) -> str:
    text = "NULL" if value is None else repr(str(value))
    return text if len(text) <= VALUE_CHARS else text[: VALUE_CHARS - 1] + "…"


def violations(conn: psycopg.Connection, revisions: list[RevisionInfo], settings: Settings | None = None,
               *, location: str = DEFAULT_LOCATION) -> list[Violation]:
    """The CHECKs the pending ``revisions`` would fail on, with counts and samples, on an autocommit
    connection. Reads only."""
    with conn.cursor(row_factory=dict_row) as cur:
        known = {r["name"]: (r["table_name"], r["expr"]) for r in cur.execute(_NOT_VALID).fetchall()}
    found: list[Violation] = []
    for revision, name, table, expr in _checks(revisions, settings, location, known):
        where = sql.SQL("NOT coalesce(({}), true)").format(sql.SQL(expr))  # a CHECK passes on NULL
        try:
            count = conn.execute(sql.SQL("SELECT count(*) FROM {} WHERE {}").format(sql.Identifier(table), where)
                                 ).fetchone()
            if not count or not count[0]:
                continue
            columns = _sample_columns(conn, table, expr)
            with conn.cursor(row_factory=dict_row) as cur:
                # As text: a value a revision forbids may be one psycopg cannot load ('infinity', BC).
                shown = [sql.SQL("{}::text AS {}").format(sql.Identifier(c), sql.Identifier(c)) for c in columns]
                picked = cur.execute(sql.SQL("SELECT id, {} FROM {} WHERE {} ORDER BY id LIMIT {}").format(
                    sql.SQL(", ").join(shown) if columns else sql.SQL("NULL AS none"),
                    sql.Identifier(table), where, sql.Literal(SAMPLE))).fetchall()
        except (pg_errors.UndefinedColumn, pg_errors.UndefinedTable):
            continue  # a pending revision adds what it reads; its values are not there to check yet
        sample = tuple(f"id {row['id']}: " + ", ".join(f"{c}={_shown(row[c])}" for c in columns) for row in picked)
        see = f"SELECT * FROM {table} WHERE NOT coalesce(({expr}), true);"
        found.append(Violation(revision, name, table, expr, int(count[0]), sample, see))
    return found


def describe(v: Violation) -> str:
    """One sentence for a violation: what would fail, how many rows, a sample, the SQL to see them."""
    rows = f"{v.rows:,} row{'s' * (v.rows != 1)}"
    return (f"revision {v.revision} would fail: {v.constraint} ({v.expression}) on {v.table} is violated by {rows} "
            f"(e.g. {'; '.join(v.sample)}); see them with: {v.see} Fix or delete them, then re-run")
