"""A materialized view whose unique index cannot serve REFRESH ... CONCURRENTLY.

*Problem*: A materialized view has no unique index that REFRESH MATERIALIZED VIEW CONCURRENTLY can
use (it needs a valid UNIQUE index on plain columns with no WHERE), or its key columns hold NULLs,
which make every concurrent refresh delete and re-insert those rows.

*Fix*: Create a UNIQUE index on plain, never-NULL columns with no WHERE clause; COALESCE nullable
key columns in the view's query.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from ...locks import normalize
from ...offline import PlannedStatement
from ..findings import LintFinding
from . import RULES, DatabaseSubject, RevisionSubject

NAME = "matview-refresh-key"

_UNIQUE_INDEX = re.compile(
    r"CREATE UNIQUE INDEX (?:CONCURRENTLY )?(?:IF NOT EXISTS )?(?:\S+ )?ON (?:ONLY )?(\S+) (?:USING \w+ )?\((.*)$",
    re.IGNORECASE,
)
_PLAIN_KEY = re.compile(r'^(?:"[^"]+"|[A-Za-z_]\w*)(?:\s+COLLATE\s+\S+)?(?:\s+\w+_ops)?(?:\s+(?:ASC|DESC))?'
                        r"(?:\s+NULLS\s+(?:FIRST|LAST))?$", re.IGNORECASE)


def unique_index_problem(sql: str) -> tuple[str, str | None] | None:
    """(view, None) for a unique index a concurrent refresh can use, (view, why not) otherwise."""
    m = _UNIQUE_INDEX.match(normalize(sql))
    if not m:
        return None
    view = m.group(1).replace('"', "")
    rest, depth = m.group(2), 1
    for i, ch in enumerate(rest):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth == 0:
            keys, tail = rest[:i], rest[i + 1 :]
            break
    else:
        return view, "its definition could not be read"
    if re.search(r"\bWHERE\b", tail, re.IGNORECASE):
        return view, "it is partial (WHERE)"
    elements = [e.strip() for e in re.split(r",(?![^(]*\))", keys)]
    if not all(_PLAIN_KEY.match(e) for e in elements):
        return view, "it indexes an expression"
    return view, None


def revision(subject: RevisionSubject) -> Iterator[LintFinding]:
    views = {lk.relation: s for s in subject.statements if s.lock.kind.startswith("create materialized view")
             for lk in s.lock.locks if lk.new}
    usable: dict[str, bool] = {v: False for v in views}
    problems: dict[str, tuple[PlannedStatement, str]] = {}
    for s in subject.statements:
        shape = unique_index_problem(s.sql)
        if shape and shape[0] in views:
            if shape[1] is None:
                usable[shape[0]] = True
            else:
                problems.setdefault(shape[0], (s, shape[1]))
    for view, ok in usable.items():
        if not ok:
            st, why = problems.get(view, (views[view], "it has no unique index"))
            yield subject.finding(NAME, st, f"materialized view {view} cannot be refreshed concurrently: {why}")


def database(subject: DatabaseSubject) -> Iterator[LintFinding]:
    for view, problem in subject.refresh_key_problems:
        yield LintFinding(NAME, f"materialized view {view}: {problem}", "database", hint=RULES[NAME].fix)
