"""The neutral plan tree: ``EXPLAIN (FORMAT JSON)`` output of PostgreSQL 15 to 18 as frozen values.

What differs between versions is normalized here, once, so no rule has to know:

- PostgreSQL 18 prints ``Actual Rows`` as a fraction (``11.0``; an average over loops): kept as a
  float everywhere, and ``rows_out`` multiplies by loops so totals are exact whichever version.
- PostgreSQL 18 marks every node ``"Disabled": true|false``; before 18 a disabled path only carried
  ``disable_cost`` (1.0e10) in its startup cost, which every ancestor inherits. A node is disabled
  there when its own startup cost exceeds what its children cost by 1.0e10.
- ``Index Searches`` (PostgreSQL 18, ANALYZE only) is ``None`` where the server does not print it.
- Buffers are cumulative (a node's count includes its children's), as every version prints them.

Citus: a ``Custom Scan (Citus Adaptive)`` carries its ``Task Count`` and, as children after its local
ones, each shown task's plan (``Distributed Query`` -> ``Job`` -> ``Tasks`` -> ``Remote Plan``; the
root's ``parent_relationship`` is ``"Task"``). Shard names (``conversations_102008``) read as their
table's and index's, so contracts match the shard's plan, where buffers are counted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["PlanNode", "Trigger", "Plan", "parse_plan", "cond_columns", "SCAN_NODES", "INDEX_NODES", "TASK"]

DISABLE_COST = 1.0e10
SCAN_NODES = frozenset(
    {"Seq Scan", "Index Scan", "Index Only Scan", "Bitmap Heap Scan", "Tid Scan", "Tid Range Scan", "Sample Scan"}
)
INDEX_NODES = frozenset({"Index Scan", "Index Only Scan", "Bitmap Index Scan"})
SORT_NODES = frozenset({"Sort", "Incremental Sort"})
TASK = "Task"  # parent_relationship of a Citus task's plan under its Custom Scan
_SHARD_SUFFIX = re.compile(r"^(?P<name>.+)_(?P<shard>[0-9]+)$")


@dataclass(frozen=True)
class PlanNode:
    """One node of a plan. Per-loop figures are as PostgreSQL reports them; ``*_total`` are over all loops."""

    node_type: str
    path: tuple[int, ...]
    relation: str | None = None
    alias: str | None = None
    index: str | None = None
    index_cond: str | None = None
    recheck_cond: str | None = None
    filter: str | None = None
    join_filter: str | None = None
    join_type: str | None = None
    strategy: str | None = None
    operation: str | None = None
    parent_relationship: str | None = None
    subplan_name: str | None = None
    scan_direction: str | None = None
    sort_key: tuple[str, ...] = ()
    group_key: tuple[str, ...] = ()
    sort_method: str | None = None
    startup_cost: float = 0.0
    total_cost: float = 0.0
    plan_rows: float = 0.0
    disabled: bool = False
    actual_rows: float | None = None
    actual_loops: float | None = None
    rows_removed_by_filter: float | None = None
    rows_removed_by_recheck: float | None = None
    rows_removed_by_join_filter: float | None = None
    heap_fetches: float | None = None
    index_searches: float | None = None
    shared_hit: int | None = None
    shared_read: int | None = None
    temp_blocks: int | None = None
    custom_provider: str | None = None  # "Citus Adaptive" for a Custom Scan
    task_count: int | None = None  # Citus: how many shards the distributed query runs on
    children: tuple[PlanNode, ...] = field(default=(), repr=False)

    @property
    def label(self) -> str:
        """The node as EXPLAIN's text format names it: 'Index Scan using ix on messages m'."""
        name = self.node_type
        if self.custom_provider:
            name = f"{name} ({self.custom_provider})"
        if name == "ModifyTable" and self.operation:
            name = self.operation
        elif name == "Aggregate":
            name = {"Hashed": "HashAggregate", "Sorted": "GroupAggregate", "Mixed": "MixedAggregate"}.get(
                self.strategy or "", "Aggregate"
            )
        if self.join_type and self.join_type != "Inner":
            if name == "Nested Loop":
                name = f"Nested Loop {self.join_type} Join"
            elif name.endswith(" Join"):
                name = f"{name[:-5]} {self.join_type} Join"
        if self.scan_direction == "Backward" and name in ("Index Scan", "Index Only Scan"):
            name += " Backward"
        if self.index:
            name += f" on {self.index}" if self.node_type == "Bitmap Index Scan" else f" using {self.index}"
        if self.relation:
            name += f" on {self.relation}"
            if self.alias and self.alias != self.relation:
                name += f" {self.alias}"
        if self.subplan_name:
            name = f"{self.subplan_name}: {name}"
        return name

    @property
    def executed(self) -> bool:
        return self.actual_loops is None or self.actual_loops > 0

    @property
    def loops(self) -> float:
        return self.actual_loops if self.actual_loops is not None else 1.0

    @property
    def rows_out(self) -> float | None:
        """Rows this node returned over all its loops (None without ANALYZE)."""
        if self.actual_rows is None:
            return None
        return self.actual_rows * self.loops

    @property
    def rows_examined(self) -> float | None:
        """Rows a scan node looked at over all loops: returned plus removed by its Filter or recheck."""
        if self.actual_rows is None:
            return None
        per_loop = self.actual_rows + (self.rows_removed_by_filter or 0) + (self.rows_removed_by_recheck or 0)
        return per_loop * self.loops

    @property
    def buffers(self) -> int | None:
        """Shared buffers hit or read by this node and everything below it."""
        if self.shared_hit is None and self.shared_read is None:
            return None
        return (self.shared_hit or 0) + (self.shared_read or 0)

    @property
    def is_scan(self) -> bool:
        return self.node_type in SCAN_NODES

    def walk(self) -> Iterator[PlanNode]:
        """This node and every node below it, parents before children."""
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass(frozen=True)
class Trigger:
    name: str
    relation: str | None
    calls: int | None


@dataclass(frozen=True)
class Plan:
    """One statement's plan."""

    root: PlanNode
    analyzed: bool
    triggers: tuple[Trigger, ...] = ()
    statement: str = ""

    def nodes(self) -> Iterator[PlanNode]:
        return self.root.walk()

    def node(self, path: tuple[int, ...]) -> PlanNode:
        node = self.root
        for i in path:
            node = node.children[i]
        return node

    def parent_of(self, path: tuple[int, ...]) -> PlanNode | None:
        return self.node(path[:-1]) if path else None

    def heap_scan_of(self, bitmap_index: PlanNode) -> PlanNode | None:
        """The Bitmap Heap Scan a Bitmap Index Scan feeds (through BitmapAnd/BitmapOr)."""
        path = bitmap_index.path
        while path:
            path = path[:-1]
            node = self.node(path)
            if node.node_type == "Bitmap Heap Scan":
                return node
        return None

    def table_of(self, node: PlanNode) -> str | None:
        """The table an index node reads."""
        if node.relation:
            return node.relation
        if node.node_type == "Bitmap Index Scan":
            heap = self.heap_scan_of(node)
            return heap.relation if heap else None
        return None

    @property
    def buffers(self) -> int | None:
        """The statement's shared buffers; on Citus the shards' (its tasks'), where the contract applies."""
        tasks = [n.buffers for n in self.nodes() if n.parent_relationship == TASK and n.buffers is not None]
        return sum(tasks) if tasks else self.root.buffers

    @property
    def rows_returned(self) -> float | None:
        return self.root.rows_out

    @property
    def fingerprint(self) -> str:
        """The plan's shape: node types, tables and indexes, in order; no costs, rows or versions' extras."""

        def shape(node: PlanNode) -> str:
            parts = [node.node_type]
            for extra in (node.operation, node.join_type, node.strategy, node.relation, node.index):
                if extra:
                    parts.append(extra)
            inner = ",".join(shape(c) for c in node.children)
            return "/".join(parts) + (f"({inner})" if inner else "")

        return shape(self.root)


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _task_plans(raw: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The root of each task's plan a Citus Custom Scan shows (``Remote Plan``: lists of documents)."""
    docs = [d for task in _job(raw).get("Tasks", ()) or () for docs in task.get("Remote Plan") or () for d in docs]
    return [{**d["Plan"], "Parent Relationship": TASK} for d in docs if isinstance(d, Mapping) and "Plan" in d]


def _job(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    return (raw.get("Distributed Query") or {}).get("Job") or {}


def _unshard(name: str | None) -> str | None:
    """``conversations_102008`` -> ``conversations`` (a shard's names end in ``_<shard id>``)."""
    match = _SHARD_SUFFIX.match(name or "")
    return match.group("name") if match else name


def _node(raw: Mapping[str, Any], path: tuple[int, ...], has_disabled_key: bool, *, in_task: bool = False) -> PlanNode:
    # Citus's INSERT ... SELECT (pulled to the coordinator) shows the SELECT's plan under "Select Query".
    selected = [d["Plan"] for d in raw.get("Select Query") or () if isinstance(d, Mapping) and "Plan" in d]
    task_roots, local = _task_plans(raw), [*raw.get("Plans", ()), *selected]
    children = tuple(
        _node(child, path + (i,), has_disabled_key, in_task=in_task or i >= len(local))
        for i, child in enumerate(local + task_roots)
    )
    relation, index = raw.get("Relation Name"), raw.get("Index Name")
    relation, index = (_unshard(relation), _unshard(index)) if in_task else (relation, index)
    startup = float(raw.get("Startup Cost", 0.0))
    if has_disabled_key:
        disabled = bool(raw.get("Disabled", False))
    else:
        # Before 18, disable_cost is added to the startup cost of the disabled path and carried by
        # every ancestor; only the node whose own share exceeds it is the disabled one.
        below = sum(c.total_cost for c in children)
        disabled = startup - below >= DISABLE_COST * 0.9
    temp = None
    if "Temp Read Blocks" in raw or "Temp Written Blocks" in raw:
        temp = int(raw.get("Temp Read Blocks", 0)) + int(raw.get("Temp Written Blocks", 0))
    return PlanNode(
        node_type=str(raw["Node Type"]),
        path=path,
        relation=relation,
        alias=raw.get("Alias"),
        index=index,
        index_cond=raw.get("Index Cond"),
        recheck_cond=raw.get("Recheck Cond"),
        filter=raw.get("Filter"),
        join_filter=raw.get("Join Filter") or raw.get("Hash Cond") or raw.get("Merge Cond"),
        join_type=raw.get("Join Type"),
        strategy=raw.get("Strategy"),
        operation=raw.get("Operation"),
        parent_relationship=raw.get("Parent Relationship"),
        subplan_name=raw.get("Subplan Name"),
        scan_direction=raw.get("Scan Direction"),
        sort_key=tuple(raw.get("Sort Key", ()) or ()),
        group_key=tuple(raw.get("Group Key", ()) or ()),
        sort_method=raw.get("Sort Method"),
        startup_cost=startup,
        total_cost=float(raw.get("Total Cost", 0.0)),
        plan_rows=float(raw.get("Plan Rows", 0.0)),
        disabled=disabled,
        actual_rows=_num(raw.get("Actual Rows")),
        actual_loops=_num(raw.get("Actual Loops")),
        rows_removed_by_filter=_num(raw.get("Rows Removed by Filter")),
        rows_removed_by_recheck=_num(raw.get("Rows Removed by Index Recheck")),
        rows_removed_by_join_filter=_num(raw.get("Rows Removed by Join Filter")),
        heap_fetches=_num(raw.get("Heap Fetches")),
        index_searches=_num(raw.get("Index Searches")),
        shared_hit=_int(raw.get("Shared Hit Blocks")),
        shared_read=_int(raw.get("Shared Read Blocks")),
        temp_blocks=temp,
        custom_provider=raw.get("Custom Plan Provider"),
        task_count=_int(_job(raw).get("Task Count")),
        children=children,
    )


def parse_plan(document: Any, *, statement: str = "") -> Plan:
    """A ``Plan`` from what ``EXPLAIN (FORMAT JSON)`` returned: the list, its one element, or a JSON string."""
    if isinstance(document, (str, bytes)):
        document = json.loads(document)
    if isinstance(document, list):
        if len(document) != 1:
            raise ValueError(f"expected one EXPLAIN document, got {len(document)}")
        document = document[0]
    if not isinstance(document, Mapping) or "Plan" not in document:
        raise ValueError("not an EXPLAIN (FORMAT JSON) document: no 'Plan' key")
    raw_root = document["Plan"]
    root = _node(raw_root, (), "Disabled" in raw_root)
    triggers = tuple(
        Trigger(name=str(t.get("Trigger Name") or t.get("Constraint Name") or "?"), relation=t.get("Relation"),
                calls=_int(t.get("Calls")))
        for t in document.get("Triggers", ()) or ()
    )
    return Plan(root=root, analyzed=root.actual_loops is not None, triggers=triggers, statement=statement)


# --- Index Cond: which index columns does it constrain? ----------------------------------------

_QUALIFIER = re.compile(r'^(?:"?[A-Za-z_][\w$]*"?\.)+')


def _strip_parens(text: str) -> str:
    text = text.strip()
    while text.startswith("(") and _matching(text, 0) == len(text) - 1:
        text = text[1:-1].strip()
    return text


def _matching(text: str, start: int) -> int:
    depth = 0
    quoted = False
    for i in range(start, len(text)):
        ch = text[i]
        if ch == "'":
            quoted = not quoted
        elif quoted:
            continue
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i
    return -1


def _split_top(text: str, sep: str) -> list[str]:
    parts, depth, quoted, start, i = [], 0, False, 0, 0
    while i < len(text):
        ch = text[i]
        if ch == "'":
            quoted = not quoted
        elif not quoted:
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
            elif depth == 0 and text.startswith(sep, i):
                parts.append(text[start:i])
                i += len(sep)
                start = i
                continue
        i += 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def _column(expr: str) -> str:
    expr = _strip_parens(expr.strip())
    expr = _QUALIFIER.sub("", expr)
    return expr.strip('"')


def cond_columns(cond: str | None) -> tuple[str, ...]:
    """The index columns an ``Index Cond`` constrains, in order, row comparisons included.

    PostgreSQL prints index quals with the indexed column on the left: ``((user_id = $1) AND
    (ROW(last_activity_at, id) < ROW($2, $3)))`` constrains user_id, last_activity_at and id.
    """
    if not cond:
        return ()
    columns: list[str] = []
    for clause in _split_top(_strip_parens(cond), " AND "):
        clause = _strip_parens(clause)
        if clause.upper().startswith("ROW("):
            end = _matching(clause, 3)
            columns.extend(_column(c) for c in _split_top(clause[4:end], ","))
            continue
        left = re.split(r"\s+(?:=|<|>|<=|>=|<>|~~|@>|<@|&&|IS)\s+", clause, maxsplit=1)[0]
        columns.append(_column(left))
    return tuple(dict.fromkeys(columns))
