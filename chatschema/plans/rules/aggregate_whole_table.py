"""An aggregate reads every row of a large table before a join or filter narrows it down.

*Problem*: ``LEFT JOIN (SELECT conversation_id, count(*) ... FROM messages GROUP BY conversation_id)``
aggregates the messages of *every* user, and only then does the join keep the rows of the one user
asked for: PostgreSQL cannot push the outer ``WHERE user_id = $1`` into a grouped subquery that
does not contain ``user_id``. Each request costs O(all messages in the database).

*Fix*: do not compute per-parent summaries at read time. Keep them on the parent row (a count, the
last activity time, a preview), maintained by the statement that writes a message, and read the
page through an index on the parent. If an aggregate is unavoidable, compute it per row of the page
(``LEFT JOIN LATERAL (... WHERE conversation_id = c.id ...)``) after the page is chosen.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..findings import Finding, count, rows_text
from ..tree import PlanNode
from . import PlanSubject

NAME = "aggregate-whole-table"


def _unconstrained(node: PlanNode) -> bool:
    if node.node_type == "Seq Scan":
        return True
    return node.node_type in ("Index Scan", "Index Only Scan") and not node.index_cond


def check(subject: PlanSubject) -> Iterator[Finding]:
    for i, plan, node in subject.nodes():
        if node.node_type != "Aggregate" or not node.group_key or not node.path or not node.executed:
            continue
        ancestors = [plan.node(node.path[:k]) for k in range(len(node.path))]
        if not any("Join" in a.node_type or a.node_type == "Nested Loop" for a in ancestors):
            continue  # the aggregate is the query's result, not an input narrowed afterwards
        for scan in node.walk():
            if scan.relation not in subject.contract.no_seq_scan or not _unconstrained(scan):
                continue
            if any(n.parent_relationship == "SubPlan" for n in _between(plan, node, scan)):
                continue
            read = scan.rows_examined if scan.rows_examined is not None else scan.plan_rows
            groups = node.rows_out if node.rows_out is not None else node.plan_rows
            approx = "" if scan.rows_examined is not None else "~"
            yield subject.finding(
                NAME,
                f"{subject.title} aggregates every row of {scan.relation} in the database "
                f"({approx}{rows_text(read)} into {approx}{count(groups)} groups, {node.label} over {scan.label}) "
                f"before the join keeps the ones it needs: its cost is O(all {scan.relation}), not O(this request)",
                "Keep the summary on the parent row, maintained by the writer, and read a page of parents through "
                "their index; or aggregate per row of the page with LEFT JOIN LATERAL after the page is chosen.",
                statement=i, node=node,
            )
            break


def _between(plan, top: PlanNode, bottom: PlanNode) -> list[PlanNode]:
    return [plan.node(bottom.path[:k]) for k in range(len(top.path) + 1, len(bottom.path) + 1)]
