"""SQLAlchemy applications (docs/sqlalchemy.md): chatschema's API on a Session's or AsyncSession's own
psycopg connection, inside the application's transaction, one round trip per call.

Round trips are counted on the wire: libpq's trace of the connection (``PGconn.trace``) shows every
message; the server answers each round trip with one ReadyForQuery. The application's transaction
is the session's: a send is seen by the session's next statement, undone by its rollback and kept
by its commit (the twin), and never seen by another connection before the commit.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Callable

import psycopg
import pytest
from psycopg.pq import Trace
from psycopg.conninfo import conninfo_to_dict
from sqlalchemy import URL, create_engine, text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import Session

from chatschema import api, api_async, migrate
from chatschema.seed import seed_database

COUNT_SENT = text("SELECT count(*) FROM messages WHERE id = :id")


@pytest.fixture(scope="module")
def chat(new_database) -> tuple[str, str, str]:
    """(dsn, user, conversation): a seeded database at head and its longest conversation's owner."""
    settings = new_database("sqlalchemy_apps")
    migrate.upgrade(settings)
    rows = seed_database(settings.dsn, scale="tiny").interesting
    return settings.dsn, str(rows.longest_conversation_user_id), str(rows.longest_conversation_id)


@contextmanager
def round_trips(conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any]) -> Iterator[Callable[[], list[str]]]:
    """Trace the connection's protocol messages; the callable gives the statements sent and, at the
    end of the block, each round trip closed (one ReadyForQuery) as a line of its own."""
    with tempfile.TemporaryFile() as trace:
        conn.pgconn.trace(trace.fileno())
        conn.pgconn.set_trace_flags(Trace.SUPPRESS_TIMESTAMPS | Trace.REGRESS_MODE)
        lines: list[str] = []
        try:
            yield lambda: lines
        finally:
            conn.pgconn.untrace()
            trace.seek(0)
            lines.extend(line for line in trace.read().decode().splitlines()
                         if line.startswith(("F\t", "B\t")) and ("ReadyForQuery" in line or "\tParse\t" in line
                                                                   or "\tQuery\t" in line))


def trips(lines: list[str]) -> int:
    return sum("ReadyForQuery" in line for line in lines)


def statements(lines: list[str]) -> int:
    return sum(line.startswith("F\t") for line in lines)


def sent_elsewhere(dsn: str, message_id: object) -> int:
    with psycopg.connect(dsn) as other:
        row = other.execute("SELECT count(*) FROM messages WHERE id = %s", (message_id,)).fetchone()
        assert row is not None
        return row[0]


def engine_url(dsn: str) -> URL:
    """The SQLAlchemy URL of a libpq conninfo: ``postgresql+psycopg://user@/db?host=/socket/dir`` and so on."""
    params = conninfo_to_dict(dsn)
    return URL.create("postgresql+psycopg", username=params.pop("user", None), password=params.pop("password", None),
                      database=params.pop("dbname", None), query={k: str(v) for k, v in params.items()})


# --- sync Session ------------------------------------------------------------------------------------------


def sync_send(dsn: str, user: str, conversation: str, *, commit: bool) -> tuple[Any, list[str], list[str], int]:
    engine = create_engine(engine_url(dsn))
    try:
        with Session(engine) as session:
            session.execute(text("SELECT 1"))  # the application's own work: the transaction has begun
            raw = session.connection().connection.driver_connection  # the session's psycopg.Connection
            assert isinstance(raw, psycopg.Connection) and not raw.autocommit
            with round_trips(raw) as send_trace:
                sent = api.send_message(raw, user, conversation, "user", "from a SQLAlchemy Session")
            with round_trips(raw) as read_trace:
                page = api.load_messages(raw, user, conversation, limit=1)
            assert page.items[0].id == sent.id  # the API reads the session's own uncommitted write
            assert session.execute(COUNT_SENT, {"id": sent.id}).scalar_one() == 1  # so does the ORM's session
            before_end = sent_elsewhere(dsn, sent.id)
            session.commit() if commit else session.rollback()
    finally:
        engine.dispose()
    return sent, send_trace(), read_trace(), before_end


def test_a_sync_sessions_rollback_undoes_the_send(chat):
    dsn, user, conversation = chat
    sent, send, read, before_end = sync_send(dsn, user, conversation, commit=False)
    assert (trips(send), statements(send)) == (1, 1), send
    assert (trips(read), statements(read)) == (1, 1), read
    assert before_end == 0  # inside the application's transaction: no other session sees it
    assert sent_elsewhere(dsn, sent.id) == 0


def test_a_sync_sessions_commit_keeps_the_send(chat):
    """The twin: the same calls, then commit: the message is there for everyone."""
    dsn, user, conversation = chat
    sent, send, _, before_end = sync_send(dsn, user, conversation, commit=True)
    assert (trips(send), before_end) == (1, 0)
    assert sent_elsewhere(dsn, sent.id) == 1


# --- AsyncSession ------------------------------------------------------------------------------------------


async def async_send(dsn: str, user: str, conversation: str, *, commit: bool) -> tuple[Any, list[str], list[str], int]:
    engine = create_async_engine(engine_url(dsn))
    try:
        async with AsyncSession(engine) as session:
            await session.execute(text("SELECT 1"))
            connection = await session.connection()
            raw = (await connection.get_raw_connection()).driver_connection  # the psycopg.AsyncConnection
            assert isinstance(raw, psycopg.AsyncConnection) and not raw.autocommit
            with round_trips(raw) as send_trace:
                sent = await api_async.send_message(raw, user, conversation, "assistant", "from an AsyncSession")
            with round_trips(raw) as read_trace:
                view = await api_async.conversation_view(raw, user, conversation)
            assert view.messages.items[0].id == sent.id  # the summary and the page include the uncommitted send
            assert (await session.execute(COUNT_SENT, {"id": sent.id})).scalar_one() == 1
            before_end = await asyncio.to_thread(sent_elsewhere, dsn, sent.id)
            await (session.commit() if commit else session.rollback())
    finally:
        await engine.dispose()
    return sent, send_trace(), read_trace(), before_end


def test_an_async_sessions_rollback_undoes_the_send(chat):
    dsn, user, conversation = chat
    sent, send, read, before_end = asyncio.run(async_send(dsn, user, conversation, commit=False))
    assert (trips(send), statements(send)) == (1, 1), send
    assert (trips(read), statements(read)) == (1, 1), read
    assert before_end == 0
    assert sent_elsewhere(dsn, sent.id) == 0


def test_an_async_sessions_commit_keeps_the_send(chat):
    """The twin: commit keeps what rollback undid."""
    dsn, user, conversation = chat
    sent, send, _, before_end = asyncio.run(async_send(dsn, user, conversation, commit=True))
    assert (trips(send), before_end) == (1, 0)
    assert sent_elsewhere(dsn, sent.id) == 1


def test_the_round_trip_count_sees_a_second_statement(chat):
    """The counter's own twin: two statements on the same connection are two round trips."""
    dsn, user, conversation = chat
    with psycopg.connect(dsn) as conn, round_trips(conn) as seen:
        conn.execute("SELECT 1")  # BEGIN goes first, on its own round trip
        api.conversation_view(conn, user, conversation)
    assert (trips(seen()), statements(seen())) == (3, 3)
