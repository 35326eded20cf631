"""A query meant to cost O(page) touches more buffers when the table grows.

*Problem*: a plan can look fine on one data set and still be O(table): a Sort of every candidate
row, a scan of all the user's messages, an aggregate over the whole table. Measured at two data
scales, such a query's buffers grow with the data, while a true O(page) query's stay flat (an
extra index level adds one buffer). The verifier seeds a second database at a smaller scale and
reports each query's buffer growth factor next to the table's.

*Fix*: the growth points at the same causes as ``rows-read-bound`` and ``sort-above-page``: read the
page through an index in page order, keep summaries on the parent row.
A query is flagged when its buffers grow by more than 1.5x and more than 10 buffers while the table
grew by at least 2x.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..findings import Finding, count
from . import GrowthSubject

NAME = "buffer-growth"
SCOPE = "growth"
MAX_FACTOR = 1.5
MIN_DELTA = 10


def check(subject: GrowthSubject) -> Iterator[Finding]:
    factor = subject.factor
    if not subject.contract.o_page or factor is None or subject.table_factor < 2:
        return
    delta = (subject.large_buffers or 0) - (subject.small_buffers or 0)
    if factor <= MAX_FACTOR or delta <= MIN_DELTA:
        return
    operation, _, variant = subject.query.partition(".")
    yield Finding(
        rule=NAME,
        query=subject.query,
        case=subject.case,
        message=(
            f"{operation.replace('_', ' ')} ({variant.replace('_', ' ')}) grows with the table: "
            f"{count(subject.small_buffers)} -> {count(subject.large_buffers)} buffers (x{factor:.1f}) while messages "
            f"grew x{subject.table_factor:.1f}; a page must cost the same at any size"
        ),
        hint="Read the page through an index in page order with the cursor in its Index Cond; keep summaries on "
             "the parent row.",
    )
