"""Deletes at scale: a conversation in committed batches, retention under writers, every summary exact."""

from __future__ import annotations

import random
import statistics
import threading
import time
import uuid

import psycopg
import pytest
from click.testing import CliRunner

from chatschema import api
from chatschema.cli import main
from chatschema.errors import ConfigError, NotFound
from chatschema.migrate.backfill import summary_mismatches
from chatschema.migrate.gates import GatePolicy
from chatschema.retention import delete_conversation, parse_cutoff, retention_counts, run_retention

from .skewed import Cases


@pytest.fixture
def data(skewed_databases, new_database) -> tuple[str, Cases]:
    """A fresh copy of the skewed data at head for each test: these tests delete."""
    return new_database("retention", template=skewed_databases.at_head).dsn, skewed_databases.cases


def count(conn, conv) -> int:
    return conn.execute("SELECT count(*) FROM messages WHERE conversation_id = %s", (conv,)).fetchone()[0]


# --- delete a conversation -----------------------------------------------------------------------------


def test_a_small_conversation_goes_in_one_statement(data):
    dsn, cases = data
    _, conv = cases.twenty
    with psycopg.connect(dsn, autocommit=True) as conn:
        done = delete_conversation(conn, conv, batch=20)
        assert (done.messages, done.batches) == (20, 0)
        assert count(conn, conv) == 0 and summary_mismatches(conn) == 0
        assert conn.execute("SELECT count(*) FROM conversations WHERE id = %s", (conv,)).fetchone() == (0,)
        with pytest.raises(NotFound, match=f"^conversation {conv} does not exist$"):
            delete_conversation(conn, conv)


def test_a_large_conversation_goes_in_batches_resumably_its_summary_exact_at_every_commit(data):
    dsn, cases = data
    _, conv = cases.longest[0]
    with psycopg.connect(dsn, autocommit=True) as conn:
        n = count(conn, conv)
        newest = conn.execute("SELECT last_message_id FROM conversations WHERE id = %s", (conv,)).fetchone()[0]
        first = delete_conversation(conn, conv, batch=500, stop_after_batches=3)  # interrupted
        assert (first.messages, first.batches) == (1500, 3)
        assert count(conn, conv) == n - 1500 and summary_mismatches(conn) == 0
        assert conn.execute("SELECT last_message_id FROM conversations WHERE id = %s", (conv,)).fetchone() == (newest,)
        rest = delete_conversation(conn, conv, batch=500)  # the re-run continues
        assert first.messages + rest.messages == n
        assert rest.batches == -(-(n - 1500 - 1) // 500)  # every message but the newest in batches
        assert count(conn, conv) == 0 and summary_mismatches(conn) == 0


def test_the_twin_the_summary_check_sees_a_pointer_to_a_deleted_message(data):
    dsn, cases = data
    _, conv = cases.ties
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM messages WHERE id = (SELECT last_message_id FROM conversations WHERE id = %s)",
                     (conv,))
        assert summary_mismatches(conn) == 1


def test_each_batch_holds_the_conversation_row_lock_so_a_send_waits_and_counts(data):
    """A send during a batched delete is serialised by the row lock and removed with the conversation."""
    dsn, cases = data
    owner, conv = cases.longest[0]
    with psycopg.connect(dsn, autocommit=True) as conn, psycopg.connect(dsn, autocommit=True) as sender:
        delete_conversation(conn, conv, batch=1000, stop_after_batches=1)
        api.send_message(sender, owner, conv, "user", "sent while it was being deleted")
        assert summary_mismatches(conn) == 0
        delete_conversation(conn, conv, batch=1000)
        assert count(conn, conv) == 0


# --- retention ---------------------------------------------------------------------------------------------


def _median_time(conn):
    return conn.execute("SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY created_at) FROM messages").fetchone()[0]


def test_the_dry_run_counts_and_changes_nothing(data):
    dsn, _ = data
    with psycopg.connect(dsn, autocommit=True) as conn:
        cutoff = _median_time(conn)
        before = conn.execute("SELECT count(*), sum(hashtext(id::text)) FROM messages").fetchone()
        counts = retention_counts(conn, cutoff)
        assert counts.messages == conn.execute(
            "SELECT count(*) FROM messages WHERE created_at < %s", (cutoff,)).fetchone()[0] > 0
        assert counts.summaries == conn.execute(
            "SELECT count(*) FROM conversations c WHERE message_count > 0 AND NOT EXISTS"
            " (SELECT FROM messages m WHERE m.conversation_id = c.id AND m.created_at >= %s)", (cutoff,)).fetchone()[0]
        assert conn.execute("SELECT count(*), sum(hashtext(id::text)) FROM messages").fetchone() == before
        done = run_retention(conn, cutoff, batch=700)  # without writers the run does exactly what was counted
        assert (done.messages, done.conversations, done.summaries_recomputed) == (
            counts.messages, counts.conversations, counts.summaries)
        assert done.batches > counts.messages // 700 and summary_mismatches(conn) == 0


def test_the_twin_a_plain_delete_leaves_summaries_pointing_at_deleted_messages(data):
    dsn, _ = data
    with psycopg.connect(dsn, autocommit=True) as conn:
        cutoff = _median_time(conn)
        conn.execute("DELETE FROM messages WHERE created_at < %s", (cutoff,))
        assert summary_mismatches(conn) > 0


def test_retention_under_four_writers_keeps_every_newer_message_and_every_summary_exact(data):
    dsn, cases = data
    with psycopg.connect(dsn, autocommit=True) as conn:
        cutoff = _median_time(conn)
        newer = {r[0] for r in conn.execute("SELECT id FROM messages WHERE created_at >= %s", (cutoff,))}
        counts = retention_counts(conn, cutoff)
        targets = conn.execute("SELECT user_id, id FROM conversations ORDER BY id").fetchall()
    stop = threading.Event()
    latencies: list[float] = []
    acknowledged: list[uuid.UUID] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def writer(n: int) -> None:
        rng = random.Random(n)
        try:
            with psycopg.connect(dsn, autocommit=True) as w:
                while not stop.is_set():
                    owner, conv = rng.choice(targets)
                    started = time.perf_counter()
                    sent = api.send_message(w, owner, conv, "user", f"writer {n}")
                    with lock:
                        latencies.append((time.perf_counter() - started) * 1000)
                        acknowledged.append(sent.id)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    before = len(latencies)
    with psycopg.connect(dsn, autocommit=True) as conn:
        done = run_retention(conn, cutoff, batch=2000, gates=GatePolicy())
    during = latencies[before:]
    stop.set()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    with psycopg.connect(dsn) as conn:
        present = {r[0] for r in conn.execute("SELECT id FROM messages")}
        assert conn.execute("SELECT count(*) FROM messages WHERE created_at < %s", (cutoff,)).fetchone() == (0,)
        assert newer <= present and set(acknowledged) <= present
        assert summary_mismatches(conn) == 0
    # writers may have given some of those conversations a newer message before their batch came
    assert done.messages == counts.messages and 0 < done.summaries_recomputed <= counts.summaries
    p99 = statistics.quantiles(during, n=100)[98] if len(during) >= 100 else max(during)
    print(f"\nretention: {done.messages:,} messages deleted in {done.batches} batches ({done.seconds:.1f} s), "
          f"{done.summaries_recomputed:,} summaries recomputed; 4 writers sent {len(during):,} messages meanwhile, "
          f"p50 {statistics.median(during):.1f} ms, p99 {p99:.1f} ms")


def test_cutoffs_parse_ages_dates_and_refuse_the_rest():
    from datetime import datetime, timedelta, timezone

    now = datetime(2026, 12, 1, 12, tzinfo=timezone.utc)
    assert parse_cutoff("90d", now) == now - timedelta(days=90)
    assert parse_cutoff("12h", now) == now - timedelta(hours=12)
    assert parse_cutoff("2026-01-01", now) == datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert parse_cutoff("2026-01-01T05:00:00+02:00", now) == datetime(2026, 1, 1, 3, tzinfo=timezone.utc)
    with pytest.raises(ConfigError, match="^--older-than: expected an age such as 90d"):
        parse_cutoff("soon", now)
    with pytest.raises(ConfigError, match="^--older-than: a datetime needs a UTC offset"):
        parse_cutoff("2026-01-01T05:00:00", now)


def test_the_cli_counts_first_and_refuses_in_one_line(data):
    dsn, cases = data
    with psycopg.connect(dsn) as conn:
        before = conn.execute("SELECT count(*) FROM messages").fetchone()[0]
    dry = CliRunner().invoke(main, ["retention", "--older-than", "2026-03-01", "--dry-run", "--dsn", dsn])
    assert dry.exit_code == 0, dry.output
    assert dry.stdout.startswith("would delete ") and " messages older than 2026-03-01T00:00:00+00:00 in " in dry.stdout
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == before
    bad = CliRunner().invoke(main, ["retention", "--older-than", "soon", "--dsn", dsn])
    assert (bad.exit_code, bad.stderr.count("\n")) == (2, 1) and bad.stderr.startswith("Error: --older-than: ")
    missing = uuid.uuid4()
    gone = CliRunner().invoke(main, ["delete-conversation", str(missing), "--dsn", dsn])
    assert (gone.exit_code, gone.stderr) == (2, f"Error: conversation {missing} does not exist\n")
    _, conv = cases.twenty
    ok = CliRunner().invoke(main, ["delete-conversation", str(conv), "--dsn", dsn])
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.startswith(f"✓ deleted conversation {conv} and its 20 messages in one statement")
