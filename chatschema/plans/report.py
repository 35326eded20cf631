"""What a verification run found: the values the renderers and the CLI read.

``Report`` is the outcome of ``chatschema plans verify`` (and of the demo); ``Shown`` is one plan of
``chatschema plans show``. They live apart from the pipeline that builds them, so a renderer
depends on what a report is, not on how it was made.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..queries import DEPLOYED
from ..seed import SeedReport
from .findings import Finding, count
from .verify import CheckResult, QueryResult

__all__ = ["Report", "Shown", "BufferRow", "buffers_table"]


@dataclass(frozen=True)
class Report:
    """The outcome of a verification run; ``exit_code`` is the CLI's."""

    target: str
    server_version: int
    scratch: bool
    analyze: bool
    results: tuple[QueryResult, ...]
    schema_findings: tuple[Finding, ...] = ()
    skipped: tuple[tuple[str, str], ...] = ()
    pinned: tuple[tuple[str, str, str], ...] = ()
    recorded: tuple[tuple[str, str], ...] = ()
    seeds: tuple[SeedReport, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def findings(self) -> tuple[Finding, ...]:
        return tuple(f for r in self.results for f in r.findings) + self.schema_findings

    @property
    def errors(self) -> tuple[str, ...]:
        return tuple(r.error for r in self.results if r.error)

    @property
    def exit_code(self) -> int:
        if self.errors or not self.results:
            return 2
        return 1 if self.findings else 0

    @property
    def optimized(self) -> tuple[QueryResult, ...]:
        """The queries the API runs: optimized, and on Citus the citus variants verified in their place."""
        return tuple(r for r in self.results if r.query.variant in DEPLOYED)

    @property
    def baseline(self) -> tuple[QueryResult, ...]:
        """Today's queries and the seed plan's proposals: what the optimized ones are measured against."""
        return tuple(r for r in self.results if r.query.variant not in DEPLOYED)

    def result(self, name: str) -> QueryResult:
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(name)



@dataclass(frozen=True)
class Shown:
    """One query's plan in one case and mode, with its contract and findings (``chatschema plans show``)."""

    result: QueryResult
    check: CheckResult
    cases: tuple[str, ...]
    target: str
    server_version: int




@dataclass(frozen=True)
class BufferRow:
    """One operation of the demo's before/after table: "buffers (rows read)" per variant, and the ratio."""

    operation: str
    cells: tuple[str, str, str]  # today, seed_proposal, optimized; "-" where the variant was not run
    fewer: str  # today's buffers over the optimized ones, "x12" or "x1.5"; "-" when either is missing
    case: str | None  # the optimized variant's primary case, where the figures were measured


def _ratio(before: int | None, after: int | None) -> str:
    ratio = before / after if before and after else None
    return "-" if ratio is None else (f"x{ratio:,.0f}" if ratio >= 10 else f"x{ratio:.1f}")


def buffers_table(report: Report) -> list[BufferRow]:
    """Shared buffers (rows read) of each operation's primary case, before and after, as the demo shows them."""
    rows = []
    for operation in dict.fromkeys(r.query.operation for r in report.results):
        cells: dict[str, tuple[str, int | None]] = {}
        case = None
        for r in report.results:
            check = r.check("custom") if r.query.operation == operation else None
            if check is not None:
                cells[r.query.variant] = (f"{count(check.buffers)} ({count(check.rows_read)})", check.buffers)
                if r.query.variant == "optimized":
                    case = check.case
        shown = tuple(cells.get(v, ("-", None))[0] for v in ("today", "seed_proposal", "optimized"))
        fewer = _ratio(cells.get("today", ("-", None))[1], cells.get("optimized", ("-", None))[1])
        rows.append(BufferRow(operation, shown, fewer, case))  # type: ignore[arg-type]
    return rows
