"""The async export: the sync export's rows, order, snapshot and batches, over an AsyncConnection."""

from __future__ import annotations

import asyncio
import tempfile
import uuid

import psycopg
import pytest

from chatschema import api
from chatschema.errors import InvalidInput, NotFound
from chatschema.export import export_messages
from chatschema.export_async import export_messages as export_async

from .skewed import Cases


@pytest.fixture(scope="module")
def data(skewed_databases, new_database) -> tuple[str, Cases]:
    return new_database("export_async", template=skewed_databases.at_head).dsn, skewed_databases.cases


def sync_ids(dsn: str, **which) -> list[tuple[uuid.UUID, uuid.UUID]]:
    with psycopg.connect(dsn, autocommit=True) as conn, export_messages(conn, **which) as export:
        return [(m.conversation_id, m.id) for m in export]


def test_a_conversation_and_a_user_export_the_rows_of_the_sync_export_in_its_order(data):
    dsn, cases = data
    _, conv = cases.longest[0]

    async def main() -> tuple[list, list, int, object]:
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
            async with await export_async(conn, conversation_id=conv, batch=500) as export:
                one = [(m.conversation_id, m.id) async for m in export]
                total = export.total
            async with await export_async(conn, user_id=cases.ties_user, batch=7) as export:
                user = [(m.conversation_id, m.id) async for m in export]
            return one, user, total, conn.info.transaction_status

    one, user, total, status = asyncio.run(main())
    assert one == sync_ids(dsn, conversation_id=conv) and total == len(one) > 1000
    assert user == sync_ids(dsn, user_id=cases.ties_user) and user
    assert status == psycopg.pq.TransactionStatus.IDLE


def test_each_round_trip_fetches_one_batch_and_the_export_reads_one_snapshot(data):
    dsn, cases = data
    owner, conv = cases.typical[0]
    before = [m for _, m in sync_ids(dsn, conversation_id=conv)]

    async def main() -> tuple[list, list[bytes]]:
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
            with tempfile.TemporaryFile() as trace:
                conn.pgconn.trace(trace.fileno())
                conn.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
                async with await export_async(conn, conversation_id=conv, batch=2) as export:
                    got = [(await export.__anext__()).id]
                    with psycopg.connect(dsn, autocommit=True) as other:
                        api.send_message(other, owner, conv, "user", "sent during the async export")
                    got += [m.id async for m in export]
                conn.pgconn.untrace()
                trace.seek(0)
                fetches = [line for line in trace if b"FETCH FORWARD" in line and line.startswith(b"F")]
            return got, fetches

    got, fetches = asyncio.run(main())
    assert got == before  # the message sent during the export is not in its snapshot
    assert len(fetches) == len(before) // 2 + 1 and all(b"FETCH FORWARD 2 FROM" in f for f in fetches)


def test_closing_early_ends_the_cursor_and_the_transaction_and_bad_requests_are_refused(data):
    dsn, cases = data
    _, conv = cases.longest[0]
    missing = uuid.uuid4()

    async def main() -> tuple[object, int, list[str]]:
        errors: list[str] = []
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
            export = await export_async(conn, conversation_id=conv, batch=10)
            for _ in range(25):
                await export.__anext__()
            await export.aclose()
            await export.aclose()  # idempotent
            status = conn.info.transaction_status
            cursors = (await (await conn.execute("SELECT count(*) FROM pg_cursors")).fetchone())[0]
            for which in ({}, {"conversation_id": "x"}, {"conversation_id": missing}, {"user_id": missing},
                          {"conversation_id": conv, "batch": 0}):
                try:
                    await export_async(conn, **which)
                except (InvalidInput, NotFound) as exc:
                    errors.append(str(exc))
            assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        return status, cursors, errors

    status, cursors, errors = asyncio.run(main())
    assert status == psycopg.pq.TransactionStatus.IDLE and cursors == 0
    assert errors == ["export needs exactly one of user_id and conversation_id", "conversation_id must be a UUID, got 'x'",
                      f"conversation {missing} does not exist", f"user {missing} does not exist",
                      "batch must be an integer from 1 to 100,000, got 0"]
