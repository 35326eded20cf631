"""The contract's index is used, but the columns it must constrain are not in its Index Cond.

*Problem*: an index scan constrains only the columns in its ``Index Cond``; everything else is a
``Filter`` applied to rows the scan has already read. A cursor written as
``created_at < $1 OR (created_at = $1 AND id < $2)``, mixed ASC/DESC cursor columns, or a
predicate on a column the index does not lead with, becomes a Filter: page N then reads and
discards every row of the pages before it. With PostgreSQL 18's skip scan the index may even be
used with its leading column unconstrained, so "uses index X" alone proves nothing.

*Fix*: write keyset cursors as one row comparison, ``(created_at, id) < ($1, $2)``, over the index's
trailing columns in the index's direction; put an equality on every column before them.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..findings import Finding, count
from ..tree import cond_columns
from . import PlanSubject

NAME = "index-cond-columns"
MODES = ("custom", "generic", "probe")


def check(subject: PlanSubject) -> Iterator[Finding]:
    for use in subject.contract.uses:
        if not use.cond:
            continue
        for i, plan, node in subject.nodes():
            if node.index not in use.accepted or plan.table_of(node) != use.table or not node.executed:
                continue
            have = cond_columns(node.index_cond)
            missing = [c for c in use.cond if c not in have]
            if not missing:
                continue
            removed = ""
            if node.rows_removed_by_filter:
                removed = f" (Rows Removed by Filter: {count(node.rows_removed_by_filter * node.loops)})"
            where = f"; Filter: {node.filter}{removed}" if node.filter else ""
            yield subject.finding(
                NAME,
                f"{subject.title}: {', '.join(missing)} not in the Index Cond of {node.index} "
                f"(Index Cond: {node.index_cond or 'none'}{where})",
                f"Constrain {', '.join(use.cond)} in the index scan itself: equality on the leading columns and "
                f"the cursor as one row comparison over the trailing ones, e.g. "
                f"({', '.join(use.cond[-2:])}) < ($1, $2).",
                statement=i, node=node, index=use.index,
            )
