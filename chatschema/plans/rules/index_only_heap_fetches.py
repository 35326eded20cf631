"""A query designed as index-only is not an Index Only Scan, or it fetches heap pages.

*Problem*: an index-only scan skips the table only for pages the visibility map marks all-visible.
A covering index (``INCLUDE``) is worth its write cost only if its queries really stay in the
index: a plan that became an Index Scan (a column was added to the SELECT list that the index does
not cover), or heap fetches that grow with unvacuumed inserts, turn it back into a table read.

*Fix*: select only the index's key and INCLUDE columns; keep the table's visibility map set:
``VACUUM (ANALYZE)`` after bulk loads, and insert-triggered autovacuum
(``autovacuum_vacuum_insert_scale_factor``) on append-mostly tables. Verify after VACUUM.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..findings import Finding, count
from . import PlanSubject

NAME = "index-only-heap-fetches"
MODES = ("custom", "generic", "probe")


def check(subject: PlanSubject) -> Iterator[Finding]:
    for use in subject.contract.uses:
        if not use.index_only:
            continue
        for i, plan, node in subject.nodes():
            if node.index != use.index or plan.table_of(node) != use.table:
                continue
            if node.node_type != "Index Only Scan":
                yield subject.finding(
                    NAME,
                    f"{subject.title} reads {use.index} with {node.node_type}, not an Index Only Scan: "
                    f"every row also costs a heap visit",
                    f"Select only the columns {use.index} holds (key and INCLUDE columns).",
                    statement=i, node=node, index=use.index,
                )
            elif node.heap_fetches:
                yield subject.finding(
                    NAME,
                    f"{subject.title}: Index Only Scan using {use.index} made {count(node.heap_fetches * node.loops)} "
                    f"heap fetches; it is designed to make none after VACUUM",
                    f"VACUUM (ANALYZE) {use.table} so its visibility map is set; check autovacuum keeps up "
                    f"(pg_stat_user_tables.n_ins_since_vacuum).",
                    statement=i, node=node, index=use.index,
                )
