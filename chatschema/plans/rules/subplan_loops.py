"""A SubPlan runs more often than there are rows in a page.

*Problem*: a correlated subquery in the SELECT list or WHERE clause (``(SELECT ... WHERE
m2.conversation_id = m.conversation_id ORDER BY created_at DESC LIMIT 1)``) runs once per row of
the node that evaluates it. Placed before the LIMIT (inside a GROUP BY subquery, under a Sort) it
runs once per conversation of the whole database, not once per row shown: the N+1 pattern inside
one statement.

*Fix*: evaluate it after the page is chosen (in the outer query, or as ``LEFT JOIN LATERAL`` on the
page's rows), or store its result on the parent row.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..findings import Finding, count
from ..metrics import subplan_loops
from . import PlanSubject

NAME = "subplan-loops"


def check(subject: PlanSubject) -> Iterator[Finding]:
    allowed = subject.contract.subplan_loops_allowed
    for i, plan, node in subject.nodes():
        if node.parent_relationship != "SubPlan":
            continue
        owner = plan.parent_of(node.path)
        loops, estimated = subplan_loops(node, owner)
        if loops <= allowed:
            continue
        approx = "~" if estimated else ""
        runs = f"once per row of {owner.label}" if owner is not None else "once per row"
        yield subject.finding(
            NAME,
            f"{subject.title} runs {node.label} {approx}{count(loops)} times, "
            f"{runs}; the contract allows {allowed}",
            "Evaluate the subquery after the page is chosen (outer query or LEFT JOIN LATERAL), or store its "
            "result on the parent row.",
            statement=i, node=node,
        )
