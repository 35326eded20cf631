"""The dry run: what an upgrade or downgrade would run, which lock each statement takes on which
table, how big those tables are, and where an interrupted backfill stands. Changes nothing.

``plan`` gathers it; ``plan_lines`` says it in the words ``chatschema upgrade --dry-run`` prints.
The catalog checks the helpers of ``chatschema.migrations.ops`` render (DO blocks) are recognised by
their shape, the helper's own template, not by the wording of their messages.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cache

from psycopg.rows import dict_row

from .. import server
from ..doctor import format_size
from ..migrations import ops
from ..settings import Settings, format_duration
from . import locks
from .backfill import Checkpoint, status
from .failures import refuse_wrong_direction
from .chain import DEFAULT_LOCATION, check_known, connection, database_revision, resolve, steps
from .offline import PlannedStatement, planned_statements, render
from .encoding import require_utf8
from . import dependents
from .preflight import Violation, describe, violations
from .stamped import crossed

__all__ = ["PlannedRevision", "RelationSize", "MigrationPlan", "plan", "plan_lines", "check_meaning"]

PREVIEW = 100  # characters of a statement shown per line


@dataclass(frozen=True)
class PlannedRevision:
    revision: str
    title: str
    direction: str
    statements: tuple[PlannedStatement, ...]


@dataclass(frozen=True)
class RelationSize:
    name: str
    table: str | None  # for an index: its table; None when the relation does not exist (yet)
    bytes: int | None
    rows: int | None  # pg_class.reltuples; None when never vacuumed or analyzed


@dataclass(frozen=True)
class MigrationPlan:
    target: str
    current: str | None
    direction: str
    revisions: tuple[PlannedRevision, ...]
    sizes: dict[str, RelationSize]
    backfill: Checkpoint | None = None  # of an interrupted backfill, which a run resumes from
    database: str = ""  # where: host:port/dbname, for messages
    violations: tuple[Violation, ...] = ()  # rows a pending revision would fail validating a CHECK on
    blockers: tuple[dependents.Dependent, ...] = ()  # foreign keys on a key a pending revision replaces


_SIZE = """
SELECT CASE WHEN c.relkind = 'i' THEN i.indrelid::regclass::text ELSE c.oid::regclass::text END AS table_name,
       pg_total_relation_size(CASE WHEN c.relkind = 'i' THEN i.indrelid ELSE c.oid END) AS bytes,
       (SELECT t.reltuples FROM pg_class t
         WHERE t.oid = CASE WHEN c.relkind = 'i' THEN i.indrelid ELSE c.oid END) AS reltuples
  FROM pg_class c LEFT JOIN pg_index i ON i.indexrelid = c.oid
 WHERE c.oid = to_regclass(%s)
"""


def plan(settings: Settings, revision: str = "head", *, direction: str = "upgrade",
         location: str = DEFAULT_LOCATION, below_stamp: bool = False) -> MigrationPlan:
    """What ``upgrade``/``downgrade`` to ``revision`` would run: statements, locks, table sizes. Changes nothing."""
    target = resolve(revision, location)
    with connection(settings) as (info, conn):
        rev = database_revision(conn)
        conn.rollback()
    if direction == "upgrade":
        require_utf8(info, "upgrade")  # the run refuses before anything else; so does its dry run
    if rev is None and location == DEFAULT_LOCATION:
        from .adopt import starting_revision  # as the run would: carried over, or NotAdopted on unrecorded tables

        rev = starting_revision(settings)
    check_known(rev, location)
    refuse_wrong_direction(rev, target, direction, location)
    way, pending = steps(rev, target, location)
    if way != direction:
        pending = []
    revisions = []
    for step in pending:
        low, high = (step.down_revision or "base", step.revision)
        range_ = f"{low}:{high}" if direction == "upgrade" else f"{high}:{low}"
        statements = planned_statements(render(range_, settings, location=location), settings)
        revisions.append(PlannedRevision(step.revision, step.title, direction, tuple(statements)))
    sizes: dict[str, RelationSize] = {}
    with server.connect(info, autocommit=True) as raw:
        if direction == "downgrade":
            crossed(raw, rev, target, below_stamp=below_stamp, location=location)
        checkpoint = status(raw)
        found = tuple(violations(raw, pending, settings, location=location)) if direction == "upgrade" else ()
        blockers = (tuple(dependents.blocking_foreign_keys(raw, pending, settings, location=location))
                    if direction == "upgrade" else ())
        relations = dict.fromkeys(lk.relation for r in revisions for st in r.statements for lk in st.lock.locks)
        with raw.cursor(row_factory=dict_row) as cur:
            for relation in relations:
                row = cur.execute(_SIZE, (relation,)).fetchone()
                if row is None:
                    sizes[relation] = RelationSize(relation, None, None, None)
                else:
                    tuples = row["reltuples"]
                    rows = int(tuples) if tuples is not None and tuples >= 0 else None
                    sizes[relation] = RelationSize(relation, row["table_name"], int(row["bytes"]), rows)
    return MigrationPlan(target, rev, direction, tuple(revisions), sizes, checkpoint, server.describe_target(info),
                         found, blockers)


# What each catalog check of the ops helpers means for the run. Online the runner repairs what the
# offline script can only refuse, so the leftover check reads differently here than in its message.
_CHECKS = (
    (ops.refuse_invalid_leftover, "an INVALID leftover of a failed build is dropped first (the offline script "
                                  "stops instead); one being built by another session stops the run"),
    (ops.assert_index_valid, "the run stops unless the new index is valid"),
)


@cache
def _pattern(helper: object) -> re.Pattern[str]:
    """The statements ``helper(name)`` renders, for any index name (the template, with the name a group)."""
    marker = "chatschema_name_marker"
    parts = helper(marker).split(marker)  # type: ignore[operator]
    name = r"(?P<name>[A-Za-z_][\w$]*)"
    return re.compile(re.escape(parts[0]) + name + "".join(r"(?P=name)" + re.escape(p) for p in parts[1:]) + r";?\Z")


def check_meaning(statement: str) -> str | None:
    """What a catalog check rendered by an ops helper makes the run do; None for any other statement."""
    for helper, meaning in _CHECKS:
        if _pattern(helper).match(statement.strip()):
            return meaning
    return None


def _shown(sql: str) -> str:
    text = locks.normalize(sql)
    return text if len(text) <= PREVIEW else text[: PREVIEW - 1] + "…"


def _statement_lines(rev: PlannedRevision, st: PlannedStatement, plan: MigrationPlan, settings: Settings,
                     strong: list[str]) -> list[str]:
    if st.lock.kind == "DO block: catalog check":
        return [f"  (check: {check_meaning(st.sql) or _shown(st.sql)})"]
    where = "in the revision transaction" if st.in_transaction else "autocommit"
    context = (f"[{where}; lock_timeout {format_duration(st.lock_timeout_ms)}, "
               f"statement_timeout {format_duration(st.statement_timeout_ms)}]")
    lines = [f"  {_shown(st.sql)}"]
    if not st.lock.locks:
        lines.append(f"      {st.lock.kind}: no table lock {context}")
    for lk in st.lock.locks:
        size = plan.sizes.get(lk.relation)
        if lk.new or size is None or size.bytes is None:
            on = f"{lk.relation} (new)"
        else:
            rows = f"~{size.rows:,} rows" if size.rows is not None else "rows unknown (never analyzed)"
            table = size.table if lk.via_index else lk.relation
            on = f"{table} ({format_size(size.bytes)}, {rows})"
            if st.lock.lock_class == "strong":
                strong.append(f"{lk.mode_name} on {table} ({rev.revision}, waits at most "
                              f"{format_duration(st.lock_timeout_ms)})")
        extra = ""
        if st.lock.dml and size is not None and size.rows:
            batch = settings.backfill_batch_size
            locks = "row locks (FOR UPDATE) on " if "FOR UPDATE" in st.sql.upper() else "no row locks, "
            extra = f"; {locks}one batch of {batch} at a time, ~{math.ceil(size.rows / batch):,} batches"
        lines.append(f"      {lk.mode_name} on {on}: {lk.blocks}{extra} {context}")
    if st.lock.dml and plan.backfill is not None and not plan.backfill.finished:
        lines.append(f"      checkpoint: {plan.backfill.rows_done:,} conversations already done; the run resumes "
                     f"after them")
    return lines


def plan_lines(plan: MigrationPlan, settings: Settings, policy: list[str]) -> list[str]:
    """The dry run as ``chatschema upgrade --dry-run`` prints it; ``policy`` is the lock policy's lines."""
    if not plan.revisions:
        return [f"Dry run on {plan.database}: already at {plan.target}; nothing would run."]
    last = plan.revisions[-1].revision if plan.direction == "upgrade" else plan.target
    lines = [f"Dry run on {plan.database} (nothing is changed): {plan.direction} {plan.current or 'base'} -> {last}. "
             f"Lock policy:"]
    lines += [f"  - {line}" for line in policy]
    strong: list[str] = []
    for rev in plan.revisions:
        lines.append(f"\n{rev.revision}  {rev.title}")
        if not rev.statements:
            lines.append("    (no statements)")
        for st in rev.statements:
            lines += _statement_lines(rev, st, plan, settings, strong)
    for v in plan.violations:
        lines.append(f"\nWould fail: {describe(v)}. `chatschema upgrade` stops before changing anything.")
    for d in plan.blockers:
        lines.append(f"\nWould fail: {dependents.describe(d)}. `chatschema upgrade` stops before changing anything.")
    if strong:
        lines.append("\nLocks that block reads or writes of a live table: " + "; ".join(dict.fromkeys(strong)))
    else:
        lines.append("\nNo statement takes a lock that blocks reads or writes of a live table.")
    return lines
