"""The ``chatschema`` pytest plugin (entry point ``pytest11``), for app teams' own test suites.

Fixtures:

- ``chatschema_database`` (session): a database migrated to head and seeded at
  ``--chatschema-scale`` (default ``ci``; ``--chatschema-messages N`` resizes it), on the server of
  ``DATABASE_URL`` or on the embedded server, built once and dropped at the end. Read from it; do not
  write to it (nor keep a connection open across tests that clone it).
- ``chatschema_writable_database``: a copy of it for one test (``CREATE DATABASE ... TEMPLATE``),
  dropped afterwards: a test that writes gets its own.
- ``chatschema_assert_plan``: ``chatschema_assert_plan(query, params=None, contract=None)`` plans a
  catalog name, a ``.sql`` query file or SQL text (with params and a contract) on the session's
  database and fails the test with the validator's findings when the contract does not hold.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import count
from typing import Any

import pytest

__all__ = ["pytest_addoption", "chatschema_database", "chatschema_writable_database", "chatschema_assert_plan"]

_copies = count(1)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("chatschema", "chatschema: seeded databases and plan contracts")
    group.addoption("--chatschema-scale", default="ci", metavar="tiny|ci|bench|large",
                    help="data the session's database is seeded with (default: ci)")
    group.addoption("--chatschema-messages", type=int, default=None, metavar="N",
                    help="seed exactly N messages instead (same shape as the scale)")


def _name(config: pytest.Config) -> str:
    worker = getattr(config, "workerinput", {}).get("workerid", "main")  # one database per xdist worker
    return f"chatschema_pytest_{worker}"


@pytest.fixture(scope="session")
def chatschema_database(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The session's seeded database at head (a ``chatschema.testing.SeededDatabase``: ``.dsn``, ``.seed``)."""
    from .errors import ChatSchemaError
    from .settings import Settings
    from .testing import build_seeded, drop

    config = request.config
    try:
        db = build_seeded(Settings.resolve(), _name(config), scale=config.getoption("chatschema_scale"),
                          messages=config.getoption("chatschema_messages"))
    except ChatSchemaError as exc:
        pytest.fail(f"chatschema: cannot build the seeded database: {exc}", pytrace=False)
    yield db
    drop(db)


@pytest.fixture
def chatschema_writable_database(chatschema_database: Any) -> Iterator[Any]:
    """A copy of the session's database for this test alone, dropped after it."""
    from .testing import clone, drop

    copy = clone(chatschema_database, f"{chatschema_database.name}_{next(_copies)}")
    yield copy
    drop(copy)


@pytest.fixture
def chatschema_assert_plan(chatschema_database: Any) -> Callable[..., Any]:
    """``(query, params=None, contract=None)`` -> the QueryResult; fails the test with the findings."""
    from .testing import failure_message, plan_check

    def check(query: Any, params: Any = None, contract: Any = None) -> Any:
        result = plan_check(chatschema_database.info, query, params, contract)
        if not result.passed:
            pytest.fail(f"plan contract of {result.name} broken:\n{failure_message(result)}", pytrace=False)
        return result

    return check
