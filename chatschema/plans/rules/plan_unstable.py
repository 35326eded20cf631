"""A query's plan changed when statistics were gathered again on the same data.

*Problem*: ``ANALYZE`` samples 300 x ``default_statistics_target`` rows; on a table larger than the
sample, each run sees different rows and produces slightly different statistics. When two plans
cost within about 1% of each other, that noise flips the plan: a test that passes today fails
tomorrow with no change, and production may flip the same way. A result that flips between runs
is a defect of the query, the index or the fixture.

*Fix*: make the intended plan clearly cheapest (an index that serves the WHERE and ORDER BY
exactly), raise the statistics target of the skewed column (``ALTER TABLE ... ALTER COLUMN ... SET
STATISTICS``), or keep fixtures below the sample size. The verifier pins the planner settings that
otherwise make plans wobble and reports them.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..findings import Finding
from . import StabilitySubject

NAME = "plan-unstable"
SCOPE = "stability"


def check(subject: StabilitySubject) -> Iterator[Finding]:
    if subject.before == subject.after:
        return
    operation, _, variant = subject.query.partition(".")
    yield Finding(
        rule=NAME,
        query=subject.query,
        case=subject.case,
        mode=subject.mode,
        message=(f"{operation.replace('_', ' ')} ({variant.replace('_', ' ')}) changed plan after ANALYZE on unchanged "
                 f"data: {subject.before} became {subject.after}"),
        hint="Make the intended plan clearly cheapest, or raise the statistics target of the skewed column.",
    )
