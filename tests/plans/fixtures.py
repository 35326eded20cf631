"""Helpers shared by the plan tests: fixtures loaded from tests/plans/cases, and the seeded database.

Plan fixtures are EXPLAIN (FORMAT JSON) output captured from real servers by
``python -m tests.plans.capture``; they let the rules be tested without a database.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chatschema.queries.contract import Contract, IndexUse
from chatschema.plans.rules import RULES, PlanSubject
from chatschema.plans.tree import Plan, parse_plan
from chatschema.settings import Settings

CASES_DIR = Path(__file__).parent / "cases"
CASE_FILES = sorted(CASES_DIR.glob("pg*/*.json"))

# The seeded database of the DB tests: small enough to load in seconds, skewed enough that every
# catalog query gets its production plan (a whale of ~3,000 conversations, a conversation of 13,500
# messages); the growth database is a quarter of it.
MESSAGES = 50_000
SMALL_MESSAGES = 12_500


def case_id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


def contract_from(data: dict[str, Any]) -> Contract:
    fields = dict(data)
    fields["uses"] = tuple(IndexUse(**{**u, "cond": tuple(u["cond"]), "also": tuple(u["also"])}) for u in data["uses"])
    fields["no_seq_scan"] = tuple(data["no_seq_scan"])
    return Contract(**fields)


@dataclass(frozen=True)
class PlanCase:
    path: Path
    data: dict[str, Any]

    @property
    def plans(self) -> tuple[Plan, ...]:
        return tuple(parse_plan(doc) for doc in self.data["plans"])

    @property
    def contract(self) -> Contract:
        return contract_from(self.data["contract"])

    @property
    def version(self) -> int:
        return int(self.data["server_version"])

    def subject(self, **overrides: Any) -> PlanSubject:
        fields = dict(
            query=self.data["query"], operation=self.data["query"].split(".")[0], contract=self.contract,
            plans=self.plans, mode=self.data["mode"], case=self.data["case"], round_trips=self.data["round_trips"],
            table_rows=self.data["table_rows"],
        )
        fields.update(overrides)
        return PlanSubject(**fields)


def load(path: Path) -> PlanCase:
    return PlanCase(path, json.loads(path.read_text(encoding="utf-8")))


def find(name: str, version: int | None = None) -> list[PlanCase]:
    return [load(p) for p in CASE_FILES if p.stem == name and (version is None or p.parent.name == f"pg{version}")]


def rules_found(subject: PlanSubject) -> set[str]:
    """Every plan and query rule that fires on ``subject`` (the rules a single plan can break)."""
    found = set()
    for rule in RULES:
        if rule.scope == "query" or (rule.scope == "plan" and subject.mode in rule.modes):
            found.update(f.rule for f in rule.check(subject))
    return found


@dataclass(frozen=True)
class SeededPlans:
    """The session's verified scratch database: results of every catalog query, and the growth run."""

    settings: Settings
    info: str
    results: dict[str, Any]
    small: dict[str, Any]
    seed: Any
    small_seed: Any
    small_info: str


# Built once per test session and server, though two test modules import the fixture (each import
# registers its own fixture definition); the databases are dropped with the session's others.
_BUILT: dict[str, SeededPlans] = {}


def _build(new_database: Callable[[str], Settings]) -> SeededPlans:
    from chatschema.plans import scratch_run, select_queries
    from chatschema.plans.verify import check_growth

    queries = select_queries("all")
    settings = new_database("plans")
    results, seed, info = scratch_run(settings, queries, messages=MESSAGES)
    small, small_seed, small_info = scratch_run(new_database("plans_small"), queries, messages=SMALL_MESSAGES,
                                                modes=("custom",), stability=False)
    grown = check_growth(small, results, small_seed.messages, seed.messages)
    return SeededPlans(settings, info, {r.name: r for r in grown}, {r.name: r for r in small}, seed, small_seed,
                       small_info)


@pytest.fixture(scope="session", name="seeded_plans")
def seeded_plans_fixture(new_database: Callable[[str], Settings], pg_server: Any) -> SeededPlans:
    """A database seeded at 0001, its today's queries verified, upgraded to head, optimized verified."""
    if pg_server.admin not in _BUILT:
        _BUILT[pg_server.admin] = _build(new_database)
    return _BUILT[pg_server.admin]
