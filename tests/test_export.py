"""Streaming export: in order, a bounded batch per round trip, one snapshot, cancellable, flat memory."""

from __future__ import annotations

import json
import tempfile
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from click.testing import CliRunner

from chatschema import api
from chatschema.cli import main
from chatschema.errors import InvalidInput, NotFound
from chatschema.export import export_messages

from .export_rss import make_conversation, peak_rss_kb
from .skewed import Cases


@pytest.fixture(scope="module")
def data(skewed_databases, new_database) -> tuple[str, Cases]:
    return new_database("export", template=skewed_databases.at_head).dsn, skewed_databases.cases


@pytest.fixture
def conn(data) -> Iterator[psycopg.Connection]:
    with psycopg.connect(data[0], autocommit=True) as c:
        yield c


def truth(conn, conv) -> list[uuid.UUID]:
    return [r[0] for r in conn.execute(
        "SELECT id FROM messages WHERE conversation_id = %s ORDER BY created_at, id", (conv,))]


def test_a_conversation_exports_oldest_first_and_a_user_in_sidebar_order(conn, data):
    cases = data[1]
    _, conv = cases.longest[0]
    with export_messages(conn, conversation_id=conv, batch=500) as export:
        got = [m.id for m in export]
        assert export.total == len(got) == len(truth(conn, conv)) and export.conversations == 1
    assert got == truth(conn, conv)
    user = cases.ties_user
    sidebar = [r[0] for r in conn.execute(
        "SELECT id FROM conversations WHERE user_id = %s ORDER BY last_activity_at DESC, id DESC", (user,))]
    with export_messages(conn, user_id=user, batch=7) as export:
        got = [(m.conversation_id, m.id) for m in export]
    assert got == [(c, m) for c in sidebar for m in truth(conn, c)]
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


def test_each_round_trip_fetches_one_batch_through_a_server_side_cursor(conn, data):
    _, conv = data[1].longest[0]
    n = len(truth(conn, conv))
    with tempfile.TemporaryFile() as trace:
        conn.pgconn.trace(trace.fileno())
        conn.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
        with export_messages(conn, conversation_id=conv, batch=250) as export:
            first = next(export)
            cursors = conn.execute("SELECT name, is_holdable, statement FROM pg_cursors").fetchall()
            rest = sum(1 for _ in export)
        conn.pgconn.untrace()
        trace.seek(0)
        fetches = [line for line in trace if b"FETCH FORWARD" in line and line.startswith(b"F")]
    assert first.id == truth(conn, conv)[0] and rest == n - 1
    [(name, holdable, statement)] = cursors
    assert name == "chatschema_export" and not holdable and "ORDER BY created_at, id" in statement
    assert len(fetches) == n // 250 + 1  # the last FETCH returns fewer rows than a batch, and stops
    assert all(b"FETCH FORWARD 250 FROM" in line for line in fetches)


def test_the_export_reads_one_snapshot(conn, data):
    owner, conv = data[1].typical[0]
    before = truth(conn, conv)
    with export_messages(conn, conversation_id=conv, batch=2) as export:
        got = [next(export).id]
        with psycopg.connect(data[0], autocommit=True) as other:
            api.send_message(other, owner, conv, "user", "sent during the export")
            other.execute("DELETE FROM messages WHERE id = %s", (before[-1],))
        got += [m.id for m in export]
    assert got == before  # neither the new message nor the deletion is seen
    with psycopg.connect(data[0], autocommit=True) as other:  # put the deleted one's summary right again
        other.execute(
            "UPDATE conversations c SET message_count = (SELECT count(*) FROM messages WHERE conversation_id = c.id)"
            " WHERE id = %s", (conv,))


def test_closing_the_export_ends_its_cursor_and_transaction(conn, data):
    _, conv = data[1].longest[0]
    conn.autocommit = False
    conn.commit()
    export = export_messages(conn, conversation_id=conv, batch=10)
    for _ in range(25):
        next(export)
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
    export.close()
    export.close()  # idempotent
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert conn.isolation_level is None and conn.read_only is None  # the caller's settings are back
    assert conn.execute("SELECT count(*) FROM pg_cursors").fetchone() == (0,)
    assert conn.execute("SHOW transaction_isolation").fetchone() == ("read committed",)
    conn.rollback()
    with pytest.raises(StopIteration):
        next(export)


def test_bad_requests_are_refused_in_one_line(conn, data):
    cases = data[1]
    with pytest.raises(InvalidInput, match="^export needs exactly one of user_id and conversation_id$"):
        export_messages(conn)
    with pytest.raises(InvalidInput, match="^export needs exactly one"):
        export_messages(conn, user_id=cases.ties_user, conversation_id=cases.ties[1])
    with pytest.raises(InvalidInput, match="^conversation_id must be a UUID, got 'x'$"):
        export_messages(conn, conversation_id="x")
    with pytest.raises(InvalidInput, match="^batch must be an integer from 1 to 100,000, got 0$"):
        export_messages(conn, conversation_id=cases.ties[1], batch=0)
    missing = uuid.uuid4()
    with pytest.raises(NotFound, match=f"^conversation {missing} does not exist$"):
        export_messages(conn, conversation_id=missing)
    with pytest.raises(NotFound, match=f"^user {missing} does not exist$"):
        export_messages(conn, user_id=missing)
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    with conn.transaction():
        with pytest.raises(InvalidInput, match="^export needs a connection with no transaction open"):
            export_messages(conn, conversation_id=cases.ties[1])
    with export_messages(conn, user_id=cases.empty_users[0]) as export:  # a user with no conversations
        assert list(export) == [] and export.total == 0


def test_the_cli_writes_ndjson(data):
    dsn, cases = data
    _, conv = cases.days
    result = CliRunner().invoke(main, ["export", "--conversation", str(conv), "--dsn", dsn])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    with psycopg.connect(dsn) as conn:
        assert [uuid.UUID(m["id"]) for m in lines] == truth(conn, conv)
    assert set(lines[0]) == {"id", "conversation_id", "role", "content", "created_at"}
    assert "ünïcödé" in lines[0]["content"]  # UTF-8, not \\u escapes
    assert result.stderr.strip().endswith(f"exported {len(lines)} messages of 1 conversation(s)")
    bad = CliRunner().invoke(main, ["export", "--conversation", "nope", "--dsn", dsn])
    assert (bad.exit_code, bad.stderr) == (2, "Error: conversation_id must be a UUID, got 'nope'\n")
    neither = CliRunner().invoke(main, ["export", "--dsn", dsn])
    assert (neither.exit_code, neither.stderr) == (2, "Error: export needs exactly one of user_id and conversation_id\n")


def test_memory_stays_flat_with_the_history_length_and_the_twin_grows(data):
    """Peak RSS of a fresh process exporting 100 messages and 20,000 messages of 1 kB (20 MB of content):
    streaming stays within a few MB; reading everything first (fetchall) grows with the history."""
    dsn, _ = data
    small = make_conversation(dsn, 100, 1000)
    large = make_conversation(dsn, 20_000, 1000)
    base = peak_rss_kb(dsn, small)
    streamed = peak_rss_kb(dsn, large)
    loaded = peak_rss_kb(dsn, large, how="fetchall")
    print(f"\nexport peak RSS: 100 messages {base / 1024:.1f} MB, 20,000 messages {streamed / 1024:.1f} MB "
          f"streamed, {loaded / 1024:.1f} MB with fetchall")
    assert streamed - base < 10 * 1024  # two batches of 1,000 1-kB rows in flight, and the allocator
    assert loaded - base > 40 * 1024
