"""An index scan descends the index many times per loop (a skip scan or an array walk).

*Problem*: PostgreSQL 18 can use a multicolumn B-tree even when the query does not constrain its
leading column, by skipping through each distinct value of it (a skip scan); ``EXPLAIN ANALYZE``
then prints ``Index Searches: N``. The plan "uses the index", yet each execution costs N descents,
and N grows with the number of distinct values skipped: a whale user's thousands of activity
timestamps, for instance.

*Fix*: give the query an equality on the index's leading columns, or use the index whose leading
columns the query fixes (a primary-key probe for ``id = $1``). The contract's
``max_index_searches`` (default 1 per loop) says how many descents are by design.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..findings import Finding, count
from ..tree import INDEX_NODES
from . import PlanSubject

NAME = "skip-scan-searches"


def check(subject: PlanSubject) -> Iterator[Finding]:
    allowed = subject.contract.max_index_searches
    for i, _plan, node in subject.nodes():
        if node.node_type not in INDEX_NODES or node.index_searches is None or not node.actual_loops:
            continue
        per_loop = node.index_searches / node.actual_loops
        if per_loop <= allowed:
            continue
        yield subject.finding(
            NAME,
            f"{subject.title}: {node.label} descends the index {count(per_loop)} times per loop "
            f"(Index Searches: {count(node.index_searches)}; Index Cond: {node.index_cond or 'none'})",
            "Constrain the index's leading columns with equalities, or use the index that leads with the "
            "columns the query fixes.",
            statement=i, node=node, index=node.index,
        )
