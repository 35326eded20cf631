"""The migration chain: every revision up and down, on a populated database, losing nothing."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace

import psycopg
import pytest

from chatschema import doctor, migrate
from chatschema.migrate import backfill
from chatschema.check import check
from chatschema.errors import MigrationFailed
from chatschema.settings import Settings

from .populate import checksums, populate, summary_mismatches

REVISIONS = [r.revision for r in migrate.history()]


@pytest.fixture(scope="module")
def populated(new_database):
    settings = new_database("populated")
    migrate.upgrade(settings, "0001")
    with psycopg.connect(settings.dsn) as conn:
        populate(conn)
        before = checksums(conn)
    return settings, before


def test_chain_is_linear_and_named():
    assert REVISIONS[:8] == ["0001", "0002", "0003", "0004", "0005", "0006", "0007", "0008"]
    assert REVISIONS == [f"{n:04d}" for n in range(1, len(REVISIONS) + 1)]
    assert all(r.title and r.doc for r in migrate.history())


def test_up_down_up_loses_nothing_and_summaries_are_exact(populated):
    settings, before = populated
    migrate.upgrade(settings, "head")
    with psycopg.connect(settings.dsn) as conn:
        assert checksums(conn) == before
        assert summary_mismatches(conn) == 0
        assert conn.execute("SELECT count(*) FROM conversations WHERE message_count > 0").fetchone()[0] > 0
    assert check(settings)[2] == []

    migrate.downgrade(settings, "0001")
    with psycopg.connect(settings.dsn) as conn:
        assert checksums(conn) == before
        columns = {r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'conversations'")}
        assert columns == {"id", "user_id", "title", "created_at", "updated_at"}
        indexes = {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")}
        assert indexes == {"users_pkey", "conversations_pkey", "messages_pkey", "chatschema_version_pkc",
                           "ix_conversations_user_id", "ix_messages_conversation_id"}

    migrate.upgrade(settings, "head")
    with psycopg.connect(settings.dsn) as conn:
        assert checksums(conn) == before
        assert summary_mismatches(conn) == 0


@pytest.mark.parametrize("revision", REVISIONS, ids=lambda r: f"rev{r}")
def test_each_revision_goes_down_and_up_again(new_database, revision):
    settings = new_database(f"step{revision}")
    migrate.upgrade(settings, revision)
    parent = next(r.down_revision for r in migrate.history() if r.revision == revision) or "base"
    down = migrate.downgrade(settings, parent)
    assert [r.revision for r in down] == [revision]
    assert migrate.current(settings) == (None if parent == "base" else parent)
    up = migrate.upgrade(settings, revision)
    assert [r.revision for r in up] == [revision]


def test_summary_columns_are_added_without_a_table_rewrite(populated, new_database):
    settings = new_database("rewrite")
    migrate.upgrade(settings, "0002")
    with psycopg.connect(settings.dsn) as conn:
        populate(conn, users=20, conversations=200, messages=2000)
        node = conn.execute("SELECT pg_relation_filenode('conversations')").fetchone()[0]
    migrate.upgrade(settings, "0003")
    with psycopg.connect(settings.dsn) as conn:
        assert conn.execute("SELECT pg_relation_filenode('conversations')").fetchone()[0] == node


def test_backfill_stopped_half_way_resumes_and_ends_exact(new_database):
    settings = new_database("resume")
    migrate.upgrade(settings, "0001")
    with psycopg.connect(settings.dsn) as conn:
        populate(conn, users=50, conversations=1000, messages=8000)
    migrate.upgrade(settings, "0003")
    with psycopg.connect(settings.dsn, autocommit=True) as conn:
        first = backfill.run(conn, batch_size=100, stop_after_batches=3)
        assert first == 300
        done, finished = conn.execute(
            "SELECT rows_done, finished_at FROM chatschema_backfill WHERE name = %s", (backfill.NAME,)).fetchone()
        assert (done, finished) == (300, None)
        assert summary_mismatches(conn) > 0  # the rest is not done yet
    # the revision itself resumes from the checkpoint rather than starting over
    seen: list[int] = []
    migrate.upgrade(settings, "0004", progress=lambda name, n, total: seen.append(n))
    assert seen == [1000]  # one batch of the remaining 700, counted on from 300
    with psycopg.connect(settings.dsn) as conn:
        assert summary_mismatches(conn) == 0
        assert conn.execute("SELECT rows_done FROM chatschema_backfill").fetchone()[0] == 1000


def wait_for(probe, *, timeout: float = 30.0, every: float = 0.05):
    """Poll ``probe`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := probe():
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {probe}")


INDEX_STATE = """
SELECT i.indexrelid, i.indisvalid FROM pg_index i
WHERE i.indexrelid = to_regclass('ix_messages_conversation_recent')
"""


def hold_snapshot(settings: Settings, *, seconds: float) -> psycopg.Connection:
    """A transaction holding an old snapshot, ``seconds`` old: a concurrent build waits for it after its scans."""
    holder = psycopg.connect(settings.dsn)
    holder.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    holder.execute("SELECT count(*) FROM users")
    time.sleep(seconds)
    return holder


def test_a_concurrent_build_cancelled_half_way_leaves_an_invalid_index_that_the_rerun_repairs(new_database):
    # sessions whose transaction is 100 ms old are named; the holder is just older
    settings = replace(new_database("cancelled"), long_transaction_ms=100)
    migrate.upgrade(settings, "0001")
    with psycopg.connect(settings.dsn) as conn:
        populate(conn, users=20, conversations=200, messages=2000)
    # The build is cancelled while it waits for the holder, with the index entered in the catalog
    # but not yet valid.
    holder = hold_snapshot(settings, seconds=0.15)
    holder_pid = holder.info.backend_pid
    warnings: list[str] = []
    outcome: dict[str, BaseException] = {}

    def migrate_in_background() -> None:
        try:
            migrate.upgrade(settings, "0002", on_warning=warnings.append)
        except BaseException as exc:  # handed to the test thread
            outcome["error"] = exc

    worker = threading.Thread(target=migrate_in_background)
    worker.start()
    try:
        with psycopg.connect(settings.dsn, autocommit=True) as watcher:
            pid = wait_for(lambda: watcher.execute(
                "SELECT pid FROM pg_stat_progress_create_index WHERE phase = 'waiting for old snapshots'").fetchone())
            watcher.execute("SELECT pg_cancel_backend(%s)", pid)
        worker.join(30)
    finally:
        holder.rollback()
        holder.close()
    error = outcome.get("error")
    assert isinstance(error, MigrationFailed)
    assert str(error) == (
        "revision 0002 was cancelled while running CREATE INDEX CONCURRENTLY IF NOT EXISTS "
        "ix_messages_conversation_recent ON messages (conversation_id, created_at DESC, id DESC) INCLUDE (role) "
        "(statement_timeout is off for it, so another session cancelled it, e.g. pg_cancel_backend, or the server "
        "is shutting down). It may leave an INVALID index behind; the next `chatschema upgrade` drops and rebuilds "
        "it. The database is at 0001; re-run to continue."
    )
    # before the build, the session it would wait for was named
    assert len(warnings) == 1
    assert warnings[0].startswith(
        "create index concurrently on messages will wait for these sessions (it waits for every transaction "
        f"holding an older snapshot, up to lock_timeout 15min): pid {holder_pid} (idle in transaction, "
        "transaction open ")
    assert warnings[0].endswith("s): SELECT count(*) FROM users")
    assert migrate.current(settings) == "0001"
    with psycopg.connect(settings.dsn) as conn:
        debris, valid = conn.execute(INDEX_STATE).fetchone()
        assert valid is False
    assert [(f.kind, f.name) for f in doctor.diagnose(settings) if f.kind == "invalid-index"] == [
        ("invalid-index", "ix_messages_conversation_recent")]

    assert [r.revision for r in migrate.upgrade(settings, "0002")] == ["0002"]
    with psycopg.connect(settings.dsn) as conn:
        rebuilt, valid = conn.execute(INDEX_STATE).fetchone()
        assert valid is True and rebuilt != debris
        assert conn.execute("SELECT to_regclass('ix_messages_conversation_id')").fetchone()[0] is None
    assert [f for f in doctor.diagnose(settings) if f.kind == "invalid-index"] == []


def test_a_snapshot_younger_than_a_long_transaction_is_not_named_before_a_concurrent_build(new_database):
    """The twin of the test above: the build waits for the same kind of holder, too young to be named."""
    settings = replace(new_database("youngsnapshot"), long_transaction_ms=3_600_000)
    migrate.upgrade(settings, "0001")
    with psycopg.connect(settings.dsn) as conn:
        populate(conn, users=10, conversations=50, messages=500)
    holder = hold_snapshot(settings, seconds=0.15)

    def let_go_once_the_build_waits() -> None:
        with psycopg.connect(settings.dsn, autocommit=True) as watcher:
            wait_for(lambda: watcher.execute(
                "SELECT 1 FROM pg_stat_progress_create_index WHERE phase = 'waiting for old snapshots'").fetchone())
        holder.rollback()

    releaser = threading.Thread(target=let_go_once_the_build_waits)
    releaser.start()
    warnings: list[str] = []
    try:
        applied = migrate.upgrade(settings, "0002", on_warning=warnings.append)
    finally:
        releaser.join(30)
        holder.close()
    assert [r.revision for r in applied] == ["0002"]
    assert warnings == []


def test_backfill_killed_mid_way_resumes_where_it_stopped_and_ends_exact(new_database):
    settings = replace(new_database("killed"), backfill_batch_size=100)
    migrate.upgrade(settings, "0001")
    with psycopg.connect(settings.dsn) as conn:
        populate(conn, users=50, conversations=3000, messages=20000)
    migrate.upgrade(settings, "0003")
    command = [sys.executable, "-c", "from chatschema.cli import main; main()", "upgrade", "0004", "--dsn",
               settings.dsn, "--backfill-batch-size", "100", "--backfill-pause", "100ms",
               "--backfill-target-time", "0"]  # fixed batches: the checkpoint moves in hundreds
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        with psycopg.connect(settings.dsn, autocommit=True) as watcher:
            def rows_done() -> int:
                state = backfill.status(watcher)
                return state.rows_done if state else 0

            wait_for(lambda: rows_done() >= 500)
            process.send_signal(signal.SIGKILL)
            process.wait(10)
            killed_at = rows_done()
            state = backfill.status(watcher)
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()
    assert process.returncode == -signal.SIGKILL
    assert state is not None and not state.finished
    assert 500 <= killed_at < 3000 and killed_at % 100 == 0  # only whole, committed batches count
    assert migrate.current(settings) == "0003"

    seen: list[int] = []
    migrate.upgrade(settings, "0004", progress=lambda name, done, total: seen.append(done))
    assert seen[0] == killed_at + 100  # continues after the last committed batch, does not restart
    assert seen[-1] == 3000
    with psycopg.connect(settings.dsn) as conn:
        final = backfill.status(conn)
        assert final is not None and (final.rows_done, final.finished) == (3000, True)
        assert summary_mismatches(conn) == 0


def test_retries_back_off_exponentially_with_jitter_and_a_cap():
    settings = Settings(retry_delay_ms=1000, retry_max_delay_ms=30_000)
    rng = random.Random(7)
    for attempt, (low, high) in {1: (0.5, 1), 2: (1, 2), 3: (2, 4), 5: (8, 16), 6: (15, 30), 12: (15, 30)}.items():
        delays = [migrate.backoff(settings, attempt, rng) for _ in range(50)]
        assert all(low <= d <= high for d in delays), (attempt, min(delays), max(delays))
        assert len(set(delays)) > 1  # jittered


def test_offline_backfill_is_throttled_like_the_online_one():
    script = migrate.offline_sql("0003:0004", replace(Settings(), backfill_batch_size=500, backfill_pause_ms=250))
    assert "LIMIT 500 FOR UPDATE" in script
    assert "COMMIT;\n        PERFORM pg_sleep(0.25);\n    END LOOP;" in script


def test_an_index_another_session_is_building_is_left_alone(new_database):
    """INVALID because it is being built right now (pg_stat_progress_create_index), not debris: not dropped."""
    settings = new_database("building")
    migrate.upgrade(settings, "0001")
    with psycopg.connect(settings.dsn) as conn:
        populate(conn, users=10, conversations=50, messages=500)
    holder = hold_snapshot(settings, seconds=0)
    builder = psycopg.connect(settings.dsn, autocommit=True)
    outcome: list[BaseException] = []

    def build_by_hand() -> None:
        try:
            builder.execute("CREATE INDEX CONCURRENTLY ix_messages_conversation_recent ON messages (conversation_id)")
        except psycopg.errors.QueryCanceled as exc:
            outcome.append(exc)

    build = threading.Thread(target=build_by_hand)
    build.start()
    try:
        with psycopg.connect(settings.dsn, autocommit=True) as watcher:
            wait_for(lambda: watcher.execute(
                "SELECT 1 FROM pg_stat_progress_create_index WHERE phase = 'waiting for old snapshots'").fetchone())
            with pytest.raises(MigrationFailed) as refused:
                migrate.upgrade(settings, "0002")
            assert str(refused.value) == (
                f"index ix_messages_conversation_recent is being built right now by pid {builder.info.backend_pid} "
                "(see pg_stat_progress_create_index); wait for that build to finish, then re-run"
            )
            watcher.execute("SELECT pg_cancel_backend(%s)", (builder.info.backend_pid,))
        build.join(10)
    finally:
        holder.rollback()
        holder.close()
        builder.close()
    assert len(outcome) == 1  # the hand-made build was cancelled by the test, not by the migration
    assert migrate.current(settings) == "0001"
    assert [r.revision for r in migrate.upgrade(settings, "0002")] == ["0002"]
