"""The plan validator: EXPLAIN (FORMAT JSON) -> plan tree -> rules -> findings -> a renderer.

Each arrow is one function: ``Explainer.explain`` (explain), ``parse_plan`` (tree),
``check_plan`` (rules), ``render`` (text, JSON, JUnit, Markdown). ``run`` strings them together
over the query catalog; ``verify_database`` does it on a database you prepared yourself.
"""

from __future__ import annotations

from .findings import Finding
from .pipeline import run, scratch_run, select_queries, settle, show
from .report import Report, Shown
from .rules import RULES, PlanSubject, check_plan
from .tree import Plan, PlanNode, parse_plan
from .verify import CheckResult, QueryResult, check_schema, verify_database

__all__ = [
    "Finding",
    "Report",
    "Shown",
    "run",
    "show",
    "scratch_run",
    "select_queries",
    "settle",
    "RULES",
    "PlanSubject",
    "check_plan",
    "Plan",
    "PlanNode",
    "parse_plan",
    "CheckResult",
    "QueryResult",
    "check_schema",
    "verify_database",
]
