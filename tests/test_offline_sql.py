"""`chatschema sql`: every revision's offline SQL renders, up and down, and runs under psql's rules."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from chatschema import migrate
from chatschema.cli import main

HISTORY = migrate.history()


@pytest.mark.parametrize("rev", HISTORY, ids=lambda r: r.revision)
def test_each_revision_renders_up_and_down(rev):
    low = rev.down_revision or "base"
    up = migrate.offline_sql(f"{low}:{rev.revision}")
    assert f"-- Running upgrade {rev.down_revision or ''}".replace("  ", " ") in up or "-- Running upgrade  ->" in up
    assert up.count("UPDATE chatschema_version") + up.count("INSERT INTO chatschema_version") == 1
    down = migrate.offline_sql(f"{rev.revision}:{low}")
    assert "-- Running downgrade" in down


def test_script_sets_timeouts_and_never_builds_concurrently_inside_a_transaction():
    script = migrate.offline_sql("base:head")
    assert script.startswith("SET lock_timeout = '500ms';\n\nSET statement_timeout = '60000ms';")
    in_transaction = False
    for chunk in script.split(";\n"):
        statement = "\n".join(line for line in chunk.splitlines() if not line.startswith("--")).strip()
        if statement.startswith("BEGIN"):
            in_transaction = True
        elif statement.startswith("COMMIT"):
            in_transaction = False
        elif "CONCURRENTLY" in statement and statement.startswith(("CREATE", "DROP")):
            assert not in_transaction, statement


def test_cli_prints_the_range_and_honours_timeouts():
    result = CliRunner().invoke(main, ["sql", "0005:0006", "--lock-timeout", "3s"])
    assert result.exit_code == 0
    assert result.output.startswith("SET lock_timeout = '3000ms';")
    assert "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_conversations_user_activity" in result.output
    assert "0007" not in result.output.replace("0007_", "")
