"""A Sort sorts more rows than the contract allows (more than a page).

*Problem*: ``ORDER BY ... LIMIT 20`` answered by a Sort reads and sorts every candidate row before
it can return the first one, so a page costs O(rows matched), not O(page): a conversation of 100,000
messages sorts 100,000 rows to show 20. A top-N sort of at most a page is fine (it is what the
conversation view does over its <= 21 rows), and each contract says exactly how many rows its
Sort may hold.

*Fix*: an index whose columns, after the equality columns, are the ORDER BY columns in the same
direction (and a unique tie-breaker last) returns rows in order; the Limit then stops after a page.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..findings import Finding, rows_text
from ..metrics import sort_input_rows
from ..tree import SORT_NODES
from . import PlanSubject

NAME = "sort-above-page"


def check(subject: PlanSubject) -> Iterator[Finding]:
    allowed = subject.contract.max_sort_rows
    for i, _plan, node in subject.nodes():
        if node.node_type not in SORT_NODES or not node.executed:
            continue
        rows, estimated = sort_input_rows(node)
        if rows <= allowed:
            continue
        below = node.children[0].label if node.children else "?"
        limit = "no Sort" if allowed == 0 else f"a Sort of at most {allowed} rows"
        returned = subject.rows_returned
        to_return = f" to return {rows_text(returned)}" if returned is not None else ""
        approx = "~" if estimated else ""
        yield subject.finding(
            NAME,
            f"{subject.title} sorts {approx}{rows_text(rows)}{to_return} ({node.label} by "
            f"{', '.join(node.sort_key) or '?'} above {below}); the contract allows {limit}",
            "Read the rows in order from an index: equality columns first, then the ORDER BY columns in the "
            "same direction with a unique tie-breaker, so the Limit stops after one page.",
            statement=i, node=node,
        )
