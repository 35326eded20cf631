"""A canonical query and its statements: the values the catalog is made of.

Kept apart from the package's ``__init__`` so the per-operation modules can build their queries
without importing the catalog that collects them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

import sqlparse

from .contract import Contract

__all__ = ["OPERATIONS", "VARIANTS", "DEPLOYED", "PARAM", "Statement", "Query"]

OPERATIONS = (
    "list_conversations",
    "load_messages",
    "conversation_view",
    "send_message",
    "catch_up",
    "changed_conversations",
    "export_messages",
    "user_daily_counts",
    "daily_totals",
)
VARIANTS = ("today", "seed_proposal", "optimized", "citus")
DEPLOYED = ("optimized", "citus")
"""The variants the API runs: ``optimized`` on one node, ``citus`` where an operation needs its own on a
Citus coordinator (``chatschema distribute`` created what it reads or calls); elsewhere Citus runs the
optimized one."""

PARAM = re.compile(r"%\((\w+)\)s")
"""A psycopg named parameter, ``%(name)s``."""


@dataclass(frozen=True)
class Statement:
    """One SQL statement: one round trip to the server."""

    sql: str
    params: tuple[str, ...]
    purpose: str = ""

    def __post_init__(self) -> None:
        if len([s for s in sqlparse.split(self.sql) if s.strip()]) != 1:
            raise ValueError(f"a Statement holds exactly one SQL statement: {self.sql[:60]!r}")
        # In order of first use, so params[i] is $i+1 of positional_sql (PREPARE, EXPLAIN GENERIC_PLAN).
        used = tuple(dict.fromkeys(PARAM.findall(self.sql)))
        if used != self.params:
            raise ValueError(f"statement parameters {self.params} are not those of its SQL in order of use: {used}")

    def bind(self, values: Mapping[str, object]) -> dict[str, object]:
        """The statement's parameters picked from ``values``; a missing one is named."""
        missing = [p for p in self.params if p not in values]
        if missing:
            raise KeyError(f"missing parameter(s) {', '.join(missing)} for: {self.purpose or self.sql[:60]}")
        return {p: values[p] for p in self.params}


@dataclass(frozen=True)
class Query:
    """A canonical query: one operation in one variant.

    ``sql`` is the statement that returns the operation's result, with psycopg named parameters
    (``%(name)s``); ``params`` lists them in order of first use, so ``params[i]`` is ``$i+1`` of
    ``positional_sql(sql)``. A variant that needs more round trips lists the statements the
    application runs before it in ``preceding`` (for example today's ownership check before loading
    messages); ``round_trips`` counts them all. ``revision`` is the schema revision it runs on
    (``0001`` or ``head``), ``writes`` says whether it changes data, ``notes`` what it costs and
    what is wrong with it. ``contract`` is the plan it must have (a ``chatschema.contract.Contract``
    declared next to the query), which ``chatschema plans verify`` checks. ``cursor``: the application
    reads it through a server-side cursor (``DECLARE ... CURSOR FOR``), so its plan is the one a cursor
    gets (planned for its first rows, ``cursor_tuple_fraction``) and that is the plan verified.
    ``delegated``: the statements of a function that Citus delegates whole to one worker, which
    ``sql`` calls. They are not round trips (the call is one) and EXPLAIN of the call cannot see into
    the function, so the validator plans each on its own, as the router query it is on the worker.
    """

    operation: str
    variant: str
    sql: str
    params: tuple[str, ...]
    revision: str
    contract: Contract
    writes: bool = False
    round_trips: int = 1
    notes: str = ""
    preceding: tuple[Statement, ...] = field(default=())
    cursor: bool = False
    delegated: tuple[Statement, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.operation not in OPERATIONS:
            raise ValueError(f"unknown operation {self.operation!r}")
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown variant {self.variant!r}")
        Statement(self.sql, self.params)  # validates the parameter list
        if self.round_trips != 1 + len(self.preceding):
            statements = 1 + len(self.preceding)
            raise ValueError(f"{self.name}: round_trips={self.round_trips} but it has {statements} statements")

    @property
    def name(self) -> str:
        return f"{self.operation}.{self.variant}"

    @cached_property
    def statements(self) -> tuple[Statement, ...]:
        """Every statement in the order the application runs them, each one round trip.

        Cached: building a Statement re-parses its SQL with sqlparse (milliseconds), and callers
        such as the benchmark read this on every iteration.
        """
        return (*self.preceding, Statement(self.sql, self.params, "result"))

    @cached_property
    def explained(self) -> tuple[Statement, ...]:
        """Every statement the validator plans: the round trips with the delegated ones before the last,
        so the last plan is still the statement that returns the result."""
        return (*self.statements[:-1], *self.delegated, self.statements[-1])

    @cached_property
    def all_params(self) -> tuple[str, ...]:
        """The parameters the application passes, over every round trip."""
        return tuple(dict.fromkeys(p for s in self.statements for p in s.params))

    @cached_property
    def plan_params(self) -> tuple[str, ...]:
        """The values planning needs: ``all_params`` and those a delegated function holds between statements."""
        return tuple(dict.fromkeys(p for s in self.explained for p in s.params))
