"""`chatschema doctor`: a migrated database is healthy; each kind of debris is found and named."""

from __future__ import annotations

import re
import uuid

import psycopg
import pytest
from click.testing import CliRunner

from chatschema import migrate
from chatschema.cli import main

from .populate import populate

SEND = """
WITH conv AS (
    UPDATE conversations
       SET message_count = message_count + 1, last_activity_at = clock_timestamp(),
           last_message_id = %(mid)s, last_message_preview = left(%(content)s, 100)
     WHERE id = %(cid)s AND user_id = %(uid)s
 RETURNING id, user_id, last_message_id, last_activity_at)
INSERT INTO messages (id, user_id, conversation_id, role, content, created_at)
SELECT last_message_id, user_id, id, %(role)s, %(content)s, last_activity_at FROM conv RETURNING id
"""


def doctor(settings):
    return CliRunner().invoke(main, ["doctor", "--dsn", settings.dsn], catch_exceptions=False)


@pytest.fixture()
def healthy(new_database):
    settings = new_database("doctor")
    migrate.upgrade(settings, "0001")
    with psycopg.connect(settings.dsn) as conn:
        populate(conn, users=20, conversations=200, messages=2000)
    migrate.upgrade(settings)
    return settings


def test_a_migrated_database_is_healthy(healthy):
    result = doctor(healthy)
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith(": no invalid, unused or duplicate indexes; views are fresh")


def test_invalid_unused_and_duplicate_indexes_are_found(healthy):
    with psycopg.connect(healthy.dsn, autocommit=True) as conn:
        conn.execute("CREATE INDEX ix_messages_conversation_id ON messages (conversation_id)")  # prefix of _recent
        conn.execute("CREATE INDEX ix_extra ON conversations (title)")
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("CREATE UNIQUE INDEX CONCURRENTLY ux_role ON messages (role)")  # leaves it INVALID
    result = doctor(healthy)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines[0].startswith("✗ invalid-index: ux_role on messages is INVALID (")
    assert lines[0].endswith("; left by a failed or cancelled build): CREATE UNIQUE INDEX ux_role ON public.messages "
                             "USING btree (role)")
    assert lines[1] == ("    fix: DROP INDEX CONCURRENTLY ux_role; then re-run `chatschema upgrade` "
                        "(it rebuilds its own indexes)")
    unused = sorted(line.split(" on ")[0] for line in lines if line.startswith("✗ unused-index"))
    assert unused == ["✗ unused-index: ix_extra", "✗ unused-index: ix_messages_conversation_id"]
    assert "is not used by any catalog query: CREATE INDEX ix_extra ON public.conversations USING btree (title)" \
        in result.output
    duplicate = [re.sub(r"\(\d+\.\d kB\)", "(SIZE)", line) for line in lines if line.startswith("✗ duplicate-index")]
    assert duplicate == [
        "✗ duplicate-index: ix_messages_conversation_id on messages (SIZE) is redundant: its key columns are a "
        "leading prefix of ix_messages_conversation_recent's (CREATE INDEX ix_messages_conversation_id ON "
        "public.messages USING btree (conversation_id); CREATE INDEX ix_messages_conversation_recent ON "
        "public.messages USING btree (conversation_id, created_at DESC, id DESC) INCLUDE (role))"
    ]


def test_a_view_behind_the_newest_message_is_stale_until_refreshed(healthy):
    with psycopg.connect(healthy.dsn, autocommit=True) as conn:
        cid, uid = conn.execute("SELECT id, user_id FROM conversations ORDER BY id LIMIT 1").fetchone()
        conn.execute(SEND, {"mid": uuid.uuid4(), "cid": cid, "uid": uid, "role": "user", "content": "today"})
    result = doctor(healthy)
    assert result.exit_code == 1
    stale = [line for line in result.output.splitlines() if line.startswith("✗ stale-view")]
    assert [line.split(" ends at ")[0] for line in stale] == [
        "✗ stale-view: user_daily_messages", "✗ stale-view: daily_message_totals"]
    assert "but messages exist up to " in stale[0] and stale[0].endswith(" UTC")
    assert "fix: chatschema views refresh --concurrently (and schedule it)" in result.output
    assert CliRunner().invoke(main, ["views", "refresh", "--concurrently", "--dsn", healthy.dsn]).exit_code == 0
    assert doctor(healthy).exit_code == 0


def test_a_view_never_populated_is_stale(healthy):
    with psycopg.connect(healthy.dsn, autocommit=True) as conn:
        conn.execute("REFRESH MATERIALIZED VIEW daily_message_totals WITH NO DATA")
    result = doctor(healthy)
    assert result.exit_code == 1
    assert "✗ stale-view: daily_message_totals was never populated" in result.output


# --- a database without the analytics views ----------------------------------------------------------


def test_before_the_views_revision_doctor_says_they_are_missing_and_where_they_come(new_database):
    settings = new_database("doctor_0006")
    migrate.upgrade(settings, "0006")
    result = doctor(settings)
    assert result.exit_code == 0, result.output  # not debris: the database is behind, not broken
    assert "views are fresh" not in result.output
    assert result.output.strip().endswith(
        ": no invalid, unused or duplicate indexes; views missing: user_daily_messages and daily_message_totals "
        "come with revision 0007; the database is at 0006 (`chatschema upgrade` makes them)")
    # the twin: the revision that makes them makes doctor's line true
    migrate.upgrade(settings, "0007")
    assert doctor(settings).output.strip().endswith("; views are fresh")


def test_views_dropped_at_head_are_a_finding_with_a_fix_that_works(healthy):
    head = migrate.script_directory().get_current_head()
    with psycopg.connect(healthy.dsn, autocommit=True) as conn:
        conn.execute("DROP MATERIALIZED VIEW daily_message_totals")
    result = doctor(healthy)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines[0] == (f"✗ missing-view: daily_message_totals does not exist, but the database is at {head}: "
                        "revision 0016 made it (0017 swapped it in) and it was dropped since")
    assert lines[1] == ("    fix: chatschema downgrade 0015 && chatschema upgrade (0017's downgrade puts 0007's "
                        "views back and 0016's drops only the views it built; the upgrade builds them again)")
    assert "user_daily_messages" not in result.output  # the view still there is not named
    for command in (["downgrade", "0015"], ["upgrade"]):
        assert CliRunner().invoke(main, [*command, "--dsn", healthy.dsn]).exit_code == 0
    assert doctor(healthy).output.strip().endswith("; views are fresh")
