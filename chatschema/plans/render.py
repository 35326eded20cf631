"""Renderers: a report as text (for people), JSON (for machines), JUnit (for CI), Markdown (for pull requests),
SARIF and GitHub annotations (for code hosts, in ``annotate.py``).

Text shows, for each failing query, the part of the plan each finding is about and a hint;
``tree`` draws a whole plan with the contract's verdict on each node (``chatschema plans show``).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from typing import Any

from ..queries.contract import Contract
from .findings import Finding, count, rows_text
from .report import Report
from .rules import RULES
from .tree import Plan, PlanNode, cond_columns
from .verify import CheckResult, QueryResult

__all__ = ["render", "FORMATS", "text", "as_json", "junit", "markdown", "tree", "node_line", "excerpt"]

FORMATS = ("text", "json", "junit", "markdown", "sarif", "github")
PASS, FAIL = "✓", "✗"


def render(report: Report, fmt: str = "text") -> str:
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    if fmt in ("sarif", "github"):
        from .annotate import as_github, as_sarif  # placed at the query's file and line

        return (as_sarif if fmt == "sarif" else as_github)(report)
    return {"text": text, "json": as_json, "junit": junit, "markdown": markdown}[fmt](report)


# --- plan drawing -------------------------------------------------------------------------------


def node_line(node: PlanNode) -> str:
    """'Index Scan using ix on t  (rows 21, 22 buffers)': the node and its measured (or estimated) numbers."""
    figures = [f"{node.task_count} task{'s' * (node.task_count != 1)}"] if node.task_count is not None else []
    if node.actual_rows is not None:
        if not node.executed:
            figures.append("never executed")
        else:
            figures.append(f"rows {count(node.rows_out)}")
            if node.loops > 1:
                figures.append(f"loops {count(node.loops)}")
    else:
        figures.append(f"~{count(node.plan_rows)} rows")
    if node.rows_removed_by_filter:
        figures.append(f"removed by filter {count(node.rows_removed_by_filter * node.loops)}")
    if node.heap_fetches is not None:
        figures.append(f"heap fetches {count(node.heap_fetches * node.loops)}")
    if node.index_searches is not None and node.loops:
        figures.append(f"index searches {count(node.index_searches)}")
    if node.buffers is not None:
        figures.append(rows_text(node.buffers, "buffer"))
    if node.disabled:
        figures.append("DISABLED")
    return f"{node.label}  ({', '.join(figures)})"


def _details(node: PlanNode) -> list[str]:
    out = []
    for name, value in (("Index Cond", node.index_cond), ("Recheck Cond", node.recheck_cond),
                        ("Filter", node.filter), ("Join", node.join_filter)):
        if value:
            out.append(f"{name}: {value}")
    if node.sort_key:
        out.append(f"Sort Key: {', '.join(node.sort_key)}" + (f" ({node.sort_method})" if node.sort_method else ""))
    if node.group_key:
        out.append(f"Group Key: {', '.join(node.group_key)}")
    return out


def _shorten(value: str, width: int = 140) -> str:
    return value if len(value) <= width else value[: width - 1] + "…"


def tree(plan: Plan, marks: dict[tuple[int, ...], list[str]] | None = None, indent: str = "") -> list[str]:
    """Every node of ``plan``, indented, each followed by its conditions; ``marks`` adds verdicts per node path."""
    marks = marks or {}
    lines: list[str] = []

    def draw(node: PlanNode, prefix: str, child_prefix: str) -> None:
        verdicts = marks.get(node.path, [])
        lines.append(f"{indent}{prefix}{node_line(node)}")
        pad = indent + child_prefix + ("│ " if node.children else "  ")
        for detail in _details(node):
            lines.append(f"{pad}{_shorten(detail)}")
        for verdict in verdicts:
            lines.append(f"{pad}{verdict}")
        for i, child in enumerate(node.children):
            last = i == len(node.children) - 1
            draw(child, child_prefix + ("└─ " if last else "├─ "), child_prefix + ("   " if last else "│  "))

    draw(plan.root, "", "")
    return lines


def excerpt(plan: Plan, path: tuple[int, ...], indent: str = "") -> list[str]:
    """The offending node with its ancestors (one line each) and its children: the part of the plan to read."""
    lines = []
    depth = 0
    for k in range(len(path)):
        lines.append(f"{indent}{'   ' * depth}{'└─ ' if depth else ''}{plan.node(path[:k]).label}")
        depth += 1
    node = plan.node(path)
    lead = f"{indent}{'   ' * depth}{'└─ ' if depth else ''}"
    lines.append(f"{lead}{node_line(node)}  {FAIL}")
    pad = f"{indent}{'   ' * (depth + 1)}"
    lines += [f"{pad}{_shorten(d)}" for d in _details(node)]
    for child in node.children:
        lines.append(f"{pad}└─ {node_line(child)}")
    return lines


def contract_marks(result_contract: Contract, plan: Plan, findings: Iterable[Finding],
                   statement: int) -> dict[tuple[int, ...], list[str]]:
    """Per node: the contract's verdict (the index it promised, with its Index Cond) and each finding."""
    marks: dict[tuple[int, ...], list[str]] = {}
    for node in plan.nodes():
        for use in result_contract.uses:
            if node.index in use.accepted and plan.table_of(node) == use.table:
                missing = [c for c in use.cond if c not in cond_columns(node.index_cond)]
                verdict = (f"{PASS} contract: {node.index} with {', '.join(use.cond)} in its Index Cond" if not missing
                           else f"{FAIL} contract: {', '.join(missing)} missing from the Index Cond")
                marks.setdefault(node.path, []).append(verdict)
    for f in findings:
        if f.statement == statement and f.node is not None:
            marks.setdefault(f.node, []).append(f"{FAIL} {f.rule}: {f.message}")
    return marks


# --- text ---------------------------------------------------------------------------------------


def _headline(result: QueryResult) -> str:
    check = result.check("custom")
    if check is None:
        return ""
    parts = [f"{rows_text(check.rows_read)} read" + (" (estimated)" if check.rows_estimated else "")]
    if check.buffers is not None:
        parts.append(rows_text(check.buffers, "buffer"))
    if check.rows_returned is not None:
        parts.append(f"{count(check.rows_returned)} returned")
    text_ = ", ".join(parts) + f" ({check.case})"
    if result.growth and result.growth.factor is not None:
        g = result.growth
        text_ += (f"; buffers x{g.factor:.2f} at x{g.table_factor:.0f} the data "
                  f"({count(g.small_buffers)} -> {count(g.large_buffers)})")
    return text_


def _grouped(findings: Sequence[Finding]) -> list[tuple[Finding, list[Finding]]]:
    """Findings by rule, in the rules' order: the first of each, and the rest."""
    order = {r.name: i for i, r in enumerate(RULES)}
    groups: dict[str, list[Finding]] = {}
    for f in findings:
        groups.setdefault(f.rule, []).append(f)
    return [(fs[0], fs[1:]) for _, fs in sorted(groups.items(), key=lambda kv: order.get(kv[0], 99))]


def _check_of(result: QueryResult, finding: Finding) -> CheckResult | None:
    for check in result.checks:
        if check.case == finding.case and check.mode == finding.mode:
            return check
    return None


def pruned(plan: Plan, marks: dict[tuple[int, ...], list[str]], indent: str = "") -> list[str]:
    """The nodes on the way to each marked node, the marked nodes with their conditions and children."""
    keep = {path[:k] for path in marks for k in range(len(path) + 1)}
    lines: list[str] = []

    def draw(node: PlanNode, depth: int) -> None:
        lead = indent + "   " * depth + ("└─ " if depth else "")
        pad = indent + "   " * (depth + 1)
        if node.path in marks:
            lines.append(f"{lead}{node_line(node)}  {FAIL} {', '.join(marks[node.path])}")
            lines.extend(f"{pad}{_shorten(d)}" for d in _details(node))
        else:
            lines.append(f"{lead}{node.label}")
        shown = [c for c in node.children if c.path in keep]
        for child in node.children:
            if child.path in keep:
                draw(child, depth + 1)
            elif node.path in marks:
                lines.append(f"{pad}└─ {node_line(child)}")
        if not shown and node.path not in marks and node.children:
            lines.append(f"{pad}└─ …")

    draw(plan.root, 0)
    return lines


def covered(result: QueryResult) -> str:
    """'rows per case: heaviest user, first page 21; ...': what each case's parameters selected (custom plans,
    measured); empty when nothing was measured."""
    parts = [f"{c.case} {count(c.rows_returned)}" + ("" if c.expects_rows else " (meant to be empty)")
             for c in result.checks if c.mode == "custom" and c.rows_returned is not None]
    return f"rows per case: {'; '.join(parts)}" if parts else ""


def query_text(result: QueryResult) -> list[str]:
    """One query: a line if it passes, with the rows each case covered; its findings, hints and the
    offending part of its plans if not."""
    if result.error:
        return [f"{FAIL} {result.name}  could not run: {result.error}"]
    rows = [f"    {covered(result)}"] if covered(result) else []
    if result.passed:
        return [f"{PASS} {result.name}  {_headline(result)}", *rows]
    lines = [f"{FAIL} {result.name}  {_headline(result)}", *rows]
    groups = _grouped(result.findings)
    for first, rest in groups:
        where = f" [{first.where}]" if first.where else ""
        lines.append(f"    {first.rule}{where}: {first.message}")
        lines.append(f"      hint: {first.hint}")
        also = sorted({f.where or "every case" for f in rest} - {first.where})
        if also:
            lines.append(f"      also in: {'; '.join(also)}")
    shown: set[tuple[str, str, int]] = set()
    for first, _ in groups:
        if first.node is None or first.statement is None:
            continue
        key = (first.case, first.mode, first.statement)
        check = _check_of(result, first)
        if key in shown or check is None or first.statement >= len(check.plans):
            continue
        shown.add(key)
        marks: dict[tuple[int, ...], list[str]] = {}
        for f in result.findings:
            if (f.case, f.mode, f.statement) == key and f.node is not None:
                marks.setdefault(f.node, [])
                if f.rule not in marks[f.node]:
                    marks[f.node].append(f.rule)
        plan = check.plans[first.statement]
        which = f", statement {first.statement + 1} ({plan.statement})" if len(check.plans) > 1 else ""
        lines.append(f"    plan [{first.where or first.case}{which}]:")
        lines += pruned(plan, marks, indent="      ")
    return lines


def _settings_line(report: Report) -> str:
    pinned = ", ".join(f"{name}={value}" for name, value, _ in report.pinned if not name.startswith("enable_"))
    return f"pinned: {pinned}, enable_*=on (the probe turns seqscan, bitmapscan, sort off)"


def text(report: Report) -> str:
    where = "scratch database" if report.scratch else "server"
    mode = "EXPLAIN (ANALYZE, BUFFERS)" if report.analyze else "plain EXPLAIN (estimates)"
    catalog = any(r.query.variant != "app" for r in report.results)  # "app": an app team's query files
    lines = [f"Plans of {len(report.results)} {'catalog ' if catalog else ''}queries on PostgreSQL "
             f"{report.server_version}, {where} "
             f"{report.target}; {mode}"]
    for i, seed in enumerate(report.seeds):
        lines.append(f"  {'data' if i == 0 else 'growth measured against'}: {seed.scale} scale, {seed.messages:,} "
                     f"messages, {seed.conversations:,} conversations, {seed.users:,} users (seed {seed.seed})")
    lines.append(f"  {_settings_line(report)}")
    for note in report.notes:
        lines.append(f"  note: {note}")
    lines.append("")
    for result in report.results:
        lines += query_text(result)
    for name, reason in report.skipped:
        lines.append(f"- {name}  skipped: {reason}")
    if report.schema_findings:
        lines.append("")
        for f in report.schema_findings:
            lines.append(f"{FAIL} {f.rule}: {f.message}")
            lines.append(f"    hint: {f.hint}")
    elif report.results and catalog:
        lines.append(f"{PASS} every index of the schema is named by a query contract")
    failed = sum(1 for r in report.results if not r.passed)
    lines.append("")
    lines.append(f"{len(report.results) - failed} passed, {failed} failed, {len(report.findings)} findings; "
                 f"exit {report.exit_code}")
    return "\n".join(lines) + "\n"


# --- JSON ---------------------------------------------------------------------------------------


def _finding_dict(f: Finding) -> dict[str, Any]:
    return {"rule": f.rule, "query": f.query, "case": f.case, "mode": f.mode, "message": f.message,
            "hint": f.hint, "statement": f.statement, "node": ".".join(map(str, f.node)) if f.node else None,
            "index": f.index, "severity": f.severity}


def _check_dict(c: CheckResult) -> dict[str, Any]:
    return {"case": c.case, "mode": c.mode, "primary": c.primary, "rows_read": c.rows_read,
            "rows_estimated": c.rows_estimated, "buffers": c.buffers, "rows_returned": c.rows_returned,
            "expects_rows": c.expects_rows, "plan": c.fingerprint, "findings": len(c.findings)}


def _contract_dict(c: Contract) -> dict[str, Any]:
    return {"summary": c.summary, "describe": c.describe(), "indexes": list(c.indexes), "page_rows": c.page_rows,
            "max_sort_rows": c.max_sort_rows, "max_rows_read": c.max_rows_read, "max_buffers": c.max_buffers,
            "max_round_trips": c.max_round_trips}


def as_json(report: Report) -> str:
    doc = {
        "target": report.target, "server_version": report.server_version, "scratch": report.scratch,
        "analyze": report.analyze, "exit_code": report.exit_code,
        "pinned": {name: value for name, value, _ in report.pinned},
        "settings": dict(report.recorded),
        "data": [{"scale": s.scale, "messages": s.messages, "conversations": s.conversations, "users": s.users,
                  "seed": s.seed} for s in report.seeds],
        "notes": list(report.notes),
        "queries": [
            {"name": r.name, "operation": r.query.operation, "variant": r.query.variant, "passed": r.passed,
             "error": r.error, "contract": _contract_dict(r.contract),
             "growth": None if r.growth is None else {
                 "case": r.growth.case, "small_buffers": r.growth.small_buffers,
                 "large_buffers": r.growth.large_buffers, "factor": r.growth.factor,
                 "table_factor": r.growth.table_factor},
             "checks": [_check_dict(c) for c in r.checks],
             "findings": [_finding_dict(f) for f in r.findings]}
            for r in report.results
        ],
        "schema_findings": [_finding_dict(f) for f in report.schema_findings],
        "skipped": [{"query": n, "reason": why} for n, why in report.skipped],
    }
    return json.dumps(doc, indent=2, default=str) + "\n"


# --- JUnit --------------------------------------------------------------------------------------


def junit(report: Report) -> str:
    suites = ET.Element("testsuites", name="chatschema plans")
    by_variant: dict[str, list[QueryResult]] = {}
    for r in report.results:
        by_variant.setdefault(r.query.variant, []).append(r)
    for variant, results in by_variant.items():
        suite = ET.SubElement(suites, "testsuite", name=f"plans.{variant}", tests=str(len(results)),
                              failures=str(sum(1 for r in results if r.findings and not r.error)),
                              errors=str(sum(1 for r in results if r.error)))
        for r in results:
            case = ET.SubElement(suite, "testcase", classname=f"plans.{variant}", name=r.name)
            if r.error:
                ET.SubElement(case, "error", message=r.error, type="could-not-run").text = r.error
            elif r.findings:
                first = r.findings[0]
                body = "\n\n".join(f"[{f.rule}] {f.where}\n{f.message}\nhint: {f.hint}" for f in r.findings)
                ET.SubElement(case, "failure", message=first.message, type=first.rule).text = body
            else:
                ET.SubElement(case, "system-out").text = _headline(r)
    if report.schema_findings:
        suite = ET.SubElement(suites, "testsuite", name="plans.schema", tests="1", failures="1", errors="0")
        case = ET.SubElement(suite, "testcase", classname="plans.schema", name="every index named by a contract")
        msgs = [f.message for f in report.schema_findings]
        ET.SubElement(case, "failure", message=msgs[0], type="unused-index").text = "\n".join(msgs)
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


# --- Markdown -----------------------------------------------------------------------------------


def _md(value: str) -> str:
    return value.replace("|", "\\|")


def markdown(report: Report) -> str:
    failed = sum(1 for r in report.results if not r.passed)
    verdict = "passed" if report.exit_code == 0 else ("could not run" if report.exit_code == 2 else "failed")
    lines = [f"### chatschema plans: {verdict}", "",
             f"{len(report.results) - failed} of {len(report.results)} queries pass on PostgreSQL "
             f"{report.server_version} ({'scratch database' if report.scratch else report.target}).", "",
             "| query | verdict | rows read | buffers | growth | findings |", "|---|---|---:|---:|---:|---|"]
    for r in report.results:
        check = r.check("custom")
        rows = count(check.rows_read) if check else "-"
        buffers = count(check.buffers) if check and check.buffers is not None else "-"
        growth = f"x{r.growth.factor:.2f}" if r.growth and r.growth.factor is not None else "-"
        rules = ", ".join(dict.fromkeys(f.rule for f in r.findings)) or ("error" if r.error else "")
        lines.append(f"| `{r.name}` | {PASS if r.passed else FAIL} | {rows} | {buffers} | {growth} | {_md(rules)} |")
    for r in report.results:
        if r.passed:
            continue
        lines += ["", f"<details><summary><code>{r.name}</code>: {len(r.findings)} findings</summary>", ""]
        if r.error:
            lines.append(f"- could not run: {_md(r.error)}")
        for first, _rest in _grouped(r.findings):
            lines.append(f"- **{first.rule}** ({first.where or 'query'}): {_md(first.message)}  ")
            lines.append(f"  *hint*: {_md(first.hint)}")
        lines += ["", "</details>"]
    for f in report.schema_findings:
        lines += ["", f"- **{f.rule}**: {_md(f.message)}"]
    return "\n".join(lines) + "\n"
