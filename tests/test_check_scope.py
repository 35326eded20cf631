"""`chatschema check`: only chatschema's scope counts, every kind of drift on it is named, known extras are
allowed by a TOML file, and the check only reads (a read-only database, a SELECT-only role)."""

from __future__ import annotations

import psycopg
import pytest
from click.testing import CliRunner
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from chatschema import migrate
from chatschema.cli import main
from chatschema.migrate import reference


@pytest.fixture(scope="module")
def head_template(new_database):
    settings = new_database("scope_head")
    migrate.upgrade(settings)
    return settings


@pytest.fixture()
def at_head(new_database, head_template):
    return new_database("scope", template=head_template)


def check(settings, *extra: str):
    return CliRunner().invoke(main, ["check", "--dsn", settings.dsn, *extra], catch_exceptions=False)


def execute(settings, statements: str) -> None:
    with psycopg.connect(settings.dsn, autocommit=True) as conn:
        conn.execute(statements)


APPLICATION = """
CREATE TABLE app_sessions (id bigint PRIMARY KEY, user_id uuid NOT NULL REFERENCES users (id));
CREATE INDEX ix_app_sessions_user ON app_sessions (user_id);
CREATE VIEW app_users AS SELECT id, name FROM users;
CREATE MATERIALIZED VIEW app_totals AS SELECT count(*) AS n FROM messages;
CREATE FUNCTION app_touch() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END';
CREATE TRIGGER app_sessions_touch BEFORE UPDATE ON app_sessions FOR EACH ROW EXECUTE FUNCTION app_touch();
CREATE SCHEMA app;
CREATE TABLE app.users (id int PRIMARY KEY, extra text);
CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY);
INSERT INTO alembic_version VALUES ('0002'), ('0005');
"""


def test_the_applications_objects_are_never_findings(at_head):
    execute(at_head, APPLICATION)
    result = check(at_head)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"✓ at head ({migrate.head()}); the database matches the models"


def test_an_extra_on_a_managed_table_is_named_beside_the_applications_objects(at_head):
    """The twin: the same application objects, plus one index on messages."""
    execute(at_head, APPLICATION + "CREATE INDEX ix_app_messages ON messages (role);")
    result = check(at_head)
    assert result.exit_code == 1
    assert result.output.strip() == (
        "✗ index ix_app_messages is in the database but not in the models: "
        "CREATE INDEX ix_app_messages ON messages USING btree (role)"
    )


TRIGGER = ("CREATE FUNCTION app_touch() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END';"
           "CREATE TRIGGER app_touch BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION app_touch();")

DRIFT = {
    "extra column": ("ALTER TABLE messages ADD COLUMN app_note text",
                     "column messages.app_note is in the database but not in the models: text"),
    "collation": ('ALTER TABLE users ALTER COLUMN name TYPE text COLLATE "C"',
                  'column users.name differs: database has text COLLATE "C" NOT NULL'),
    "statistics target": ("ALTER TABLE messages ALTER COLUMN conversation_id SET STATISTICS 100",
                          "column messages.conversation_id differs: database has uuid NOT NULL STATISTICS 100; "
                          "models say uuid NOT NULL STATISTICS 1000"),
    "storage": ("ALTER TABLE messages ALTER COLUMN content SET STORAGE EXTERNAL",
                "column messages.content differs: database has text NOT NULL STORAGE EXTERNAL; models say text NOT NULL"),
    "trigger": (TRIGGER, "trigger messages.app_touch is in the database but not in the models: CREATE TRIGGER app_touch "
                         "BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION app_touch()"),
    "row-level security": ("ALTER TABLE messages ENABLE ROW LEVEL SECURITY",
                           "relation messages differs: database has table, ROW LEVEL SECURITY enabled; models say table"),
    "policy": ("CREATE POLICY app_own ON conversations USING (true)",
               "policy conversations.app_own is in the database but not in the models: PERMISSIVE FOR ALL USING (true)"),
    "replica identity": ("ALTER TABLE conversations REPLICA IDENTITY FULL",
                         "relation conversations differs: database has table, REPLICA IDENTITY FULL; models say table"),
    "view storage parameter": ("ALTER MATERIALIZED VIEW daily_message_totals SET (fillfactor = 70)",
                               "storage daily_message_totals is in the database but not in the models: fillfactor=70"),
    "view definition": (
        "DROP MATERIALIZED VIEW daily_message_totals;"
        "CREATE MATERIALIZED VIEW daily_message_totals AS SELECT day, sum(messages)::bigint + 0 AS messages, "
        "count(*)::integer AS active_users FROM user_daily_messages GROUP BY day;",
        "view definition daily_message_totals differs"),
    "INVALID index": ("UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'ix_conversations_user_activity'::regclass",
                      "index ix_conversations_user_activity differs: database has CREATE INDEX "
                      "ix_conversations_user_activity ON conversations USING btree (user_id, last_activity_at DESC, id DESC) "
                      "(INVALID)"),
}


@pytest.mark.parametrize("kind", list(DRIFT))
def test_each_kind_of_drift_is_named(at_head, kind):
    ddl, expected = DRIFT[kind]
    execute(at_head, ddl)
    result = check(at_head)
    assert result.exit_code == 1, result.output
    assert expected in result.output


EXTRAS = """
[[extra]]
name = "messages.app_note"
reason = "the moderation service's column"

[[extra]]
name = "ix_app_messages"
reason = "the moderation queue's index"

[[extra]]
name = "messages.app_touch"
reason = "audit trigger, ticket OPS-1"
"""


def test_known_extras_make_check_green(at_head, tmp_path):
    execute(at_head, "ALTER TABLE messages ADD COLUMN app_note text; CREATE INDEX ix_app_messages ON messages (role);"
            + TRIGGER)
    extras = tmp_path / "extras.toml"
    extras.write_text(EXTRAS)
    result = check(at_head, "--known-extras", str(extras))
    assert result.exit_code == 0, result.output
    assert result.output.strip() == (
        f"✓ at head ({migrate.head()}); the database matches the models (3 known extras allowed by {extras})")
    assert check(at_head).exit_code == 1  # the twin: without the file they are named


def test_a_known_extra_does_not_hide_a_change_to_what_chatschema_defines(at_head, tmp_path):
    execute(at_head, "DROP INDEX ix_messages_conversation_recent;"
            "CREATE INDEX ix_messages_conversation_recent ON messages (conversation_id)")
    extras = tmp_path / "extras.toml"
    extras.write_text('[[extra]]\nname = "ix_messages_conversation_recent"\nreason = "mine"\n')
    result = check(at_head, "--known-extras", str(extras))
    assert result.exit_code == 1
    assert "index ix_messages_conversation_recent differs" in result.output


@pytest.mark.parametrize("text, message", [
    ('[[extra]]\nname = "messages.x"\n', "[[extra]] number 1 needs a name and a reason"),
    ("allow = [1", "is not valid TOML"),
    ('allow = ["messages.x"]\n', "expected only [[extra]] entries (name, reason); found allow"),
])
def test_a_bad_known_extras_file_is_one_line_and_exit_2(at_head, tmp_path, text, message):
    extras = tmp_path / "extras.toml"
    extras.write_text(text)
    result = check(at_head, "--known-extras", str(extras))
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1 and message in result.output


READ_COMMANDS = {"check": ["check"], "doctor": ["doctor"], "lint --dsn": ["lint"]}


def read_command(name: str, dsn: str):
    args = [*READ_COMMANDS[name], "--dsn", dsn]
    return CliRunner().invoke(main, args, catch_exceptions=False)


@pytest.mark.parametrize("command", list(READ_COMMANDS))
def test_read_commands_run_on_a_read_only_database_and_write_nothing(at_head, monkeypatch, command):
    monkeypatch.setattr(reference, "_CACHE", {})  # render head's schema again, under these conditions
    name = conninfo_to_dict(at_head.dsn)["dbname"]
    execute(at_head, sql.SQL("ALTER DATABASE {} SET default_transaction_read_only = on").format(
        sql.Identifier(name)).as_string())
    result = read_command(command, at_head.dsn)
    assert result.exit_code == 0, result.output
    with psycopg.connect(at_head.dsn) as conn:
        assert conn.execute("SHOW default_transaction_read_only").fetchone()[0] == "on"
        assert conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'chatschema%'").fetchone()[0] == 0


@pytest.fixture()
def select_only(at_head):
    """A login that may only SELECT from the checked database's tables."""
    role = f"cs_reader_{conninfo_to_dict(at_head.dsn)['dbname'][-8:]}"
    execute(at_head, sql.SQL(
        "CREATE ROLE {r} LOGIN NOCREATEDB; GRANT USAGE ON SCHEMA public TO {r};"
        "GRANT SELECT ON ALL TABLES IN SCHEMA public TO {r}").format(r=sql.Identifier(role)).as_string())
    params = conninfo_to_dict(at_head.dsn)
    params["user"] = role
    params.pop("password", None)
    yield at_head, make_conninfo(**params)
    execute(at_head, sql.SQL("DROP OWNED BY {r}; DROP ROLE {r}").format(r=sql.Identifier(role)).as_string())


@pytest.mark.parametrize("command", list(READ_COMMANDS))
def test_read_commands_run_as_a_select_only_role(select_only, monkeypatch, command):
    monkeypatch.setattr(reference, "_CACHE", {})
    rendered_on = []
    render = reference._render

    def spy(settings):
        rendered_on.append("embedded" if settings.dsn is None else "same server")
        return render(settings)

    monkeypatch.setattr(reference, "_render", spy)
    settings, dsn = select_only
    result = read_command(command, dsn)
    assert result.exit_code == 0, result.output
    if command != "doctor":  # doctor compares nothing with a revision
        # The role may not create the scratch database on the server: head is rendered on the embedded one.
        assert rendered_on == ["same server", "embedded"]
    execute(settings, "CREATE INDEX ix_app_messages ON messages (role)")
    drifted = read_command(command, dsn)
    assert drifted.exit_code == 1
    assert "ix_app_messages" in drifted.output
