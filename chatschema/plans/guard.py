"""The guard for queries nobody declared: every statement an app's tests sent, planned on the seeded
database (a prepared statement's generic plan, never executed), checked by the hot-table rules.

``chatschema.pytest_plugin`` records what the tests send through psycopg (SQLAlchemy's psycopg
driver included) with ``--chatschema-guard`` and hands the statements here at the end of the
session. The rules are the ones that need no contract: a Seq Scan of ``messages`` or
``conversations`` and a Sort of more than a page. A statement the seeded database cannot plan (an
app table chatschema does not have) is reported as skipped, not as a finding.

With a second, smaller seeded database (``small_info``, ``--chatschema-growth``) each read is also
measured on both (``EXPLAIN (ANALYZE, BUFFERS)`` with the values the test bound, in a READ ONLY
transaction rolled back; writes are never executed) and checked by ``buffer-growth``: a read whose
buffers grow with the table is named like the others.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..queries.contract import HOT_TABLES, Contract
from ..queries.files import VARIANT, FileQuery
from .explain import Explainer, ExplainFailed
from .findings import Finding
from .metrics import total_buffers
from .rules import GrowthSubject, PlanSubject, rule
from .verify import connect

__all__ = ["Sent", "Guarded", "Growth", "guard", "summary_lines", "explainable", "named", "GUARD_RULES", "PAGE_ROWS"]

GUARD_RULES = ("seq-scan-on-hot-table", "sort-above-page")  # and buffer-growth, with a Growth
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


@dataclass(frozen=True)
class Growth:
    """The smaller database a growth check measures against, and both databases' message counts."""

    small_info: str
    small_rows: float
    large_rows: float


def _is_read(text: str) -> bool:
    words = text.lstrip().split(None, 1)
    return bool(words) and words[0].lower().lstrip("(") in ("select", "with", "values", "table") and not re.search(
        r"\b(insert|update|delete|merge)\b", text, re.IGNORECASE)


def _growth(large: Explainer, small: Explainer, query: FileQuery, values: dict[str, Any], contract: Contract,
            growth: Growth) -> tuple[Finding, ...]:
    """buffer-growth of one read, measured on both databases with the same values."""
    large_buffers = total_buffers(large.explain(query, values, "custom"))
    small_buffers = total_buffers(small.explain(query, values, "custom"))
    subject = GrowthSubject("undeclared_statement.as_sent", contract, "as sent", small_buffers, large_buffers,
                            growth.small_rows, growth.large_rows)
    return tuple(rule("buffer-growth").check(subject))


def guard(info: str, sent: Iterable[Sent], *, page_rows: int = PAGE_ROWS, growth: Growth | None = None) -> list[Guarded]:
    """Each distinct explainable statement of ``sent``, planned (generic plan) on ``info`` and checked;
    with ``growth``, each read's buffers are also compared with the smaller database's."""
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
    growth_contract = dataclasses.replace(contract, o_page=True)
    out: list[Guarded] = []
    with contextlib.ExitStack() as stack:
        conn = stack.enter_context(connect(info))
        explainer = Explainer(conn, analyze=False, scratch=False)  # READ ONLY, nothing executed
        measured = small = None
        if growth is not None:
            measured = Explainer(conn, analyze=True, scratch=False)  # READ ONLY: reads run, writes only planned
            small = Explainer(stack.enter_context(connect(growth.small_info)), analyze=True, scratch=False)
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
            if growth is not None and measured is not None and small is not None and _is_read(text):
                try:
                    found += _growth(measured, small, query, values, growth_contract, growth)
                except ExplainFailed as exc:
                    out.append(Guarded(key, s.test, times[key], found, skipped=f"growth: {str(exc).splitlines()[0]}"))
                    continue
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
