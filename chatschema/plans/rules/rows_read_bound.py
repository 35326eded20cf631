"""The plan reads more rows than a page allows: its cost is bounded by the table, not the page.

*Problem*: a paginated request should read about as many rows as it returns. When the plan reads
every message of the user's conversations (or of the whole table) to return 20 rows, each request
costs O(table): fine in a test database, seconds in production, and worse every day. Rows read
counts what the scans looked at, rows removed by a Filter or a recheck included, over all loops;
without ANALYZE it is the planner's estimate.

*Fix*: find the page through an index that yields rows in page order and constrains the cursor in
its Index Cond, so the scan stops after LIMIT rows; read summaries from the parent row instead of
aggregating children; join children per row of the page (LATERAL ... LIMIT).
"""

from __future__ import annotations

from collections.abc import Iterator

from ..findings import Finding, rows_text
from ..metrics import total_buffers
from . import PlanSubject
from ._words import scan_text

NAME = "rows-read-bound"


def check(subject: PlanSubject) -> Iterator[Finding]:
    limit = subject.contract.max_rows_read
    if limit is None:
        return
    total, estimated, parts = subject.rows_read()
    if total <= limit:
        return
    parts.sort(key=lambda p: -p[2])
    statement, worst, _ = parts[0]
    approx = "an estimated " if estimated else ""
    buffers = total_buffers(subject.plans)
    returned = subject.rows_returned
    figures = f"{approx}{rows_text(total)}"
    if buffers is not None:
        figures += f" and {rows_text(buffers, 'buffer')}"
    if returned is not None:
        figures += f", for {rows_text(returned)} returned"
    sources = "; ".join(
        scan_text(node, rows, subject.table_of(i, node), subject.table_rows.get(subject.table_of(i, node) or ""),
                  estimated)
        for i, node, rows in parts[:2] if rows > 0
    )
    yield subject.finding(
        NAME,
        f"{subject.title} reads {figures}; the contract allows {limit} rows read. Most of it: {sources}",
        "Find the page through an index in page order with the cursor in its Index Cond so the scan stops after "
        "LIMIT rows; read per-parent summaries from the parent row instead of aggregating children.",
        statement=statement, node=worst,
    )
