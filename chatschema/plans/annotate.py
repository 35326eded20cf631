"""A verification report for code hosts: SARIF 2.1.0 and GitHub Actions annotations.

Each finding is placed where its query is written: the assignment of the catalog query in
``chatschema/queries/<operation>.py``, or the first line of an app team's ``.sql`` file
(``chatschema.queries.locate``). One annotation per query and rule, the first (most telling)
finding's words, with the other cases it also broke named, so a pull request is not buried under
the same finding once per parameter case.
"""

from __future__ import annotations

from ..annotations import Annotation, RuleInfo, github, sarif
from ..queries.locate import locate
from .findings import Finding
from .report import Report
from .rules import RULES
from .verify import QueryResult

__all__ = ["annotations", "as_sarif", "as_github", "RULE_INFO"]

RULE_INFO = tuple(RuleInfo(r.name, r.summary) for r in RULES) + (RuleInfo("could-not-run", "The query could not be planned."),)
_LEVEL = {"error": "error", "warning": "warning"}


def _message(result: QueryResult, first: Finding, rest: list[Finding]) -> str:
    where = f" [{first.where}]" if first.where else ""
    text = f"{result.name}{where}: {first.message} Hint: {first.hint}"
    also = sorted({f.where or "every case" for f in rest} - {first.where})
    return text + (f" Also in: {'; '.join(also)}." if also else "")


def annotations(report: Report) -> list[Annotation]:
    """One annotation per (query, rule), located at the query; schema findings unplaced."""
    out: list[Annotation] = []
    for result in report.results:
        where = locate(result.query)
        path, line = (where.path, where.line) if where else (None, None)
        if result.error:
            out.append(Annotation("could-not-run", f"{result.name} could not run: {result.error}", "error", path, line,
                                  result.name))
        groups: dict[str, list[Finding]] = {}
        for f in result.findings:
            groups.setdefault(f.rule, []).append(f)
        for rule, (first, *rest) in groups.items():
            props = (("query", result.name), ("cases", sorted({f.where or "query" for f in (first, *rest)})))
            out.append(Annotation(rule, _message(result, first, rest), _LEVEL.get(first.severity, "warning"),
                                  path, line, result.name, props))
    for f in report.schema_findings:
        out.append(Annotation(f.rule, f"{f.message} Hint: {f.hint}", _LEVEL.get(f.severity, "warning"),
                              title=f.index or ""))
    return out


def as_sarif(report: Report) -> str:
    return sarif("chatschema plans", RULE_INFO, annotations(report))


def as_github(report: Report) -> str:
    return github(annotations(report))
