"""The plan does not use the index its contract names.

*Problem*: the query was designed around one index (for example the keyset index
``ix_conversations_user_activity``), and the plan reads that table some other way: the index was
dropped, is INVALID after a failed concurrent build, no longer matches the query's WHERE and ORDER
BY, or lost to a cheaper-looking path. Every other promise of the contract (rows per page, no
sort) rested on it.

*Fix*: check that the index exists and is valid (``chatschema check``); compare the query's
equality columns and ORDER BY with the index's columns; read the plan with
``chatschema plans show NAME``. If the planner could use the index but prefers another path,
the capability probe (``probe`` findings) says whether the index can serve the query at all.
"""

from __future__ import annotations

from collections.abc import Iterator

from ...indexes import INDEXES
from ..findings import Finding
from . import PlanSubject
from ._words import node_text

NAME = "index-not-used"
MODES = ("custom", "generic", "probe")


def index_hint(index: str) -> str:
    for spec in INDEXES:
        if spec.name == index:
            cols = ", ".join(spec.columns)
            inc = f" INCLUDE ({', '.join(spec.include)})" if spec.include else ""
            return f"{index} is {spec.table} ({cols}){inc} and serves {spec.serves}"
    return f"{index} must exist and be valid"


def check(subject: PlanSubject) -> Iterator[Finding]:
    for use in subject.contract.uses:
        if subject.mode != "probe" and not use.chosen:
            continue
        used = [
            (i, node) for i, plan, node in subject.nodes()
            if node.index in use.accepted and plan.table_of(node) == use.table
        ]
        if used:
            continue
        instead = [(i, node) for i, plan, node in subject.nodes() if node.is_scan and node.relation == use.table]
        statement, first = instead[0] if instead else (None, None)
        how = (f"; it reads {use.table} with {', '.join(node_text(n) for _, n in instead[:2])}" if instead
               else f"; it does not read {use.table} at all")
        yield subject.finding(
            NAME,
            f"{subject.title} does not use {use.index} on {use.table}{how}",
            f"{index_hint(use.index)}. Check it exists and is valid (`chatschema check`), and that the query's "
            f"equality columns and ORDER BY match its columns.",
            statement=statement, node=first, index=use.index,
        )
