"""Capability probe: with seq scans, bitmap scans and sorts disabled, a disabled node remains.

*Problem*: whether the planner *chooses* an index depends on table size and statistics; whether it
*can* use one does not. The probe plans the query with ``enable_seqscan``, ``enable_bitmapscan``
and ``enable_sort`` off. A node the planner still had to use anyway (PostgreSQL 18 marks it
``"Disabled": true``; older versions carry the 1.0e10 ``disable_cost``) is a part of the query no
index can serve: a Seq Scan means no index matches its WHERE clause, a Sort means no index
delivers its ORDER BY. This answer does not depend on how much data the database holds.

*Fix*: add (or correct) the index: equality columns first, then the ORDER BY columns in the
ORDER BY's direction. A Sort of at most the contract's ``max_sort_rows`` rows (a page) is allowed.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..findings import Finding, rows_text
from ..metrics import sort_input_rows
from ..tree import SORT_NODES
from . import PlanSubject

NAME = "no-index-can-serve"
MODES = ("probe",)


def check(subject: PlanSubject) -> Iterator[Finding]:
    for i, _plan, node in subject.nodes():
        if not node.disabled:
            continue
        if node.node_type in SORT_NODES:
            rows, _ = sort_input_rows(node)
            if rows <= subject.contract.max_sort_rows:
                continue
            what = (f"no index delivers the order {', '.join(node.sort_key) or '(unknown)'}: the planner must sort "
                    f"~{rows_text(rows)} even with sorts disabled")
            hint = ("An index whose columns after the equality columns are the ORDER BY columns, in the same "
                    "direction, returns rows already ordered.")
        elif node.is_scan:
            what = (f"no index can serve the read of {node.relation}: {node.label} stays even with seq and bitmap "
                    f"scans disabled")
            hint = f"Index the columns {node.relation} is filtered or joined on in this query."
        else:
            what = f"{node.label} stays in the plan even though it is disabled"
            hint = "Rewrite the query so an index can serve this step."
        yield subject.finding(NAME, f"{subject.title}: {what}", hint, statement=i, node=node)
