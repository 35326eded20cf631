"""The statement touches more shared buffers than the contract allows for a page.

*Problem*: shared buffers (8 kB pages hit in cache or read from disk) are the cost a database
pays for a query, independent of machine speed and timing noise. A page of 20 rows whose plan
touches thousands of buffers spends them on rows it throws away, or visits one heap page per row
of a large intermediate result; it is CPU and cache pressure for every other request too.

*Fix*: the same as for rows read: an index in page order with the cursor in its Index Cond, no
aggregation of children at read time. If the rows are right but the buffers are not, look for
heap fetches of an index-only scan (VACUUM) or a wide row read just to be discarded.
Buffers are measured only with ANALYZE (``--analyze``, always on the embedded scratch database).
"""

from __future__ import annotations

from collections.abc import Iterator

from ..findings import Finding, rows_text
from ..metrics import total_buffers
from . import PlanSubject

NAME = "buffers-bound"


def check(subject: PlanSubject) -> Iterator[Finding]:
    limit = subject.contract.max_buffers
    buffers = total_buffers(subject.plans)
    if limit is None or buffers is None or buffers <= limit:
        return
    heaviest = max(
        ((i, node) for i, plan, node in subject.nodes() if node.is_scan and node.buffers is not None),
        key=lambda item: item[1].buffers or 0, default=(None, None),
    )
    statement, node = heaviest
    where = f"; the largest share: {node.label} ({rows_text(node.buffers, 'buffer')})" if node is not None else ""
    returned = subject.rows_returned
    for_rows = f" for {rows_text(returned)} returned" if returned is not None else ""
    yield subject.finding(
        NAME,
        f"{subject.title} touches {rows_text(buffers, 'shared buffer')} ({buffers * 8 / 1024:,.1f} MB){for_rows}; "
        f"the contract allows {limit}{where}",
        "Read only the page: an index in page order with the cursor in its Index Cond; no aggregation of children "
        "at read time; VACUUM if an index-only scan fetches heap pages.",
        statement=statement, node=node,
    )
