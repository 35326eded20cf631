"""The read commands on a hot standby at head (check, doctor, lint --dsn, plans verify), each with a
drift twin made on the primary and replayed; and `plans verify --dsn` on a read-only database creates
nothing. The standby streams from the embedded server (tests/standby.py; skips in one line on DATABASE_URL)."""

from __future__ import annotations

import psycopg
import pytest
from click.testing import CliRunner
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from chatschema.cli import main
from chatschema.migrate import reference

READ_COMMANDS = {"check": ["check"], "doctor": ["doctor"], "lint --dsn": ["lint"], "plans verify": ["plans", "verify"]}

# What each command says about the drift below (an index on messages nobody asked for / a dropped one).
DRIFTED = {
    "check": "index ix_standby_extra is in the database but not in the models",
    "doctor": "ix_standby_extra",
    "lint --dsn": "ix_standby_extra",
}


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def dbname(settings) -> str:
    return conninfo_to_dict(settings.dsn)["dbname"]


@pytest.fixture()
def fresh_reference(monkeypatch):
    monkeypatch.setattr(reference, "_CACHE", {})  # head's schema made again, for a standby


@pytest.mark.parametrize("command", list(READ_COMMANDS))
def test_read_commands_pass_on_a_hot_standby(standby, seeded_plans, fresh_reference, command):
    standby.wait_caught_up()
    on_standby = standby.settings_for(dbname(seeded_plans.settings))
    with psycopg.connect(on_standby.dsn) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]
    result = run(*READ_COMMANDS[command], "--dsn", on_standby.dsn)
    assert result.exit_code == 0, result.output


@pytest.fixture()
def drifted_on_standby(standby, seeded_plans, new_database):
    """A copy of the seeded database with an extra index on messages, replayed on the standby."""
    settings = new_database("standby_drift", template=seeded_plans.settings)
    with psycopg.connect(settings.dsn, autocommit=True) as conn:
        conn.execute("CREATE INDEX ix_standby_extra ON messages (role)")
    standby.wait_caught_up()
    return standby.settings_for(dbname(settings))


@pytest.mark.parametrize("command", list(DRIFTED))
def test_drift_replayed_on_the_standby_is_named_there(drifted_on_standby, fresh_reference, command):
    result = run(*READ_COMMANDS[command], "--dsn", drifted_on_standby.dsn)
    assert result.exit_code == 1, result.output
    assert DRIFTED[command] in result.output


def test_a_dropped_index_fails_plans_verify_on_the_standby(standby, seeded_plans, new_database):
    """plans verify's twin: the primary loses the index load_messages needs; the standby's plans show it."""
    settings = new_database("standby_lost_index", template=seeded_plans.settings)
    with psycopg.connect(settings.dsn, autocommit=True) as conn:
        conn.execute("DROP INDEX ix_messages_conversation_recent")
    standby.wait_caught_up()
    result = run("plans", "verify", "--dsn", standby.settings_for(dbname(settings)).dsn, "--query", "load_messages")
    assert result.exit_code == 1, result.output
    assert "✗ load_messages.optimized" in result.output


CATALOG_SNAPSHOT = """
SELECT (SELECT count(*) FROM pg_class), (SELECT count(*) FROM pg_namespace), (SELECT count(*) FROM pg_proc),
       (SELECT count(*) FROM pg_type), (SELECT sum(n_tup_ins + n_tup_upd + n_tup_del) FROM pg_stat_user_tables)
"""


def test_plans_verify_on_a_read_only_database_creates_nothing(seeded_plans, new_database):
    settings = new_database("verify_read_only", template=seeded_plans.settings)
    with psycopg.connect(settings.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER DATABASE {} SET default_transaction_read_only = on").format(
            sql.Identifier(dbname(settings))))
    with psycopg.connect(settings.dsn) as conn:
        before = conn.execute(CATALOG_SNAPSHOT).fetchone()
    result = run("plans", "verify", "--dsn", settings.dsn)
    assert result.exit_code == 0, result.output
    with psycopg.connect(settings.dsn) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        assert conn.execute(CATALOG_SNAPSHOT).fetchone() == before
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):  # the twin: a write here is refused
            conn.execute("CREATE TABLE sneaky (id int)")
