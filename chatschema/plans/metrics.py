"""What a plan costs, in the units contracts bound: rows read, buffers, rows sorted, loops.

With ANALYZE every figure is measured. Without it (plain EXPLAIN on a production server) rows read
are estimated from the plan the way the planner itself costs a LIMIT: a node under a Limit is
expected to produce only the fraction of its rows the Limit pulls, until a blocking node (Sort,
hash aggregate, Hash, Materialize) has to read all of its input first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .tree import SORT_NODES, Plan, PlanNode

__all__ = ["RowsRead", "rows_read", "sort_input_rows", "subplan_loops", "total_buffers"]

_BLOCKING = frozenset({"Sort", "Hash", "Materialize", "SetOp", "Memoize", "WindowAgg"})


@dataclass(frozen=True)
class RowsRead:
    """Rows the scans of one plan read (returned plus filtered away), and which scans read them."""

    total: float
    estimated: bool
    by_node: tuple[tuple[PlanNode, float], ...]

    def largest(self) -> tuple[PlanNode, float] | None:
        return max(self.by_node, key=lambda item: item[1], default=None)


def rows_read(plan: Plan, table_rows: Mapping[str, float] | None = None) -> RowsRead:
    """Rows read by every scan of ``plan``: measured with ANALYZE, otherwise estimated."""
    if plan.analyzed:
        by_node = tuple(
            (node, node.rows_examined or 0.0) for node in plan.nodes() if node.is_scan and node.executed
        )
        return RowsRead(sum(r for _, r in by_node), False, by_node)
    found: list[tuple[PlanNode, float]] = []
    _estimate(plan.root, 1.0, 1.0, table_rows or {}, found)
    return RowsRead(sum(r for _, r in found), True, tuple(found))


def _blocking(node: PlanNode) -> bool:
    if node.node_type in _BLOCKING:
        return True
    return node.node_type == "Aggregate" and node.strategy in ("Hashed", "Plain", "Mixed")


def _estimate(node: PlanNode, fraction: float, loops: float, table_rows: Mapping[str, float],
              found: list[tuple[PlanNode, float]]) -> None:
    if node.is_scan:
        rows = node.plan_rows
        if node.node_type == "Seq Scan" and node.relation is not None and node.relation in table_rows:
            rows = max(rows, table_rows[node.relation])
        found.append((node, rows * fraction * loops))
    through = 1.0 if _blocking(node) else fraction
    if node.node_type == "Limit" and node.children:
        child = node.children[0]
        through = min(1.0, node.plan_rows * fraction / max(child.plan_rows, 1.0))
    plain = [c for c in node.children if c.parent_relationship not in ("SubPlan", "InitPlan")]
    for child in node.children:
        if child.parent_relationship == "InitPlan":
            _estimate(child, 1.0, 1.0, table_rows, found)
        elif child.parent_relationship == "SubPlan":
            _estimate(child, 1.0, loops * max(node.plan_rows * fraction, 1.0), table_rows, found)
    if node.node_type == "Nested Loop" and len(plain) == 2:
        outer, inner = plain
        _estimate(outer, through, loops, table_rows, found)
        _estimate(inner, 1.0, loops * max(outer.plan_rows * through, 1.0), table_rows, found)
        return
    if node.node_type == "Hash Join" and len(plain) == 2:
        _estimate(plain[0], through, loops, table_rows, found)
        _estimate(plain[1], 1.0, loops, table_rows, found)
        return
    if node.node_type == "Bitmap Heap Scan":
        return  # its Bitmap Index Scan reads index entries, not rows; the heap scan counted them
    for child in plain:
        _estimate(child, 1.0 if node.node_type == "ModifyTable" else through, loops, table_rows, found)


def total_buffers(plans: tuple[Plan, ...]) -> int | None:
    """Shared buffers of all statements of a query (None without ANALYZE)."""
    values = [p.buffers for p in plans]
    if any(v is None for v in values):
        return None
    return sum(v or 0 for v in values)


def sort_input_rows(node: PlanNode) -> tuple[float, bool]:
    """Rows one execution of a Sort node sorts, and whether that figure is an estimate."""
    assert node.node_type in SORT_NODES
    child = node.children[0] if node.children else None
    if child is None:
        return node.plan_rows, node.actual_rows is None
    if child.actual_rows is not None:
        return child.actual_rows * (child.loops / max(node.loops, 1.0)), False
    return child.plan_rows, True


def subplan_loops(node: PlanNode, owner: PlanNode | None) -> tuple[float, bool]:
    """How often a SubPlan runs: measured loops, or estimated as the rows of the node that runs it."""
    if node.actual_loops is not None:
        return node.actual_loops, False
    return (owner.plan_rows if owner is not None else node.plan_rows), True
