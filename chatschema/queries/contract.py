"""Plan contracts: what a canonical query's plan must be, as facts rather than plan text.

A contract is declared next to its catalog query (``Query.contract`` in ``chatschema.catalog``). It
says which index the query must use and which columns its Index Cond must constrain (with
PostgreSQL 18's skip scan, "uses index X" alone proves little), what a page may cost in rows and
buffers, how large a Sort may be, and whether the planner must *choose* the index on realistic data
or only be *able* to use it (the capability probe). The rules in ``chatschema.plans.rules`` turn a
contract and a plan into findings.

This module is the vocabulary only and imports nothing from chatschema, so the catalog can declare
contracts without importing the plan validator (which imports the catalog).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["IndexUse", "Contract", "HOT_TABLES"]

HOT_TABLES = ("conversations", "messages")


@dataclass(frozen=True)
class IndexUse:
    """An index the plan must use on ``table``, and the index columns its Index Cond must constrain.

    ``cond`` lists index columns, cursor columns included: ``("conversation_id", "created_at", "id")``
    holds only when the row-value cursor ``(created_at, id) < (...)`` is an Index Cond, not a Filter.
    ``also`` names other indexes that serve the same access equally well (the planner may pick either,
    e.g. a primary-key probe or a one-search skip scan); the contract still names ``index`` first.
    ``chosen=False`` means the planner need only be able to use the index (the capability probe):
    on a table of a few pages a Seq Scan is cheaper and correct.
    ``index_only`` asks for an Index Only Scan with zero heap fetches after VACUUM.
    """

    index: str
    table: str
    cond: tuple[str, ...] = ()
    also: tuple[str, ...] = ()
    chosen: bool = True
    index_only: bool = False

    @property
    def accepted(self) -> tuple[str, ...]:
        return (self.index, *self.also)


@dataclass(frozen=True)
class Contract:
    """The plan a query must have, and what one execution of it may cost.

    ``page_rows``: the rows one execution returns at most (the LIMIT, or days in an analytics range).
    ``max_sort_rows``: the most rows any one Sort may sort; 0 means no Sort at all. A top-N sort of
    at most a page (for example the outer ORDER BY of the conversation view over its <= 21 rows) is
    the best plan there is, so a contract allows exactly that many, and no more.
    ``max_rows_read``: rows the scans may read in total (returned plus removed by filters), all loops.
    ``max_buffers``: shared buffers (hit + read) for the whole statement, or all statements of the query.
    ``max_subplan_loops``: how often a SubPlan may run (default: once per row of a page).
    ``max_round_trips``: statements the application sends for one operation.
    ``max_index_searches``: B-tree descents per loop of an index scan (PostgreSQL 18 prints them);
    more means a skip scan or an array walk stands in for an equality the index should have had.
    ``o_page``: the cost must not grow with the table (checked across two data scales).
    ``delegated``: the statement that returns the result calls a function Citus must delegate whole to
    one worker: its plan on the coordinator is one task (not delegated, the function runs on the
    coordinator and each of its statements is a round trip to a worker).
    """

    page_rows: int
    uses: tuple[IndexUse, ...] = ()
    max_sort_rows: int = 0
    max_rows_read: int | None = None
    max_buffers: int | None = None
    max_subplan_loops: int | None = None
    max_round_trips: int = 1
    max_index_searches: int = 1
    no_seq_scan: tuple[str, ...] = HOT_TABLES
    o_page: bool = True
    delegated: bool = False
    summary: str = field(default="", compare=False)

    @property
    def subplan_loops_allowed(self) -> int:
        return self.page_rows if self.max_subplan_loops is None else self.max_subplan_loops

    @property
    def indexes(self) -> tuple[str, ...]:
        """Every index this contract names."""
        return tuple(dict.fromkeys(name for use in self.uses for name in use.accepted))

    def describe(self) -> str:
        """The contract in one paragraph of plain words."""
        parts = []
        for use in self.uses:
            how = "an Index Only Scan of" if use.index_only else "uses"
            cond = f" with {', '.join(use.cond)} in its Index Cond" if use.cond else ""
            alt = f" (or {', '.join(use.also)})" if use.also else ""
            when = "" if use.chosen else " when seq scans are disabled (a tiny table may be scanned)"
            parts.append(f"{how} {use.index}{alt} on {use.table}{cond}{when}")
        if self.no_seq_scan:
            parts.append(f"no Seq Scan on {' or '.join(self.no_seq_scan)}")
        parts.append("no Sort" if self.max_sort_rows == 0 else f"a Sort of at most {self.max_sort_rows} rows")
        if self.max_rows_read is not None:
            parts.append(f"reads at most {self.max_rows_read} rows")
        if self.max_buffers is not None:
            parts.append(f"at most {self.max_buffers} shared buffers")
        parts.append(f"{self.max_round_trips} round trip{'s' * (self.max_round_trips != 1)}")
        if self.o_page:
            parts.append("cost independent of table size")
        if self.delegated:
            parts.append("on Citus, the call delegated whole to the owner's worker (one task)")
        return "; ".join(parts) + "."
