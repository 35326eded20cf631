"""A lint report as text (for people), JSON (for machines), SARIF 2.1.0 (for code scanning) or
GitHub Actions annotations, each finding at its revision's file and line (``LintFinding.path``,
``line``: the Python line of the revision that emits the statement, as squawk's findings are mapped).

Not ``render.py``: the package already exports ``render`` (the offline SQL of a range), which a
submodule of that name would shadow.
"""

from __future__ import annotations

import json

from ...annotations import Annotation, RuleInfo, github, sarif
from .findings import LintFinding, LintReport
from .rules import RULES

__all__ = ["FORMATS", "render", "text", "annotations", "as_sarif", "as_github"]

FORMATS = ("text", "json", "sarif", "github")


def render(report: LintReport, fmt: str = "text") -> str:
    """The report in ``fmt`` (one of ``FORMATS``)."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    if fmt == "json":
        return json.dumps(report.as_dict(), indent=2) + "\n"
    return {"text": text, "sarif": as_sarif, "github": as_github}[fmt](report)


def text(report: LintReport) -> str:
    lines = []
    for f in report.findings:
        scope = f" (revision {f.revision} {f.direction})" if f.revision and f.direction else ""
        lines.append(f"✗ {f.where}: {f.rule} [{f.source}]{scope}: {f.message}")
        if f.statement:
            lines.append(f"    {f.statement}")
        if f.hint:
            lines.append(f"    fix: {f.hint}")
    lines += [f"note: {note}" for note in report.notes]
    groups: dict[tuple, list[LintFinding]] = {}
    for f in report.suppressed:
        groups.setdefault((f.path, f.revision, f.direction, f.rule, f.reason), []).append(f)
    for (_path, rev, direction, rule, reason), items in groups.items():
        at = ",".join(str(f.line) for f in items)
        lines.append(f"~ {items[0].where.rsplit(':', 1)[0]}:{at}: {rule} ({rev} {direction}) suppressed: {reason}")
    checked = f"{len(report.revisions)} revision{'s' * (len(report.revisions) != 1)} (upgrade and downgrade)"
    tools = f"{report.squawk} --pg-version {report.pg_version} and chatschema's checks" + (
        f", database {report.database}" if report.database else "")
    if report.findings:
        lines.append(f"✗ {len(report.findings)} finding{'s' * (len(report.findings) != 1)} in {checked} ({tools})")
    else:
        lines.append(f"✓ {checked}: no findings ({tools}); {len(report.suppressed)} suppressed with a reason")
    return "".join(line + "\n" for line in lines)


def _message(f: LintFinding) -> str:
    parts = [f"{f.message}"]
    if f.statement:
        parts.append(f"Statement: {f.statement}")
    if f.hint:
        parts.append(f"Fix: {f.hint}")
    return " ".join(parts) if len(parts) == 1 else "\n".join(parts)


def annotations(report: LintReport) -> list[Annotation]:
    """One annotation per finding (suppressed ones left out, as the exit code leaves them out)."""
    out = []
    for f in report.findings:
        title = f"revision {f.revision} {f.direction}" if f.revision and f.direction else f.source
        props = tuple((k, v) for k, v in (("source", f.source), ("revision", f.revision),
                                          ("direction", f.direction)) if v)
        out.append(Annotation(f.rule, _message(f), "error", f.path, f.line, title, props))
    return out


def _rules(report: LintReport) -> list[RuleInfo]:
    own = [RuleInfo(r.name, r.summary, r.fix) for r in RULES.values()]
    known = {r.id for r in own}
    # squawk's rules are whatever the installed squawk reports; each found one is described by its id.
    squawk = [RuleInfo(rule, f"squawk rule {rule}") for rule in dict.fromkeys(f.rule for f in report.findings)
              if rule not in known]
    return own + squawk


def as_sarif(report: LintReport) -> str:
    return sarif("chatschema lint", _rules(report), annotations(report))


def as_github(report: LintReport) -> str:
    return github(annotations(report))
