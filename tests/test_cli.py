"""The CLI: exit codes, exact messages for bad input, and nothing changed when a command refuses."""

from __future__ import annotations

import threading
import time

import click
import psycopg
import pytest
from click.testing import CliRunner

from chatschema import migrate
from chatschema.cli import main
from chatschema.settings import Settings

HEAD = migrate.head()
CHAIN = [r.revision for r in migrate.history()]


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def dsn_args(settings) -> list[str]:
    return ["--dsn", settings.dsn]


UNREACHABLE = "postgresql://nobody@127.0.0.1:1/chat"  # nothing listens on port 1


def commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command the CLI offers, as the words that invoke it (subgroups walked, not listed)."""
    found: list[tuple[str, ...]] = []
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            found += commands(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


COMMANDS = commands(main)


def test_the_commands_users_know_are_still_there():
    assert {("upgrade",), ("downgrade",), ("current",), ("history",), ("sql",), ("check",), ("lint",), ("doctor",),
            ("views", "refresh"), ("demo",), ("seed",), ("bench",), ("docs",), ("queries", "list"),
            ("queries", "show"), ("plans", "verify"), ("plans", "show"), ("plans", "docs")} <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help_with_an_example(command):
    result = run(*command, "--help")
    assert result.exit_code == 0
    assert "Example:" in result.output


def test_upgrade_then_current_then_check(new_database):
    settings = new_database("cli")
    result = run("upgrade", *dsn_args(settings))
    assert result.exit_code == 0, result.output
    assert "0004" in result.output and f"Upgraded to {HEAD} ({len(CHAIN)} revisions" in result.output
    assert run("current", *dsn_args(settings)).output.strip() == f"{HEAD} (head)"
    result = run("check", *dsn_args(settings))
    assert result.exit_code == 0 and "matches the models" in result.output
    assert run("upgrade", *dsn_args(settings)).output.strip() == "Already at head; nothing to do."


@pytest.mark.parametrize("command", [["upgrade"], ["downgrade"], ["upgrade", "--dry-run"]], ids=" ".join)
def test_unknown_revision_is_refused_before_connecting(command):
    """Nothing listens on port 1: a command that connected first would fail with "cannot connect"
    (test_unreachable_server_names_the_host) instead."""
    result = run(*command, "0099", "--dsn", UNREACHABLE)
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"Error: unknown revision '0099'; known revisions are {', '.join(CHAIN)} "
        "(see `chatschema history`)"
    )


def test_unreachable_server_names_the_host():
    result = run("current", "--dsn", UNREACHABLE)
    assert result.exit_code == 2
    assert result.output.startswith("Error: cannot connect to PostgreSQL at 127.0.0.1:1/chat: ")


def test_database_at_a_revision_this_code_does_not_know(new_database):
    settings = new_database("future")
    migrate.upgrade(settings, "0002")
    with psycopg.connect(settings.dsn) as conn:
        conn.execute("UPDATE chatschema_version SET version_num = '9f9f'")
    for command in (["upgrade"], ["current"], ["check"], ["downgrade", "0001"]):
        result = run(*command, *dsn_args(settings))
        assert result.exit_code == 2, command
        assert result.output.strip() == (
            "Error: the database is at revision '9f9f', which this version of chatschema does not know "
            "(migrated by a newer chatschema or another tool); nothing was changed"
        )
    with psycopg.connect(settings.dsn) as conn:
        assert conn.execute("SELECT to_regclass('ix_messages_conversation_recent')").fetchone()[0] is not None


# These tests' CHATSCHEMA_LONG_TRANSACTION: lock holders at least this old are named.
LONG_TRANSACTION_S = 0.1


@pytest.fixture
def long_transaction(monkeypatch):
    monkeypatch.setenv("CHATSCHEMA_LONG_TRANSACTION", f"{LONG_TRANSACTION_S * 1000:.0f}ms")


def hold(settings, statement: str, *, seconds: float = LONG_TRANSACTION_S + 0.05):
    """Another session that has run ``statement`` and keeps its locks (idle in transaction)."""
    holder = psycopg.connect(settings.dsn)
    holder.execute(statement)
    time.sleep(seconds)  # old enough to be named as a long transaction
    return holder


def test_lock_that_cannot_be_taken_is_retried_then_names_table_and_holder_and_changes_nothing(
        new_database, long_transaction):
    settings = new_database("locked")
    migrate.upgrade(settings, "0002")
    holder = hold(settings, "SELECT count(*) FROM conversations")  # ACCESS SHARE, held until rollback
    try:
        holder_pid = holder.info.backend_pid
        result = run("upgrade", "0003", "--lock-timeout", "300ms", "--lock-retries", "2", "--retry-delay", "50ms",
                     *dsn_args(settings))
    finally:
        holder.rollback()
        holder.close()
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    # the policy is printed before the run
    assert lines[1].startswith("  - strong locks (SHARE and stronger: ALTER TABLE, DROP, plain CREATE INDEX, REFRESH): "
                               "lock_timeout 300ms, statement_timeout 1min, a revision that times out on a lock is "
                               "rolled back and retried up to 2 times")
    # each attempt names the holder before it queues, and each timeout is retried with backoff
    before = [line for line in lines if line.startswith("warning: alter table needs ACCESS EXCLUSIVE on conversations")]
    assert len(before) == 3 and all(f"pid {holder_pid} (AccessShareLock, idle in transaction" in b for b in before)
    retries = [line for line in lines if line.startswith("warning: lock_timeout expired in revision 0003")]
    assert [r.split("; ")[-1].split(" in ")[0] for r in retries] == ["retry 1 of 2", "retry 2 of 2"]
    message = lines[-1]
    assert message.startswith(
        "Error: lock_timeout (300ms) expired waiting for ACCESS EXCLUSIVE on conversations in revision 0003 after "
        "3 attempts over "
    )
    assert (f"each rolled back; held by pid {holder_pid} (AccessShareLock, idle in transaction, transaction open "
            in message)
    assert "s): SELECT count(*) FROM conversations. Nothing of revision 0003 was kept; the database is at 0002." in message
    assert message.endswith(
        f"Re-run when that session ends (or end it: SELECT pg_terminate_backend({holder_pid})), "
        "or raise --lock-timeout or --lock-retries."
    )
    assert migrate.current(settings) == "0002"
    with psycopg.connect(settings.dsn) as conn:
        cols = {r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'conversations'")}
        assert "message_count" not in cols


WAITING = """
SELECT count(*) FROM pg_locks
 WHERE relation = 'messages'::regclass AND mode = 'AccessExclusiveLock' AND NOT granted
"""


def test_a_retry_succeeds_once_the_holder_lets_go(new_database):
    settings = new_database("retried")
    migrate.upgrade(settings, "0002")
    holder = hold(settings, "SELECT count(*) FROM messages", seconds=0)

    def let_go_after_the_first_timeout() -> None:
        # Watch the migration queue for its lock, give up (lock_timeout), and only then let go.
        with psycopg.connect(settings.dsn, autocommit=True) as watcher:
            for expected in (1, 0):
                deadline = time.monotonic() + 20
                while watcher.execute(WAITING).fetchone()[0] != expected and time.monotonic() < deadline:
                    time.sleep(0.01)
        holder.rollback()

    releaser = threading.Thread(target=let_go_after_the_first_timeout)
    releaser.start()
    try:
        result = run("upgrade", "0003", "--lock-timeout", "200ms", "--lock-retries", "5", "--retry-delay", "300ms",
                     *dsn_args(settings))
    finally:
        releaser.join(30)
        holder.close()
    assert result.exit_code == 0, result.output
    assert "warning: lock_timeout expired in revision 0003" in result.output
    assert "retry 1 of 5" in result.output
    assert "Upgraded to 0003 (1 revision" in result.output
    assert migrate.current(settings) == "0003"


def test_a_holder_younger_than_a_long_transaction_is_not_named(new_database, monkeypatch):
    """The twin of the test above: the same lock held by a transaction younger than the threshold."""
    monkeypatch.setenv("CHATSCHEMA_LONG_TRANSACTION", "1h")
    settings = new_database("younglock")
    migrate.upgrade(settings, "0002")
    holder = hold(settings, "SELECT count(*) FROM conversations")
    try:
        holder_pid = holder.info.backend_pid
        result = run("upgrade", "0003", "--lock-timeout", "100ms", "--lock-retries", "0", *dsn_args(settings))
    finally:
        holder.rollback()
        holder.close()
    assert result.exit_code == 2
    message = result.output.strip().splitlines()[-1]
    assert message.startswith(
        "Error: lock_timeout (100ms) expired waiting for ACCESS EXCLUSIVE on conversations in revision 0003")
    # not named before it queued; named once it timed out, since it is what the migration waited for
    assert "which these sessions hold conflicting locks" not in result.output
    assert f"held by pid {holder_pid} (AccessShareLock, idle in transaction" in message
    assert migrate.current(settings) == "0002"


def test_a_downgrade_under_a_held_lock_fails_cleanly(new_database, long_transaction):
    settings = new_database("downlocked")
    migrate.upgrade(settings, "0003")
    holder = hold(settings, "SELECT count(*) FROM conversations")
    holder_pid = holder.info.backend_pid
    try:
        result = run("downgrade", "0002", "--lock-timeout", "200ms", "--lock-retries", "1", "--retry-delay", "10ms",
                     *dsn_args(settings))
    finally:
        holder.rollback()
        holder.close()
    assert result.exit_code == 2
    assert "warning: lock_timeout expired in revision 0003 (alter table: ACCESS EXCLUSIVE on " in result.output
    message = result.output.strip().splitlines()[-1]
    assert message.startswith("Error: lock_timeout (200ms) expired waiting for ACCESS EXCLUSIVE on ")
    assert f"held by pid {holder_pid} (AccessShareLock" in message
    assert "Nothing of revision 0003 was kept; the database is at 0003." in message
    assert migrate.current(settings) == "0003"
    with psycopg.connect(settings.dsn) as conn:
        cols = {r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'conversations'")}
        assert {"message_count", "last_activity_at"} <= cols


def test_a_lock_timeout_not_below_deadlock_timeout_is_warned_about(new_database):
    settings = new_database("deadlockwarn")
    result = run("upgrade", "0001", "--lock-timeout", "2s", *dsn_args(settings))
    assert result.exit_code == 0, result.output
    assert ("warning: lock_timeout 2s is not below the server's deadlock_timeout 1s: when an application transaction "
            "and this migration wait on each other, PostgreSQL will cancel the application's transaction instead of "
            "the migration's statement; use a --lock-timeout below 1s") in result.output
    assert "deadlock_timeout" not in run("upgrade", "0002", *dsn_args(settings)).output


def test_policy_comes_from_options_then_environment_then_defaults(monkeypatch):
    for var in ("CHATSCHEMA_LOCK_TIMEOUT", "CHATSCHEMA_LOCK_RETRIES", "CHATSCHEMA_CONCURRENT_LOCK_TIMEOUT",
                "CHATSCHEMA_BACKFILL_PAUSE"):
        monkeypatch.delenv(var, raising=False)
    defaults = Settings.resolve(dsn="x")
    assert (defaults.lock_timeout_ms, defaults.statement_timeout_ms, defaults.concurrent_lock_timeout_ms,
            defaults.concurrent_statement_timeout_ms, defaults.lock_retries, defaults.retry_delay_ms,
            defaults.backfill_batch_size, defaults.backfill_pause_ms) == (500, 60_000, 900_000, 0, 5, 1000, 2000, 0)
    monkeypatch.setenv("CHATSCHEMA_LOCK_RETRIES", "7")
    monkeypatch.setenv("CHATSCHEMA_CONCURRENT_LOCK_TIMEOUT", "1h")
    monkeypatch.setenv("CHATSCHEMA_BACKFILL_PAUSE", "50ms")
    from_env = Settings.resolve(dsn="x")
    assert (from_env.lock_retries, from_env.concurrent_lock_timeout_ms, from_env.backfill_pause_ms) == (7, 3_600_000, 50)
    assert Settings.resolve(dsn="x", lock_retries="2", backfill_pause="0").lock_retries == 2


def test_dry_run_prints_the_plan_and_changes_nothing(new_database, monkeypatch):
    settings = new_database("dryrun")
    migrate.upgrade(settings, "0001")
    monkeypatch.setenv("CHATSCHEMA_LOCK_RETRIES", "7")
    result = run("upgrade", "--dry-run", "--lock-timeout", "3s", *dsn_args(settings))
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"(nothing is changed): upgrade 0001 -> {HEAD}. Lock policy:" in out
    assert "lock_timeout 3s, statement_timeout 1min, a revision that times out on a lock is rolled back and retried " \
           "up to 7 times" in out
    for rev in CHAIN[1:]:
        assert f"\n{rev}  " in out
    assert ("CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_messages_conversation_recent ON messages" in out)
    assert "SHARE UPDATE EXCLUSIVE on messages (" in out and "reads and writes continue [autocommit; lock_timeout 15min" in out
    assert "ACCESS EXCLUSIVE on conversations (" in out and "blocks reads and writes [in the revision transaction; lock_timeout 3s" in out
    assert "rows" in out and "kB" in out
    # 0008's ADD CONSTRAINT ... NOT VALID: milliseconds, no scan; its VALIDATEs let reads and writes through
    assert out.rstrip().splitlines()[-1].startswith(
        "Locks that block reads or writes of a live table: ACCESS EXCLUSIVE on messages (0003, waits at most 3s); "
        "ACCESS EXCLUSIVE on conversations (0003, waits at most 3s); ACCESS EXCLUSIVE on conversations (0008, waits at most "
        "3s); ACCESS EXCLUSIVE on messages (0008, waits at most 3s)")
    assert migrate.current(settings) == "0001"
    with psycopg.connect(settings.dsn) as conn:
        assert conn.execute("SELECT to_regclass('ix_messages_conversation_recent')").fetchone()[0] is None
    result = run("downgrade", "base", "--dry-run", *dsn_args(settings))
    assert result.exit_code == 0, result.output
    assert "downgrade 0001 -> base" in result.output and "DROP TABLE messages" in result.output
    assert migrate.current(settings) == "0001"


def test_bad_durations_and_versions_are_usage_errors(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)  # --pg-version only matters for the embedded server
    result = run("current", "--lock-timeout", "soon")
    assert result.exit_code == 2
    assert result.output.strip() == "Error: --lock-timeout: expected a duration such as 500ms, 2s or 15min, got 'soon'"
    result = run("current", "--pg-version", "13")
    assert result.exit_code == 2
    assert result.output.strip() == (
        "Error: --pg-version: the embedded server ships PostgreSQL 16 and 18, not 13; pass --dsn to use another server"
    )


def test_views_refresh_concurrently(new_database):
    settings = new_database("views")
    migrate.upgrade(settings)
    result = run("views", "refresh", "--concurrently", *dsn_args(settings))
    assert result.exit_code == 0, result.output
    assert "refreshed user_daily_messages concurrently" in result.output
    assert "refreshed daily_message_totals concurrently" in result.output


def test_views_refresh_before_the_views_exist(new_database):
    settings = new_database("noviews")
    migrate.upgrade(settings, "0006")
    result = run("views", "refresh", *dsn_args(settings))
    assert result.exit_code == 2
    assert result.output.strip() == (
        "Error: materialized view user_daily_messages does not exist; run `chatschema upgrade` first"
    )
