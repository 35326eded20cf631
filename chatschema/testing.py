"""What the pytest plugin (``chatschema.pytest_plugin``) stands on, usable without pytest: a seeded
database at head built once, copies of it for tests that write, and a plan check of one query
against a contract whose failure reads as the validator's report.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import migrate, scratch, server
from .errors import ConfigError, UnknownQuery
from .plans.explain import MODES, STATS_TARGET, Explainer
from .plans.params import Case, data_points
from .plans.render import query_text
from .plans.verify import QueryResult, check_growth, connect, verify_query
from .queries import Query, by_name
from .queries.contract import Contract
from .queries.files import VARIANT, FileQuery, load_file
from .queries.query import PARAM
from .seed import SeedReport, seed_database
from .settings import Settings

__all__ = ["SeededDatabase", "build_seeded", "build_smaller", "clone", "drop", "plan_check", "growth_check",
           "failure_message", "as_query", "GROWTH_DIVISOR"]

# The second database of a growth check holds this many times fewer messages (as ``plans verify``'s).
GROWTH_DIVISOR = 4


@dataclass(frozen=True)
class SeededDatabase:
    """A database at head, seeded and settled (VACUUM ANALYZE); ``info`` is its conninfo."""

    settings: Settings
    name: str
    info: str
    seed: SeedReport

    @property
    def dsn(self) -> str:
        return self.info


def build_seeded(settings: Settings, name: str, *, scale: str = "ci", messages: int | None = None) -> SeededDatabase:
    """A new database ``name`` on the server of ``settings`` (dropped first), migrated to head and seeded."""
    made = scratch.fresh(settings, name)
    migrate.upgrade(made, "head")
    info = server.conninfo(made)
    # The seed's own settle ANALYZEs at the plans' statistics target: no second VACUUM (ANALYZE) pass.
    seeded = seed_database(info, scale=scale, messages=messages, statistics_target=STATS_TARGET)
    return SeededDatabase(made, name, info, seeded)


def build_smaller(db: SeededDatabase, name: str) -> SeededDatabase:
    """A second database beside ``db``, the same shape with GROWTH_DIVISOR times fewer messages, for
    growth checks. The seed makes ids from (seed, row number), so the whale (user 1) and the longest
    conversation (conversation 1) have the same ids in both: parameters chosen on one hold on the other."""
    messages = max(db.seed.messages // GROWTH_DIVISOR, 1000)
    return build_seeded(db.settings, name, scale=db.seed.scale, messages=messages)


def clone(db: SeededDatabase, name: str) -> SeededDatabase:
    """A copy of ``db`` (CREATE DATABASE ... TEMPLATE), for a test that writes."""
    made = scratch.clone(db.settings, db.name, name)
    return dataclasses.replace(db, settings=made, name=name, info=server.conninfo(made))


def drop(db: SeededDatabase) -> None:
    scratch.drop(db.settings, db.name)


def as_query(query: str | Path | Query, params: Mapping[str, Any] | None = None,
             contract: Contract | None = None) -> Query:
    """A catalog name ('load_messages.optimized'; an operation alone is its optimized variant), a
    ``.sql`` query file, a Query, or SQL text (then ``params`` and ``contract`` are required)."""
    if isinstance(query, Query):
        found = query
    elif isinstance(query, Path) or str(query).endswith(".sql"):
        found = load_file(query)
    elif PARAM.search(query) or " " in query.strip():
        if contract is None:
            raise ConfigError("SQL text needs a contract (chatschema.queries.contract.Contract)")
        names = tuple(dict.fromkeys(PARAM.findall(query)))
        found = FileQuery(operation="sql", variant=VARIANT, sql=query.strip().rstrip(";"), params=names,
                          revision="head", contract=contract)
    else:
        try:
            queries = by_name(query)
        except UnknownQuery:
            raise
        found = next((q for q in queries if q.variant == "optimized"), queries[0]) if "." not in query else queries[0]
    return dataclasses.replace(found, contract=contract) if contract is not None else found


def plan_check(info: str, query: str | Path | Query, params: Mapping[str, Any] | None = None,
               contract: Contract | None = None, *, modes: Sequence[str] = MODES) -> QueryResult:
    """Plan ``query`` on the database at ``info`` (custom, generic and probe plans, measured) against its
    contract (or ``contract``): with ``params`` as the one case, else the cases its catalog operation or
    query file takes from the data."""
    chosen = as_query(query, params, contract)
    cases: list[Case] | None = None
    if params is not None:
        missing = [p for p in chosen.plan_params if p not in params]
        if missing:
            raise ConfigError(f"{chosen.name}: no value for parameter(s) {', '.join(missing)}")
        cases = [Case("given parameters", tuple((p, params[p]) for p in chosen.plan_params), primary=True)]
    elif isinstance(chosen, FileQuery) and not chosen.recipes:
        raise ConfigError(f"{chosen.name}: SQL text needs params")
    with connect(info) as conn:
        data = data_points(conn)
        explainer = Explainer(conn, analyze=True, scratch=True)
        return verify_query(explainer, chosen, data, modes, cases=cases)


def growth_check(large: SeededDatabase, small: SeededDatabase, query: str | Path | Query,
                 params: Mapping[str, Any] | None = None, contract: Contract | None = None) -> QueryResult:
    """``plan_check`` on ``large``, with the buffer growth of every case against the same case on
    ``small`` (rule buffer-growth): a read whose buffers grow with the table fails its O(page) contract."""
    big = plan_check(large.info, query, params, contract)
    little = plan_check(small.info, query, params, contract, modes=("custom",))
    return check_growth([little], [big], small.seed.messages, large.seed.messages)[0]


def failure_message(result: QueryResult) -> str:
    """The validator's report of one query: its findings, hints and the offending part of its plans."""
    return "\n".join(query_text(result))
