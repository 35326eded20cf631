"""Helpers shared by the plan tests: plan fixtures loaded from tests/plans/cases.

Plan fixtures are EXPLAIN (FORMAT JSON) output captured from real servers by
``python -m tests.plans.capture``; they let the rules be tested without a database.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chatschema.queries.contract import Contract, IndexUse
from chatschema.plans.rules import RULES, PlanSubject
from chatschema.plans.tree import Plan, parse_plan

__all__ = ["CASES_DIR", "CASE_FILES", "CITUS_CASE_FILES", "MESSAGES", "SMALL_MESSAGES", "VERSIONS", "PlanCase", "case_id", "contract_from", "find", "load", "rules_found"]

CASES_DIR = Path(__file__).parent / "cases"
CASE_FILES = sorted(CASES_DIR.glob("pg*/*.json"))
# Captured on the local Citus cluster (python -m tests.plans.capture_citus): PostgreSQL 18 with Citus.
CITUS_CASE_FILES = sorted(CASES_DIR.glob("citus/*.json"))

# The server versions fixtures were captured on: one folder each (pg15, pg16, pg18).
VERSIONS = (15, 16, 18)

# The seeded databases, of capture.py and of the DB tests (tests/plans/seeded.py): small enough to
# load in seconds, skewed enough that every catalog query gets its production plan (a whale of ~3,000
# conversations, a conversation of 13,500 messages); the growth database is a quarter of it.
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
    """Fixture ``name`` as captured on ``version``, or on every version of VERSIONS (one case each).

    A fixture that is missing (renamed, not captured on a version) fails the test that asked for it:
    a loop over ``find(...)`` can never pass by looping over nothing.
    """
    versions = VERSIONS if version is None else (version,)
    missing = [v for v in versions if not (CASES_DIR / f"pg{v}" / f"{name}.json").is_file()]
    assert not missing, f"no fixture {name!r} captured on PostgreSQL {', '.join(map(str, missing))}"
    return [load(CASES_DIR / f"pg{v}" / f"{name}.json") for v in versions]


def rules_found(subject: PlanSubject) -> set[str]:
    """Every plan and query rule that fires on ``subject`` (the rules a single plan can break)."""
    found = set()
    for rule in RULES:
        if rule.scope == "query" or (rule.scope == "plan" and subject.mode in rule.modes):
            found.update(f.rule for f in rule.check(subject))
    return found
