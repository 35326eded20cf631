"""`chatschema check`: passes at head, and fails naming the difference when an index's shape drifts."""

from __future__ import annotations

import psycopg
import pytest
from click.testing import CliRunner

from chatschema import migrate
from chatschema.cli import main


@pytest.fixture()
def at_head(new_database):
    settings = new_database("check")
    migrate.upgrade(settings)
    return settings


def check(settings):
    return CliRunner().invoke(main, ["check", "--dsn", settings.dsn], catch_exceptions=False)


def rebuild(settings, ddl: str) -> None:
    with psycopg.connect(settings.dsn, autocommit=True) as conn:
        conn.execute("DROP INDEX ix_messages_conversation_recent")
        conn.execute(ddl)


def test_passes_at_head(at_head):
    result = check(at_head)
    assert result.exit_code == 0
    assert result.output.strip() == f"✓ at head ({migrate.head()}); the database matches the models"


def test_fails_when_include_differs(at_head):
    rebuild(at_head, "CREATE INDEX ix_messages_conversation_recent ON messages (conversation_id, created_at DESC, id DESC)")
    result = check(at_head)
    assert result.exit_code == 1
    assert result.output.strip() == (
        "✗ index ix_messages_conversation_recent differs: database has CREATE INDEX ix_messages_conversation_recent "
        "ON messages USING btree (conversation_id, created_at DESC, id DESC); models say CREATE INDEX "
        "ix_messages_conversation_recent ON messages USING btree (conversation_id, created_at DESC, id DESC) INCLUDE (role)"
    )


def test_fails_when_where_differs(at_head):
    rebuild(
        at_head,
        "CREATE INDEX ix_messages_conversation_recent ON messages (conversation_id, created_at DESC, id DESC) "
        "INCLUDE (role) WHERE role <> 'tool'",
    )
    result = check(at_head)
    assert result.exit_code == 1
    assert "WHERE ((role)::text <> 'tool'::text)" in result.output
    assert "ix_messages_conversation_recent differs" in result.output


def test_fails_when_an_index_is_missing_or_extra(at_head):
    with psycopg.connect(at_head.dsn, autocommit=True) as conn:
        conn.execute("DROP INDEX ix_conversations_user_activity")
        conn.execute("CREATE INDEX ix_extra ON messages (created_at)")
    out = check(at_head).output
    assert "✗ index ix_conversations_user_activity is missing from the database" in out
    assert "✗ index ix_extra is in the database but not in the models" in out


def test_fails_when_not_at_head(new_database):
    settings = new_database("behind")
    migrate.upgrade(settings, "0005")
    result = check(settings)
    assert result.exit_code == 1
    assert result.output.strip() == f"✗ the database is at revision 0005, not at head {migrate.head()}; run `chatschema upgrade`"


def test_fails_when_a_view_cannot_be_refreshed_concurrently(at_head):
    with psycopg.connect(at_head.dsn, autocommit=True) as conn:
        conn.execute("DROP INDEX ux_daily_message_totals")
        conn.execute("CREATE UNIQUE INDEX ux_daily_message_totals ON daily_message_totals (day) WHERE messages > 0")
    result = check(at_head)
    assert result.exit_code == 1
    assert "materialized view daily_message_totals differs" in result.output
    assert "a valid UNIQUE index on plain columns with no WHERE" in result.output
