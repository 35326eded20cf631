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
  database and fails the test with the validator's findings when the contract does not hold; with
  ``growth=True`` (or ``--chatschema-growth``) also when its buffers grow with the table, measured
  against ``chatschema_small_database``, the same shape with a quarter of the messages.

``--chatschema-guard`` records every statement the tests send through psycopg (SQLAlchemy's psycopg
driver too), plans each distinct one on the session's database at the end (generic plan, never
executed) and fails the session when one scans ``messages`` or ``conversations`` whole or sorts more
than a page, naming each such statement once with the test that sent it (``chatschema.plans.guard``);
with ``--chatschema-growth`` also when a read's buffers grow with the table (both databases measured).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from itertools import count
from typing import Any

import pytest

__all__ = ["pytest_addoption", "chatschema_database", "chatschema_small_database", "chatschema_writable_database",
           "chatschema_assert_plan"]

_copies = count(1)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("chatschema", "chatschema: seeded databases and plan contracts")
    group.addoption("--chatschema-scale", default="ci", metavar="tiny|ci|bench|large",
                    help="data the session's database is seeded with (default: ci)")
    group.addoption("--chatschema-messages", type=int, default=None, metavar="N",
                    help="seed exactly N messages instead (same shape as the scale)")
    group.addoption("--chatschema-guard", action="store_true", default=False,
                    help="plan every statement the tests send (generic plan, not executed) and fail the session "
                         "on a Seq Scan of messages/conversations or a Sort above a page")
    group.addoption("--chatschema-growth", action="store_true", default=False,
                    help="also seed a database with a quarter of the messages and fail plan assertions (and the "
                         "guard's reads) whose buffers grow with the table")


class _Recorder:
    """Wraps psycopg's cursors' execute while the guard is on; remembers what each test sent."""

    def __init__(self) -> None:
        self.sent: list[Any] = []
        self.test = ""
        self.results: list[Any] = []
        self._saved: list[tuple[type, Any]] = []

    def _mine(self) -> bool:
        # chatschema's own statements (the seed, the plan assertion) are not the app's.
        frame = sys._getframe(2)
        while frame is not None and frame.f_globals.get("__name__", "").startswith("psycopg"):
            frame = frame.f_back  # type: ignore[assignment]
        return frame is not None and frame.f_globals.get("__name__", "").startswith("chatschema")

    def install(self) -> None:
        import psycopg

        from .plans.guard import Sent

        recorder = self

        def wrap(original: Any) -> Any:
            def execute(cur: Any, query: Any, params: Any = None, *args: Any, **kwargs: Any) -> Any:
                if recorder.test and isinstance(query, str) and not recorder._mine():
                    recorder.sent.append(Sent(query, params, recorder.test))
                return original(cur, query, params, *args, **kwargs)
            return execute

        def wrap_async(original: Any) -> Any:
            async def execute(cur: Any, query: Any, params: Any = None, *args: Any, **kwargs: Any) -> Any:
                if recorder.test and isinstance(query, str) and not recorder._mine():
                    recorder.sent.append(Sent(query, params, recorder.test))
                return await original(cur, query, params, *args, **kwargs)
            return execute

        for cls, wrapper in ((psycopg.Cursor, wrap), (psycopg.AsyncCursor, wrap_async)):
            self._saved.append((cls, cls.execute))
            cls.execute = wrapper(cls.execute)  # type: ignore[method-assign]

    def uninstall(self) -> None:
        for cls, original in self._saved:
            cls.execute = original  # type: ignore[method-assign]
        self._saved.clear()


_RECORDER = pytest.StashKey[_Recorder]()


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("chatschema_guard", False):
        recorder = _Recorder()
        recorder.install()
        config.stash[_RECORDER] = recorder


def pytest_unconfigure(config: pytest.Config) -> None:
    recorder = config.stash.get(_RECORDER, None)
    if recorder is not None:
        recorder.uninstall()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    recorder = item.config.stash.get(_RECORDER, None)
    if recorder is None:
        return (yield)
    recorder.test = item.nodeid
    try:
        return (yield)
    finally:
        recorder.test = ""


@pytest.fixture(scope="session", autouse=True)
def _chatschema_guard(request: pytest.FixtureRequest) -> Iterator[None]:
    recorder = request.config.stash.get(_RECORDER, None)
    if recorder is None:
        yield
        return
    _require_plan_scale(request.config, "--chatschema-guard", request.config.getoption("chatschema_growth"))
    db = request.getfixturevalue("chatschema_database")
    small = request.getfixturevalue("chatschema_small_database") if request.config.getoption("chatschema_growth") \
        else None
    yield
    from .plans.guard import Growth, guard

    growth = Growth(small.info, small.seed.messages, db.seed.messages) if small is not None else None
    recorder.results = guard(db.info, recorder.sent, growth=growth)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    recorder = config.stash.get(_RECORDER, None)
    if recorder is None:
        return
    from .plans.guard import summary_lines

    terminalreporter.section("chatschema guard")
    for line in summary_lines(recorder.results):
        terminalreporter.write_line(line)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    recorder = session.config.stash.get(_RECORDER, None)
    if recorder is not None and any(g.findings for g in recorder.results) and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _require_plan_scale(config: pytest.Config, what: str, growth: bool) -> None:
    """Fail (one line) when the session's data is too small for plans to mean anything: on a few pages
    the planner rightly scans, and a contract that holds in production fails, or a bad plan passes."""
    from .errors import ConfigError
    from .seed.scales import check_plan_scale
    from .testing import GROWTH_DIVISOR

    try:
        check_plan_scale(config.getoption("chatschema_scale"), config.getoption("chatschema_messages"),
                         command=what + (" with --chatschema-growth" if growth else ""),
                         divisor=GROWTH_DIVISOR if growth else 1, options="--chatschema-")
    except ConfigError as exc:
        pytest.fail(f"chatschema: {exc}", pytrace=False)


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


@pytest.fixture(scope="session")
def chatschema_small_database(request: pytest.FixtureRequest, chatschema_database: Any) -> Iterator[Any]:
    """A second seeded database, the session database's shape with a quarter of its messages: what
    growth is measured against. Built on first use only."""
    from .errors import ChatSchemaError
    from .testing import build_smaller, drop

    try:
        db = build_smaller(chatschema_database, f"{chatschema_database.name}_small")
    except ChatSchemaError as exc:
        pytest.fail(f"chatschema: cannot build the smaller database for growth: {exc}", pytrace=False)
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
def chatschema_assert_plan(request: pytest.FixtureRequest, chatschema_database: Any) -> Callable[..., Any]:
    """``(query, params=None, contract=None, growth=None)`` -> the QueryResult; fails the test with the
    findings. ``growth`` (default: ``--chatschema-growth``) also measures it on the smaller database."""
    from .testing import failure_message, growth_check, plan_check

    def check(query: Any, params: Any = None, contract: Any = None, growth: bool | None = None) -> Any:
        if growth is None:
            growth = request.config.getoption("chatschema_growth")
        _require_plan_scale(request.config, "a plan assertion", growth)
        if growth:
            small = request.getfixturevalue("chatschema_small_database")
            result = growth_check(chatschema_database, small, query, params, contract)
        else:
            result = plan_check(chatschema_database.info, query, params, contract)
        if not result.passed:
            pytest.fail(f"plan contract of {result.name} broken:\n{failure_message(result)}", pytrace=False)
        return result

    return check
