"""The plan rules, one module each. A rule turns a plan (or a whole run) and a contract into findings.

Every rule module has a kebab-case ``NAME`` (the module is the same name in snake case, since
Python cannot import a dash), a ``SCOPE`` saying what it looks at, and a docstring whose first line
is its summary and whose *Problem* and *Fix* sections become its page in ``docs/plan-rules.md``.

Scopes:

- ``plan``: one statement plan set of one query, for one parameter case, in one planning mode
  (``custom``: the real planner on the data; ``generic``: a prepared statement's generic plan;
  ``probe``: seq scans, bitmap scans and sorts disabled, to ask whether an index *can* serve it).
- ``growth``: the same query measured at two data scales.
- ``schema``: the indexes of the schema against every contract.
- ``stability``: the same query planned twice, with statistics gathered again in between.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from ...queries.contract import Contract
from ..findings import Finding
from ..metrics import RowsRead, rows_read
from ..tree import Plan, PlanNode

__all__ = [
    "Rule",
    "RULES",
    "rule",
    "PlanSubject",
    "GrowthSubject",
    "SchemaSubject",
    "StabilitySubject",
    "check_plan",
]

_MODULES = (  # also the order findings are shown in: the most telling first
    "case_without_rows",  # an empty answer makes every other verdict of the case empty too
    "index_not_used",
    "index_cond_columns",
    "router_query",
    "aggregate_whole_table",
    "rows_read_bound",
    "buffers_bound",
    "seq_scan_on_hot_table",
    "sort_above_page",
    "subplan_loops",
    "skip_scan_searches",
    "index_only_heap_fetches",
    "no_index_can_serve",
    "round_trips",
    "buffer_growth",
    "unused_index",
    "plan_unstable",
)


@dataclass(frozen=True)
class PlanSubject:
    """What a ``plan`` rule looks at: a query's plans (one per statement) for one case and mode."""

    query: str
    operation: str
    contract: Contract
    plans: tuple[Plan, ...]
    mode: str = "custom"
    case: str = ""
    round_trips: int = 1
    writes: bool = False
    table_rows: Mapping[str, float] = field(default_factory=dict)
    expects_rows: bool = True  # False for a case meant to be empty (an idle user, an empty conversation)

    @property
    def title(self) -> str:
        """'list conversations (today)' for sentences."""
        operation, _, variant = self.query.partition(".")
        words = operation.replace("_", " ")
        return f"{words} ({variant.replace('_', ' ')})" if variant else words

    @property
    def analyzed(self) -> bool:
        return all(p.analyzed for p in self.plans)

    def nodes(self) -> Iterator[tuple[int, Plan, PlanNode]]:
        """(statement index, plan, node) for every node of every statement."""
        for i, plan in enumerate(self.plans):
            for node in plan.nodes():
                yield i, plan, node

    def rows_read(self) -> tuple[float, bool, list[tuple[int, PlanNode, float]]]:
        total, estimated = 0.0, False
        parts: list[tuple[int, PlanNode, float]] = []
        for i, plan in enumerate(self.plans):
            read: RowsRead = rows_read(plan, self.table_rows)
            total += read.total
            estimated = estimated or read.estimated
            parts.extend((i, node, rows) for node, rows in read.by_node)
        return total, estimated, parts

    @property
    def rows_returned(self) -> float | None:
        return self.plans[-1].rows_returned if self.plans else None

    def table_of(self, statement: int, node: PlanNode) -> str | None:
        return self.plans[statement].table_of(node)

    def finding(self, rule: str, message: str, hint: str, *, statement: int | None = None,
                node: PlanNode | None = None, index: str | None = None) -> Finding:
        return Finding(rule=rule, query=self.query, message=message, hint=hint, case=self.case, mode=self.mode,
                       statement=statement, node=node.path if node is not None else None, index=index)


@dataclass(frozen=True)
class GrowthSubject:
    """One query's buffers and rows read at a small and a large data scale."""

    query: str
    contract: Contract
    case: str
    small_buffers: int | None
    large_buffers: int | None
    small_table_rows: float
    large_table_rows: float

    @property
    def factor(self) -> float | None:
        if not self.small_buffers or self.large_buffers is None:
            return None
        return self.large_buffers / self.small_buffers

    @property
    def table_factor(self) -> float:
        return self.large_table_rows / max(self.small_table_rows, 1.0)


@dataclass(frozen=True)
class SchemaSubject:
    """The indexes that exist (in the models, the views and the live database) and every contract."""

    indexes: tuple[tuple[str, str], ...]  # (index, table)
    contracts: Mapping[str, Contract]  # query name -> contract


@dataclass(frozen=True)
class StabilitySubject:
    query: str
    case: str
    mode: str
    before: str
    after: str


@dataclass(frozen=True)
class Rule:
    name: str
    scope: str
    summary: str
    doc: str
    modes: frozenset[str]
    check: Callable[[Any], Iterable[Finding]]
    module: str


def _load(module_name: str) -> Rule:
    module: ModuleType = importlib.import_module(f"{__name__}.{module_name}")
    doc = (module.__doc__ or "").strip()
    name = module.NAME
    if name.replace("-", "_") != module_name:
        raise RuntimeError(f"rule {name} lives in {module_name}.py; the module must be named after the rule")
    if "*Problem*" not in doc or "*Fix*" not in doc:
        raise RuntimeError(f"rule {name}: the docstring needs *Problem* and *Fix* sections")
    return Rule(
        name=name,
        scope=getattr(module, "SCOPE", "plan"),
        summary=doc.splitlines()[0].strip(),
        doc=doc,
        modes=frozenset(getattr(module, "MODES", ("custom", "generic"))),
        check=module.check,
        module=module.__name__,
    )


RULES: tuple[Rule, ...] = tuple(_load(m) for m in _MODULES)
_BY_NAME = {r.name: r for r in RULES}


def rule(name: str) -> Rule:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown rule {name!r}; rules are {', '.join(_BY_NAME)}") from None


def check_plan(subject: PlanSubject, rules: Iterable[Rule] = RULES) -> list[Finding]:
    """Every finding of every plan rule that applies to ``subject``'s mode."""
    out: list[Finding] = []
    for r in rules:
        if r.scope == "plan" and subject.mode in r.modes:
            out.extend(r.check(subject))
    return out
