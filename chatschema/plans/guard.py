"""The guard for queries nobody declared: every statement an app's tests sent, planned on the seeded
database (a prepared statement's generic plan, never executed), checked by the hot-table rules.

``chatschema.pytest_plugin`` records what the tests send through psycopg (SQLAlchemy's psycopg
driver included) with ``--chatschema-guard`` and hands the statements here at the end of the
session. The rules are the ones that need no contract: a Seq Scan of ``messages`` or
``conversations`` and a Sort of more than a page. A statement the seeded database cannot plan (an
app table chatschema does not have) is reported as skipped, not as a finding.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..queries.contract import HOT_TABLES, Contract
from ..queries.files import VARIANT, FileQuery
from .explain import Explainer, ExplainFailed
from .findings import Finding
from .rules import PlanSubject, rule
from .verify import connect

__all__ = ["Sent", "Guarded", "guard", "summary_lines", "explainable", "named", "GUARD_RULES", "PAGE_ROWS"]

GUARD_RULES = ("seq-scan-on-hot-table", "sort-above-page")
PAGE_ROWS = 100
_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%s|%%|%")
_EXPLAINABLE = ("select", "with", "update", "delete", "insert", "merge", "values", "table")


@dataclass(frozen=True)
class Sent:
    """One statement a test sent: its SQL, its parameters, and the test (pytest node id)."""

    sql: str
    params: Any
    test: str


@dataclass(frozen=True)
class Guarded:
    """A distinct statement, the first test that sent it, how often it was sent, and what was found."""

    sql: str
    test: str
    times: int
    findings: tuple[Finding, ...] = ()
    skipped: str | None = None


def explainable(text: str) -> bool:
    words = text.lstrip().split(None, 1)
    return bool(words) and words[0].lower().lstrip("(") in _EXPLAINABLE


def named(text: str, params: Any) -> tuple[str, dict[str, Any]]:
    """The statement with psycopg named parameters only (``%s`` becomes ``%(p1)s``...), and its values."""
    if params is None:
        return text.replace("%", "%%"), {}  # sent without parameters: a % was literal
    values: dict[str, Any] = {}
    position = 0

    def swap(match: re.Match[str]) -> str:
        nonlocal position
        token = match.group(0)
        if token in ("%%", "%"):
            return "%%"
        if match.group(1):
            values[match.group(1)] = params[match.group(1)]
            return token
        position += 1
        values[f"p{position}"] = params[position - 1]
        return f"%(p{position})s"

    return _PLACEHOLDER.sub(swap, text), values


def _normal(text: str) -> str:
    return " ".join(text.split())


def guard(info: str, sent: Iterable[Sent], *, page_rows: int = PAGE_ROWS) -> list[Guarded]:
    """Each distinct explainable statement of ``sent``, planned (generic plan) on ``info`` and checked."""
    first: dict[str, Sent] = {}
    times: dict[str, int] = {}
    for s in sent:
        if not explainable(s.sql):
            continue
        key = _normal(s.sql)
        first.setdefault(key, s)
        times[key] = times.get(key, 0) + 1
    contract = Contract(page_rows=page_rows, max_sort_rows=page_rows, no_seq_scan=HOT_TABLES, o_page=False)
    rules = [rule(name) for name in GUARD_RULES]
    out: list[Guarded] = []
    with connect(info) as conn:
        explainer = Explainer(conn, analyze=False, scratch=False)  # READ ONLY, nothing executed
        for i, (key, s) in enumerate(first.items(), 1):
            try:
                text, values = named(s.sql.strip().rstrip(";"), s.params)
                query = FileQuery(operation=f"statement_{i}", variant=VARIANT, sql=text, params=tuple(values),
                                  revision="head", contract=contract)
                # EXECUTE of a statement without parameters is a plain EXPLAIN: the same plan
                plans = explainer.explain(query, values, "generic" if values else "custom")
            except (ExplainFailed, ValueError, KeyError, IndexError, TypeError) as exc:
                out.append(Guarded(key, s.test, times[key], skipped=str(exc).splitlines()[0]))
                continue
            subject = PlanSubject(query="undeclared_statement", operation="", contract=contract, plans=plans,
                                  mode="generic", case="generic plan")
            found = tuple(f for r in rules for f in r.check(subject))
            out.append(Guarded(key, s.test, times[key], found))
    return out


def summary_lines(results: Sequence[Guarded]) -> list[str]:
    """The guard's report: each statement with findings once, with the test that sent it first."""
    bad = [g for g in results if g.findings]
    lines = [f"chatschema guard: {len(results)} distinct statements planned, {len(bad)} with findings"]
    for g in bad:
        lines.append(f"✗ {g.sql}")
        lines.append(f"    sent by {g.test}" + (f" (and {g.times - 1} more times)" if g.times > 1 else ""))
        for f in g.findings:
            lines.append(f"    {f.rule}: {f.message}")
            lines.append(f"      hint: {f.hint}")
    skipped = [g for g in results if g.skipped]
    for g in skipped:
        lines.append(f"- skipped (cannot be planned on the seeded database): {g.sql[:100]}: {g.skipped}")
    return lines
