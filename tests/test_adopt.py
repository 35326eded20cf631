"""Databases chatschema did not migrate: its own version table, `stamp`, carrying an earlier chatschema over,
and the application's objects (its alembic_version, tables, views) left exactly as they were."""

from __future__ import annotations

import psycopg
import pytest
from click.testing import CliRunner

from chatschema import migrate
from chatschema.cli import main
from chatschema.errors import NotAdopted
from chatschema.migrations import BOOKKEEPING_TABLES, LEGACY_VERSION_TABLE, VERSION_TABLE

HEAD = migrate.head()
CHAIN = [r.revision for r in migrate.history()]

APPLICATION_OBJECTS = """
CREATE TABLE alembic_version (version_num varchar(32) NOT NULL PRIMARY KEY);
CREATE TABLE app_sessions (id bigint PRIMARY KEY, user_id uuid NOT NULL REFERENCES users (id), note text);
CREATE VIEW app_active_users AS SELECT u.id, count(s.id) AS sessions FROM users u JOIN app_sessions s ON s.user_id = u.id GROUP BY u.id;
CREATE FUNCTION app_touch() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END';
INSERT INTO users (id, name) VALUES ('00000000-0000-0000-0000-000000000001', 'a');
INSERT INTO app_sessions VALUES (1, '00000000-0000-0000-0000-000000000001', 'first'), (2, '00000000-0000-0000-0000-000000000001', NULL);
"""

SNAPSHOT = """
SELECT (SELECT array_agg(version_num ORDER BY version_num) FROM alembic_version) AS versions,
       (SELECT array_agg(row_to_json(s)::text ORDER BY id) FROM app_sessions s) AS sessions,
       pg_get_viewdef('app_active_users'::regclass) AS view,
       (SELECT array_agg(pg_get_constraintdef(oid)::text ORDER BY conname) FROM pg_constraint
         WHERE conrelid = 'app_sessions'::regclass) AS constraints,
       (SELECT array_agg(pg_get_constraintdef(oid)::text ORDER BY conname) FROM pg_constraint
         WHERE conrelid = 'alembic_version'::regclass) AS version_constraints,
       to_regprocedure('app_touch()') IS NOT NULL AS function
"""


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def sql(settings, statements: str) -> None:
    with psycopg.connect(settings.dsn, autocommit=True) as conn:
        conn.execute(statements)


def snapshot(settings) -> dict:
    with psycopg.connect(settings.dsn) as conn:
        conn.row_factory = psycopg.rows.dict_row
        return conn.execute(SNAPSHOT).fetchone()


def recorded(settings) -> list[str] | None:
    with psycopg.connect(settings.dsn) as conn:
        if conn.execute("SELECT to_regclass(%s)", (VERSION_TABLE,)).fetchone()[0] is None:
            return None
        return sorted(r[0] for r in conn.execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchall())


@pytest.fixture()
def application_database(new_database):
    """Today's schema (0001) made by the application, with its own alembic_version at '0002', a table with a
    foreign key to users, a view and a function; chatschema recorded nothing."""
    settings = new_database("app")
    migrate.upgrade(settings, "0001")
    sql(settings, f"DROP TABLE {VERSION_TABLE}")
    sql(settings, APPLICATION_OBJECTS + "INSERT INTO alembic_version VALUES ('0002');")
    return settings


def test_the_version_table_is_chatschemas_own_and_bookkeeping():
    assert VERSION_TABLE == "chatschema_version" != LEGACY_VERSION_TABLE
    assert VERSION_TABLE in BOOKKEEPING_TABLES and LEGACY_VERSION_TABLE not in BOOKKEEPING_TABLES


def test_an_application_database_is_adopted_with_stamp_and_its_objects_stay_untouched(application_database):
    settings = application_database
    dsn = ("--dsn", settings.dsn)
    before = snapshot(settings)
    assert before["versions"] == ["0002"]

    refused = run("upgrade", *dsn)
    assert refused.exit_code == 2
    assert len(refused.output.strip().splitlines()) == 1
    assert "already has conversations, messages, users but chatschema_version records no revision" in refused.output
    assert "alembic_version records 0002, but the schema is not revision 0002's" in refused.output
    assert "run `chatschema stamp 0001` to record it" in refused.output
    assert recorded(settings) is None and snapshot(settings) == before

    stamped = run("stamp", "0001", *dsn)
    assert stamped.exit_code == 0, stamped.output
    assert "is recorded at revision 0001; its schema is revision 0001's" in stamped.output
    assert recorded(settings) == ["0001"]

    for command in (("upgrade",), ("check",), ("downgrade", "0001"), ("upgrade",), ("check",)):
        result = run(*command, *dsn)
        assert result.exit_code == 0, (command, result.output)
    assert "the database matches the models" in result.output
    assert recorded(settings) == [migrate.head()]
    assert snapshot(settings) == before


def test_two_rows_in_the_applications_alembic_version_change_nothing(application_database):
    settings = application_database
    sql(settings, "INSERT INTO alembic_version VALUES ('0005')")
    before = snapshot(settings)
    with pytest.raises(NotAdopted) as refused:
        migrate.upgrade(settings)
    assert "alembic_version" not in str(refused.value)  # not even considered
    assert "run `chatschema stamp 0001`" in str(refused.value)
    assert run("stamp", "0001", "--dsn", settings.dsn).exit_code == 0
    migrate.upgrade(settings)
    assert run("check", "--dsn", settings.dsn).exit_code == 0
    assert snapshot(settings) == before and before["versions"] == ["0002", "0005"]


def test_stamp_refuses_a_schema_that_differs_lists_it_and_records_nothing(application_database):
    settings = application_database
    sql(settings, "DROP INDEX ix_messages_conversation_id; ALTER TABLE messages ADD COLUMN app_note text")
    result = run("stamp", "0001", "--dsn", settings.dsn)
    assert result.exit_code == 1
    assert "✗ index ix_messages_conversation_id is missing; revision 0001 defines: CREATE INDEX" in result.output
    assert "✗ column messages.app_note is not in revision 0001's schema: text" in result.output
    assert "nothing was recorded (--force records it anyway)" in result.output
    assert recorded(settings) is None

    forced = run("stamp", "0001", "--force", "--dsn", settings.dsn)
    assert forced.exit_code == 0
    assert "--force: recorded revision 0001" in forced.output and "2 way(s)" in forced.output
    assert recorded(settings) == ["0001"]


def test_stamp_refuses_the_wrong_revision(application_database):
    result = run("stamp", "0003", "--dsn", application_database.dsn)
    assert result.exit_code == 1
    assert "column conversations.message_count is missing; revision 0003 defines" in result.output
    assert recorded(application_database) is None


def test_upgrade_names_head_when_the_schema_is_at_head_but_unrecorded(new_database):
    settings = new_database("unrecorded_head")
    migrate.upgrade(settings)
    sql(settings, f"DROP TABLE {VERSION_TABLE}")
    with pytest.raises(NotAdopted, match=rf"the schema is revision {HEAD}'s; run `chatschema stamp {HEAD}`"):
        migrate.upgrade(settings)


def test_upgrade_names_the_closest_revision_when_none_matches(application_database):
    sql(application_database, "ALTER TABLE messages ADD COLUMN app_note text")
    with pytest.raises(NotAdopted, match=r"matches no revision \(closest: 0001, 1 differences\)"):
        migrate.upgrade(application_database)


def earlier_chatschema(new_database, revision: str):
    """A database as an earlier chatschema left it: its revision in alembic_version."""
    settings = new_database("earlier")
    migrate.upgrade(settings, revision)
    sql(settings, f"ALTER TABLE {VERSION_TABLE} RENAME TO {LEGACY_VERSION_TABLE}; "
                  f"ALTER TABLE {LEGACY_VERSION_TABLE} RENAME CONSTRAINT {VERSION_TABLE}_pkc TO {LEGACY_VERSION_TABLE}_pkc")
    return settings


def test_an_earlier_chatschemas_revision_is_carried_over_once_with_a_warning(new_database):
    settings = earlier_chatschema(new_database, "0003")
    warnings: list[str] = []
    applied = migrate.upgrade(settings, on_warning=warnings.append)
    assert [r.revision for r in applied] == CHAIN[CHAIN.index("0004"):]
    carried = [w for w in warnings if "earlier chatschema" in w]
    assert len(carried) == 1
    assert "recorded revision 0003 in alembic_version; its schema is revision 0003's" in carried[0]
    assert recorded(settings) == [HEAD]
    with psycopg.connect(settings.dsn) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [("0003",)]
    again: list[str] = []
    assert migrate.upgrade(settings, on_warning=again.append) == []
    assert not [w for w in again if "earlier chatschema" in w]


def test_an_earlier_revision_is_not_carried_over_when_the_schema_disagrees(new_database):
    """The twin: the same database with one index gone is not taken for 0003."""
    settings = earlier_chatschema(new_database, "0003")
    sql(settings, "DROP INDEX ix_messages_conversation_recent")
    with pytest.raises(NotAdopted, match="alembic_version records 0003, but the schema is not revision 0003's"):
        migrate.upgrade(settings, on_warning=lambda message: None)
    assert recorded(settings) is None


def test_several_rows_in_chatschemas_version_table_stop_every_command(new_database):
    settings = new_database("two_rows")
    migrate.upgrade(settings, "0002")
    sql(settings, f"INSERT INTO {VERSION_TABLE} VALUES ('0001')")
    for command in (["upgrade"], ["current"], ["check"], ["downgrade", "0001"], ["stamp", "0002"]):
        result = run(*command, "--dsn", settings.dsn)
        assert result.exit_code == 2, command
        assert result.output.strip() == (
            "Error: chatschema_version holds 2 rows (0001, 0002); chatschema records exactly one revision there. "
            "Delete the rows that are not chatschema's (or run `chatschema stamp REV` after deleting them all); "
            "nothing was changed"
        ), command
    assert recorded(settings) == ["0001", "0002"]


def test_the_dry_run_refuses_unrecorded_tables_like_the_run(application_database):
    result = run("upgrade", "--dry-run", "--dsn", application_database.dsn)
    assert result.exit_code == 2
    assert "run `chatschema stamp 0001` to record it" in result.output
    assert recorded(application_database) is None


def test_the_dry_run_of_an_earlier_chatschemas_database_starts_where_it_stands(new_database):
    """The twin: a database that will be carried over is planned from its revision, and not carried over yet."""
    settings = earlier_chatschema(new_database, "0005")
    result = run("upgrade", "--dry-run", "--dsn", settings.dsn)
    assert result.exit_code == 0, result.output
    assert f"upgrade 0005 -> {HEAD}" in result.output
    assert recorded(settings) is None
