"""Which lock a statement takes, on which table, and which sessions would make it wait.

The lock map encodes PostgreSQL's "Explicit Locking" table for the statements migrations use
(the same map squawk keeps in its require-timeout-settings rule). It reads statement text only,
so it serves three callers alike: the runner (which timeout class a statement belongs to, whom
to name when it waits), ``chatschema upgrade --dry-run`` (the plan) and ``chatschema lint``.
Anything it does not recognise is reported as ACCESS EXCLUSIVE: guessing too strong costs a
short timeout, guessing too weak costs an outage.

Lock classes decide the timeouts (see ``Settings``):

- ``strong``: SHARE and stronger on a live table, i.e. the statement blocks writes or reads
  while it waits in the lock queue. Short lock_timeout, retried.
- ``online``: SHARE UPDATE EXCLUSIVE and CONCURRENTLY: reads and writes go on while it waits,
  so it may wait long (and must: a cancelled concurrent build leaves an INVALID index).
- ``rows``: data changes (row locks, ROW EXCLUSIVE): the session's short timeouts.
- ``none``: transaction control, settings, catalog checks, objects created in the same revision.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import psycopg
import sqlparse
from psycopg.rows import dict_row

from ..errors import quote_query
from ..migrations import BOOKKEEPING_TABLES

__all__ = [
    "MODES",
    "TableLock",
    "StatementLock",
    "classify",
    "conflicts",
    "Blocker",
    "blockers",
    "old_snapshots",
    "normalize",
    "timeout_setting",
    "in_sequence",
]

# PostgreSQL's table-level lock modes, weakest first, as pg_locks.mode spells them.
MODES = (
    "AccessShareLock",
    "RowShareLock",
    "RowExclusiveLock",
    "ShareUpdateExclusiveLock",
    "ShareLock",
    "ShareRowExclusiveLock",
    "ExclusiveLock",
    "AccessExclusiveLock",
)
_NAMES = {m: re.sub(r"(?<!^)([A-Z])", r" \1", m.removesuffix("Lock")).upper() for m in MODES}
_CONFLICTS = {
    "AccessShareLock": {"AccessExclusiveLock"},
    "RowShareLock": {"ExclusiveLock", "AccessExclusiveLock"},
    "RowExclusiveLock": {"ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock"},
    "ShareUpdateExclusiveLock": {
        "ShareUpdateExclusiveLock", "ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock"},
    "ShareLock": {"RowExclusiveLock", "ShareUpdateExclusiveLock", "ShareRowExclusiveLock", "ExclusiveLock",
                  "AccessExclusiveLock"},
    "ShareRowExclusiveLock": {"RowExclusiveLock", "ShareUpdateExclusiveLock", "ShareLock", "ShareRowExclusiveLock",
                              "ExclusiveLock", "AccessExclusiveLock"},
    "ExclusiveLock": set(MODES) - {"AccessShareLock"},
    "AccessExclusiveLock": set(MODES),
}
_BLOCKS = {
    "AccessShareLock": "blocks only ACCESS EXCLUSIVE",
    "RowShareLock": "blocks EXCLUSIVE and ACCESS EXCLUSIVE",
    "RowExclusiveLock": "blocks SHARE and stronger (index builds without CONCURRENTLY, DDL)",
    "ShareUpdateExclusiveLock": "blocks DDL, vacuum and other concurrent builds; reads and writes continue",
    "ShareLock": "blocks writes; reads continue",
    "ShareRowExclusiveLock": "blocks writes; reads continue",
    "ExclusiveLock": "blocks writes; reads continue",
    "AccessExclusiveLock": "blocks reads and writes",
}


def conflicts(requested: str, held: str) -> bool:
    """Whether a lock ``held`` by another session makes a ``requested`` one wait (pg_locks mode names)."""
    return held in _CONFLICTS[requested]


@dataclass(frozen=True)
class TableLock:
    relation: str
    mode: str  # a pg_locks mode name
    via_index: bool = False  # ``relation`` is an index: the lock is on its table (resolved by the caller)
    new: bool = False  # created by this same statement: nobody else can be using it

    @property
    def mode_name(self) -> str:
        return _NAMES[self.mode]

    @property
    def blocks(self) -> str:
        return "nothing (new object)" if self.new else _BLOCKS[self.mode]


@dataclass(frozen=True)
class StatementLock:
    kind: str
    lock_class: str  # strong | online | rows | none
    locks: tuple[TableLock, ...] = ()
    concurrently: bool = False
    dml: bool = False  # a data backfill: UPDATE, DELETE, INSERT ... SELECT (also inside a DO block)
    ddl: bool = False  # changes the schema of a table, index or view that already exists
    creates: tuple[str, ...] = ()  # objects this statement creates

    @property
    def describe(self) -> str:
        if not self.locks:
            return "-"
        return "; ".join(
            f"{lk.mode_name} on {lk.relation}{' (its table)' if lk.via_index else ''}{' (new)' if lk.new else ''}"
            for lk in self.locks
        )


_ID = r'(?:"[^"]+"|[A-Za-z_][\w$]*)(?:\.(?:"[^"]+"|[A-Za-z_][\w$]*))?'


def _name(raw: str) -> str:
    return raw.replace('"', "")


def normalize(statement: str) -> str:
    """The statement without comments, on one line: what the patterns below read."""
    text = sqlparse.format(statement, strip_comments=True).strip().rstrip(";")
    return re.sub(r"\s+", " ", text).strip()


_SET_TIMEOUT = re.compile(
    r"^\s*SET\s+(?:LOCAL\s+)?(lock_timeout|statement_timeout)\s*(?:=|TO)\s*'?(\d+)\s*(ms|s|min|h)?'?", re.I
)
_TIMEOUT_UNIT_MS = {None: 1, "ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000}


def timeout_setting(statement: str) -> tuple[str, int] | None:
    """('lock_timeout' | 'statement_timeout', milliseconds) when ``statement`` sets one, else None.

    A bare number means milliseconds, as PostgreSQL reads ``SET lock_timeout = 500``.
    """
    match = _SET_TIMEOUT.match(statement)
    if not match:
        return None
    unit = match.group(3).lower() if match.group(3) else None
    return match.group(1).lower(), int(match.group(2)) * _TIMEOUT_UNIT_MS[unit]


def _split_top_level(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return [p for p in parts if p]


def _strongest(modes: list[str]) -> str:
    return max(modes, key=MODES.index)


def _alter_table(table: str, actions: str) -> StatementLock:
    modes: list[str] = []
    extra: list[TableLock] = []
    for action in _split_top_level(actions):
        a = action.upper()
        if a.startswith("VALIDATE CONSTRAINT") or re.match(r"ALTER (COLUMN )?\S+ SET STATISTICS", a) or a.startswith(
            ("CLUSTER ON", "SET WITHOUT CLUSTER")
        ):
            modes.append("ShareUpdateExclusiveLock")
        elif m := re.match(r"(SET|RESET) \((.*)\)$", a):
            params = [p.split("=")[0].strip().lower() for p in _split_top_level(m.group(2))]
            light = all(p.startswith(("autovacuum_", "toast.", "fillfactor")) for p in params)
            modes.append("ShareUpdateExclusiveLock" if light else "AccessExclusiveLock")
        elif re.match(r"(ENABLE|DISABLE) (ALWAYS |REPLICA )?TRIGGER", a):
            modes.append("ShareRowExclusiveLock")
        elif re.match(r"DETACH PARTITION .* CONCURRENTLY", a):
            modes.append("ShareUpdateExclusiveLock")
        elif ref := re.search(rf"\bREFERENCES ({_ID})", action, re.IGNORECASE):
            adds_column = a.startswith(("ADD COLUMN", "ADD ")) and "FOREIGN KEY" not in a and "CONSTRAINT" not in a
            modes.append("AccessExclusiveLock" if adds_column else "ShareRowExclusiveLock")
            extra.append(TableLock(_name(ref.group(1)), "ShareRowExclusiveLock"))
        else:
            modes.append("AccessExclusiveLock")
    mode = _strongest(modes or ["AccessExclusiveLock"])
    kind = "alter table: validate constraint" if all(
        act.upper().startswith("VALIDATE") for act in _split_top_level(actions)) else "alter table"
    return StatementLock(
        kind,
        "strong" if MODES.index(mode) >= MODES.index("ShareLock") else "online",
        (TableLock(table, mode), *extra),
        ddl=True,
    )


def _dml_targets(text: str) -> list[str]:
    found = re.findall(rf"\b(?:UPDATE|INSERT INTO|DELETE FROM)\s+(?:ONLY\s+)?({_ID})", text, re.IGNORECASE)
    # "DO UPDATE SET" (ON CONFLICT) names no table.
    return [_name(t) for t in found if t.upper() not in ("SET", "OF")]


def classify(statement: str) -> StatementLock:
    """The lock ``statement`` takes: on which relations, in which mode, and its lock class."""
    text = normalize(statement)
    up = text.upper()
    if not text:
        return StatementLock("comment", "none")
    if re.match(r"(BEGIN|START TRANSACTION|COMMIT|END|ROLLBACK)\b", up):
        return StatementLock("transaction control", "none")
    if re.match(r"(SET|RESET|SHOW)\b", up):
        return StatementLock("setting", "none")
    if up.startswith("DO "):
        targets = [t for t in _dml_targets(text) if t not in BOOKKEEPING_TABLES]
        if targets:
            locks = tuple(TableLock(t, "RowExclusiveLock") for t in dict.fromkeys(targets))
            return StatementLock("DO block: batched data change, row locks one batch at a time", "rows", locks, dml=True)
        return StatementLock("DO block: catalog check", "none")
    if m := re.match(rf"CREATE (UNIQUE )?INDEX CONCURRENTLY (?:IF NOT EXISTS )?(?:{_ID} )?ON (?:ONLY )?({_ID})", text, re.I):
        return StatementLock("create index concurrently", "online",
                             (TableLock(_name(m.group(2)), "ShareUpdateExclusiveLock"),), concurrently=True, ddl=True)
    if m := re.match(rf"CREATE (UNIQUE )?INDEX (?:IF NOT EXISTS )?(?:({_ID}) )?ON (?:ONLY )?({_ID})", text, re.I):
        return StatementLock("create index", "strong", (TableLock(_name(m.group(3)), "ShareLock"),), ddl=True,
                             creates=(_name(m.group(2)),) if m.group(2) else ())
    if m := re.match(rf"DROP INDEX CONCURRENTLY (?:IF EXISTS )?({_ID})", text, re.I):
        return StatementLock("drop index concurrently", "online",
                             (TableLock(_name(m.group(1)), "ShareUpdateExclusiveLock", via_index=True),),
                             concurrently=True, ddl=True)
    if m := re.match(rf"DROP INDEX (?:IF EXISTS )?({_ID})", text, re.I):
        return StatementLock("drop index", "strong",
                             (TableLock(_name(m.group(1)), "AccessExclusiveLock", via_index=True),), ddl=True)
    if m := re.match(rf"REINDEX (?:\(.*?\) )?(INDEX|TABLE) (CONCURRENTLY )?({_ID})", text, re.I):
        via_index = m.group(1).upper() == "INDEX"
        if m.group(2):
            return StatementLock("reindex concurrently", "online",
                                 (TableLock(_name(m.group(3)), "ShareUpdateExclusiveLock", via_index),),
                                 concurrently=True, ddl=True)
        return StatementLock("reindex", "strong", (TableLock(_name(m.group(3)), "ShareLock", via_index),), ddl=True)
    if m := re.match(rf"ALTER TABLE (?:IF EXISTS )?(?:ONLY )?({_ID}) (.*)$", text, re.I):
        return _alter_table(_name(m.group(1)), m.group(2))
    if m := re.match(rf"ALTER INDEX (?:IF EXISTS )?({_ID}) (.*)$", text, re.I):
        mode = "ShareUpdateExclusiveLock" if m.group(2).upper().startswith(("RENAME", "SET (", "RESET (")) else "AccessExclusiveLock"
        return StatementLock("alter index", "online" if mode == "ShareUpdateExclusiveLock" else "strong",
                             (TableLock(_name(m.group(1)), mode, via_index=True),), ddl=True)
    if m := re.match(rf"CREATE (?:UNLOGGED )?TABLE (?:IF NOT EXISTS )?({_ID})", text, re.I):
        table = _name(m.group(1))
        refs = [_name(r) for r in re.findall(rf"\bREFERENCES ({_ID})", text, re.I) if _name(r) != table]
        locks = (TableLock(table, "AccessExclusiveLock", new=True),
                 *(TableLock(r, "ShareRowExclusiveLock") for r in dict.fromkeys(refs)))
        return StatementLock("create table", "strong" if refs else "none", locks, creates=(table,))
    if m := re.match(rf"CREATE MATERIALIZED VIEW (?:IF NOT EXISTS )?({_ID}) .*?\bAS\b(.*)$", text, re.I):
        view = _name(m.group(1))
        sources = [_name(s) for s in re.findall(rf"\b(?:FROM|JOIN) ({_ID})", m.group(2), re.I)]
        no_data = bool(re.search(r"WITH NO DATA$", up))
        locks = (TableLock(view, "AccessExclusiveLock", new=True),
                 *(TableLock(s, "AccessShareLock") for s in dict.fromkeys(sources) if s != view))
        return StatementLock("create materialized view" + (" (no data)" if no_data else " (runs its query)"), "none",
                             locks, creates=(view,))
    if m := re.match(rf"REFRESH MATERIALIZED VIEW (CONCURRENTLY )?({_ID})", text, re.I):
        if m.group(1):
            return StatementLock("refresh materialized view concurrently", "online",
                                 (TableLock(_name(m.group(2)), "ExclusiveLock"),), concurrently=True)
        return StatementLock("refresh materialized view", "strong", (TableLock(_name(m.group(2)), "AccessExclusiveLock"),))
    if m := re.match(rf"CREATE (?:OR REPLACE )?VIEW ({_ID})", text, re.I):
        return StatementLock("create view", "strong", (TableLock(_name(m.group(1)), "AccessExclusiveLock"),), ddl=True)
    if m := re.match(rf"DROP (TABLE|MATERIALIZED VIEW|VIEW) (?:IF EXISTS )?({_ID}(?:\s*,\s*{_ID})*)", text, re.I):
        names = [_name(n.strip()) for n in m.group(2).split(",")]
        return StatementLock(f"drop {m.group(1).lower()}", "strong",
                             tuple(TableLock(n, "AccessExclusiveLock") for n in names), ddl=True)
    if m := re.match(rf"(TRUNCATE|CLUSTER|VACUUM \(?FULL\b\)?)(?: TABLE)? (?:ONLY )?({_ID})", text, re.I):
        return StatementLock(m.group(1).lower(), "strong", (TableLock(_name(m.group(2)), "AccessExclusiveLock"),), ddl=True)
    if m := re.match(rf"(VACUUM|ANALYZE)(?: \(.*?\))?(?: VERBOSE)? ({_ID})", text, re.I):
        return StatementLock(m.group(1).lower(), "online", (TableLock(_name(m.group(2)), "ShareUpdateExclusiveLock"),))
    if m := re.match(rf"CREATE (?:OR REPLACE )?(?:CONSTRAINT )?TRIGGER .*? ON ({_ID})", text, re.I):
        return StatementLock("create trigger", "strong", (TableLock(_name(m.group(1)), "ShareRowExclusiveLock"),), ddl=True)
    if m := re.match(rf"DROP TRIGGER (?:IF EXISTS )?{_ID} ON ({_ID})", text, re.I):
        return StatementLock("drop trigger", "strong", (TableLock(_name(m.group(1)), "AccessExclusiveLock"),), ddl=True)
    if m := re.match(rf"COMMENT ON (?:TABLE|COLUMN|INDEX|MATERIALIZED VIEW) ({_ID})", text, re.I):
        return StatementLock("comment", "online", (TableLock(_name(m.group(1)), "ShareUpdateExclusiveLock"),))
    if m := re.match(rf"LOCK (?:TABLE )?(?:ONLY )?({_ID})(?: IN ([A-Z ]+) MODE)?", text, re.I):
        mode = "".join(w.capitalize() for w in (m.group(2) or "ACCESS EXCLUSIVE").split()) + "Lock"
        mode = mode if mode in MODES else "AccessExclusiveLock"
        return StatementLock("lock table", "strong" if MODES.index(mode) >= 4 else "online", (TableLock(_name(m.group(1)), mode),))
    if re.match(r"(UPDATE|DELETE|INSERT|WITH)\b", up):
        targets = _dml_targets(text)
        backfill = bool(re.match(r"(UPDATE|DELETE)\b", up)) or bool(re.search(r"\bSELECT\b", up)) or up.startswith("WITH")
        app_targets = [t for t in targets if t not in BOOKKEEPING_TABLES]
        return StatementLock("data change" if backfill else "insert values", "rows",
                             tuple(TableLock(t, "RowExclusiveLock") for t in dict.fromkeys(targets)),
                             dml=backfill and bool(app_targets))
    if up.startswith("SELECT"):
        if re.search(r"\bFOR (NO KEY )?UPDATE\b|\bFOR (KEY )?SHARE\b", up):
            tables = [_name(t) for t in re.findall(rf"\bFROM ({_ID})", text, re.I)]
            return StatementLock("select for update", "rows", tuple(TableLock(t, "RowShareLock") for t in tables))
        return StatementLock("query", "none")
    if m := re.match(r"(?:CREATE|DROP) (?:SCHEMA|EXTENSION|TYPE|FUNCTION|OR REPLACE FUNCTION|SEQUENCE)\b", text, re.I):
        return StatementLock(m.group(0).lower(), "none")
    return StatementLock("unrecognised statement (assumed ACCESS EXCLUSIVE)", "strong", ddl=True)


def in_sequence(statements: list[StatementLock]) -> list[StatementLock]:
    """The same locks, with relations created by an earlier statement of the sequence marked new.

    A revision that creates a table and then indexes it locks a relation nobody else can be
    using yet: that is not a strong lock on a live table.
    """
    created: set[str] = set()
    out = []
    for st in statements:
        marked = tuple(replace(lk, new=True) if lk.relation in created else lk for lk in st.locks)
        lock_class = "none" if marked and all(lk.new for lk in marked) else st.lock_class
        out.append(replace(st, locks=marked, lock_class=lock_class))
        created.update(st.creates)
    return out


@dataclass(frozen=True)
class Blocker:
    pid: int
    state: str
    age_s: int  # how long its transaction (or, outside one, its query) has been open
    query: str
    mode: str | None = None  # the conflicting lock it holds, if that is why it blocks

    def __str__(self) -> str:
        held = f"{self.mode}, " if self.mode else ""
        return f"pid {self.pid} ({held}{self.state}, transaction open {self.age_s}s): {self.query}"


# Sessions holding a lock on the relation; which of them conflict is decided in Python with the
# matrix above, so the query stays one a DBA can paste into psql. 161 characters: one more than
# a message quotes, so quote_query knows when the text was cut.
_HOLDERS = """
SELECT l.pid, l.mode, coalesce(a.state, '?') AS state,
       coalesce(extract(epoch FROM now() - coalesce(a.xact_start, a.query_start)), 0)::float8 AS age,
       left(regexp_replace(coalesce(a.query, ''), '\\s+', ' ', 'g'), 161) AS query
  FROM pg_locks l
  JOIN pg_stat_activity a ON a.pid = l.pid
 WHERE l.locktype = 'relation' AND l.relation = %(rel)s::regclass AND l.granted
   AND NOT (l.pid = ANY(%(ours)s))
 ORDER BY a.xact_start NULLS LAST, l.pid
"""

# CREATE INDEX CONCURRENTLY waits, after its scans, for every transaction of this database that
# holds a snapshot older than its own (WaitForOlderSnapshots); autovacuum is exempt.
_SNAPSHOTS = """
SELECT a.pid, coalesce(a.state, '?') AS state,
       coalesce(extract(epoch FROM now() - a.xact_start), 0)::float8 AS age,
       left(regexp_replace(coalesce(a.query, ''), '\\s+', ' ', 'g'), 161) AS query
  FROM pg_stat_activity a
 WHERE a.datname = current_database() AND a.xact_start IS NOT NULL
   AND a.backend_type = 'client backend'
   AND NOT (a.pid = ANY(%(ours)s))
   AND (a.backend_xmin IS NOT NULL OR a.backend_xid IS NOT NULL)
   AND now() - a.xact_start >= make_interval(secs => %(min_age)s)
 ORDER BY a.xact_start
"""


def _relation(conn: psycopg.Connection, lock: TableLock) -> str | None:
    if lock.via_index:
        row = conn.execute(
            "SELECT indrelid::regclass::text FROM pg_index WHERE indexrelid = to_regclass(%s)", (lock.relation,)
        ).fetchone()
        return row[0] if row else None
    row = conn.execute("SELECT to_regclass(%s)::text", (lock.relation,)).fetchone()
    return row[0] if row and row[0] else None


def blockers(
    conn: psycopg.Connection, lock: TableLock, *, ours: tuple[int, ...] = (), min_age_s: float = 0.0
) -> list[Blocker]:
    """Sessions holding a lock on ``lock``'s table that conflicts with ``lock.mode``, oldest first."""
    relation = _relation(conn, lock)
    if relation is None:
        return []
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(_HOLDERS, {"rel": relation, "ours": [conn.info.backend_pid, *ours]}).fetchall()
    found: dict[int, Blocker] = {}
    for row in rows:
        if conflicts(lock.mode, row["mode"]) and row["age"] >= min_age_s and row["pid"] not in found:
            found[row["pid"]] = Blocker(row["pid"], row["state"], int(row["age"] + 0.5), quote_query(row["query"]), row["mode"])
    return list(found.values())


def old_snapshots(conn: psycopg.Connection, *, ours: tuple[int, ...] = (), min_age_s: float = 1.0) -> list[Blocker]:
    """Transactions a concurrent index build would wait for (open at least ``min_age_s``), oldest first."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(_SNAPSHOTS, {"ours": [conn.info.backend_pid, *ours], "min_age": min_age_s}).fetchall()
    return [Blocker(row["pid"], row["state"], int(row["age"] + 0.5), quote_query(row["query"])) for row in rows]
