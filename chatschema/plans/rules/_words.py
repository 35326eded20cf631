"""Shared wording for rule messages: a node with its numbers, a table read 'every row'."""

from __future__ import annotations

from ..findings import count, rows_text
from ..tree import PlanNode

__all__ = ["node_text", "scan_text", "whole_table"]


def node_text(node: PlanNode) -> str:
    """'Seq Scan on messages m (129,995 rows, 5,168 buffers)'; estimates say so."""
    figures = []
    if node.rows_out is not None:
        figures.append(rows_text(node.rows_out))
    else:
        figures.append(f"~{rows_text(node.plan_rows)} estimated")
    if node.actual_loops is not None and node.actual_loops > 1:
        figures.append(f"{count(node.actual_loops)} loops")
    if node.buffers is not None:
        figures.append(rows_text(node.buffers, "buffer"))
    return f"{node.label} ({', '.join(figures)})"


def whole_table(rows: float, table_rows: float | None) -> bool:
    return bool(table_rows) and rows >= 0.9 * float(table_rows or 0)


def scan_text(node: PlanNode, rows: float, table: str | None, table_rows: float | None, estimated: bool) -> str:
    """'Seq Scan on messages: every row of the table, 1.2M rows' or 'Index Scan ...: 40,000 rows'."""
    approx = "~" if estimated else ""
    loops = f" in {count(node.actual_loops)} loops" if node.actual_loops and node.actual_loops > 1 else ""
    if whole_table(rows, table_rows):
        return f"{node.label}: every row of {table}, {approx}{rows_text(rows)}{loops}"
    return f"{node.label}: {approx}{rows_text(rows)}{loops}"
