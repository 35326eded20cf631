"""The CLI: exit codes, exact messages for bad input, and nothing changed when a command refuses."""

from __future__ import annotations

import threading

import psycopg
import pytest
from click.testing import CliRunner

from chatschema import migrate
from chatschema.cli import main


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def dsn_args(settings) -> list[str]:
    return ["--dsn", settings.dsn]


COMMANDS = [["upgrade"], ["downgrade"], ["current"], ["history"], ["sql"], ["check"], ["views", "refresh"], ["demo"]]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c))
def test_every_command_has_help_with_an_example(command):
    result = run(*command, "--help")
    assert result.exit_code == 0
    assert "Example:" in result.output


def test_upgrade_then_current_then_check(new_database):
    settings = new_database("cli")
    result = run("upgrade", *dsn_args(settings))
    assert result.exit_code == 0, result.output
    assert "0004" in result.output and "Upgraded to 0007 (7 revisions" in result.output
    assert run("current", *dsn_args(settings)).output.strip() == "0007 (head)"
    result = run("check", *dsn_args(settings))
    assert result.exit_code == 0 and "matches the models" in result.output
    assert run("upgrade", *dsn_args(settings)).output.strip() == "Already at head; nothing to do."


def test_unknown_revision_is_refused_before_connecting(new_database):
    settings = new_database("unknown")
    result = run("upgrade", "0099", *dsn_args(settings))
    assert result.exit_code == 2
    assert result.output.strip() == (
        "Error: unknown revision '0099'; known revisions are 0001, 0002, 0003, 0004, 0005, 0006, 0007 "
        "(see `chatschema history`)"
    )
    assert migrate.current(settings) is None


def test_unreachable_server_names_the_host():
    result = run("current", "--dsn", "postgresql://nobody@127.0.0.1:1/chat")
    assert result.exit_code == 2
    assert result.output.startswith("Error: cannot connect to PostgreSQL at 127.0.0.1:1/chat: ")


def test_database_at_a_revision_this_code_does_not_know(new_database):
    settings = new_database("future")
    migrate.upgrade(settings, "0002")
    with psycopg.connect(settings.dsn) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9f9f'")
    for command in (["upgrade"], ["current"], ["check"], ["downgrade", "0001"]):
        result = run(*command, *dsn_args(settings))
        assert result.exit_code == 2, command
        assert result.output.strip() == (
            "Error: the database is at revision '9f9f', which this version of chatschema does not know "
            "(migrated by a newer chatschema or another tool); nothing was changed"
        )
    with psycopg.connect(settings.dsn) as conn:
        assert conn.execute("SELECT to_regclass('ix_messages_conversation_recent')").fetchone()[0] is not None


def test_lock_that_cannot_be_taken_names_table_and_holder_and_changes_nothing(new_database):
    settings = new_database("locked")
    migrate.upgrade(settings, "0002")
    holder = psycopg.connect(settings.dsn)
    try:
        holder.execute("SELECT count(*) FROM conversations")  # ACCESS SHARE, held until rollback
        holder_pid = holder.info.backend_pid
        result = run("upgrade", "0003", "--lock-timeout", "300ms", *dsn_args(settings))
    finally:
        holder.rollback()
        holder.close()
    assert result.exit_code == 2
    message = result.output.strip()
    assert message.startswith(
        f"Error: lock_timeout (300 ms) expired waiting for a lock on conversations; held by pid {holder_pid} "
        "(AccessShareLock, idle in transaction, transaction open"
    )
    assert "SELECT count(*) FROM conversations" in message
    assert message.endswith("Re-run when that session ends, or raise --lock-timeout.")
    assert migrate.current(settings) == "0002"
    with psycopg.connect(settings.dsn) as conn:
        cols = {r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'conversations'")}
        assert "message_count" not in cols


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
