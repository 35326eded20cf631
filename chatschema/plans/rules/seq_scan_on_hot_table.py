"""A Seq Scan reads a large, growing table (conversations or messages).

*Problem*: a Seq Scan reads every page of the table, so its cost grows with the table, not with
the page the application asked for. On ``messages`` and ``conversations`` that is the difference
between a constant-time request and one that gets slower every day. (On a table of a few pages a
Seq Scan is the right plan: the rule only watches the tables the contract names.)

*Fix*: give the query an index that matches its equality columns and ORDER BY, and make sure the
WHERE clause can use it (no function wrapped around the indexed column, no OR across columns, no
optional-parameter ``$1 IS NULL OR ...``, which a generic plan cannot simplify away).
"""

from __future__ import annotations

from collections.abc import Iterator

from ..findings import Finding
from . import PlanSubject
from ._words import scan_text

NAME = "seq-scan-on-hot-table"


def check(subject: PlanSubject) -> Iterator[Finding]:
    total, estimated, parts = subject.rows_read()
    read = {id(node): rows for _, node, rows in parts}
    for i, _plan, node in subject.nodes():
        if node.node_type != "Seq Scan" or node.relation not in subject.contract.no_seq_scan or not node.executed:
            continue
        rows = read.get(id(node), node.plan_rows)
        text = scan_text(node, rows, node.relation, subject.table_rows.get(node.relation or ""), estimated)
        buffers = f", {node.buffers:,} buffers" if node.buffers is not None else ""
        yield subject.finding(
            NAME,
            f"{subject.title} scans the whole {node.relation} table ({text}{buffers})",
            f"Serve this read from an index on {node.relation} that matches the query's WHERE and ORDER BY.",
            statement=i, node=node,
        )
