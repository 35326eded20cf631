"""`chatschema roles`: the application role runs every API call (sync and async) and nothing else of
chatschema's (no bookkeeping, no DDL, no TRUNCATE); the verification role runs every read command;
re-applying changes nothing; other roles are never touched. Roles are cluster-wide: each run uses
names of its own and drops only what it created."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, timedelta

import psycopg
import pytest
from click.testing import CliRunner
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from chatschema import api, api_async
from chatschema.cli import main
from chatschema.migrate import reference
from chatschema.roles import RoleNames, needed_privileges


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def as_login(dsn: str, login: str) -> str:
    params = conninfo_to_dict(dsn)
    params["user"] = login
    params.pop("password", None)
    return make_conninfo(**params)


def role_count(dsn: str, prefix: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT count(*) FROM pg_roles WHERE rolname LIKE %s", (prefix + "%",)).fetchone()[0]


@pytest.fixture(scope="module")
def granted(seeded_plans, new_database):
    """A copy of the session's seeded database at head with the three roles applied under this run's names,
    and one login granted each; dropped (roles and logins only, the ones made here) afterwards."""
    settings = new_database("roles", template=seeded_plans.settings)
    suffix = uuid.uuid4().hex[:8]
    names = RoleNames(f"cs_app_{suffix}", f"cs_migrator_{suffix}", f"cs_verifier_{suffix}")
    applied = run("roles", "--apply", "--dsn", settings.dsn, "--app-role", names.app,
                  "--migrator-role", names.migrator, "--verifier-role", names.verifier)
    assert applied.exit_code == 0, applied.output
    logins = {kind: f"cs_login_{kind}_{suffix}" for kind in ("app", "migrator", "verifier")}
    with psycopg.connect(settings.dsn, autocommit=True) as conn:
        for kind, login in logins.items():
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN IN ROLE {}").format(
                sql.Identifier(login), sql.Identifier(getattr(names, kind))))
    yield settings, names, {kind: as_login(settings.dsn, login) for kind, login in logins.items()}, applied.output
    with psycopg.connect(settings.dsn, autocommit=True) as conn:
        me = conn.execute("SELECT current_user").fetchone()[0]
        for role in (*logins.values(), *names.all()):
            conn.execute(sql.SQL("REASSIGN OWNED BY {} TO {}").format(sql.Identifier(role), sql.Identifier(me)))
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def cases(dsn: str) -> tuple[uuid.UUID, uuid.UUID, date]:
    with psycopg.connect(dsn) as conn:
        user, conv = conn.execute("SELECT user_id, id FROM conversations ORDER BY message_count DESC, id LIMIT 1").fetchone()
        day = conn.execute("SELECT max(created_at)::date FROM messages").fetchone()[0]
    return user, conv, day


def test_apply_says_what_it_did(granted):
    settings, names, _, output = granted
    assert output.startswith("✓ ") and f"roles {names.app}, {names.migrator}, {names.verifier} in place" in output


def test_the_app_role_gets_exactly_what_the_catalog_needs(granted):
    settings, names, _, _ = granted
    with psycopg.connect(settings.dsn) as conn:
        rows = conn.execute(
            "SELECT c.relname, string_agg(a.privilege_type, ', ' ORDER BY a.privilege_type) "
            "FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a "
            "WHERE a.grantee = %s::regrole GROUP BY c.relname ORDER BY c.relname", (names.app,)).fetchall()
    assert dict(rows) == {"conversations": "SELECT, UPDATE", "daily_message_totals": "SELECT",
                          "messages": "INSERT, SELECT", "user_daily_messages": "SELECT"}
    assert needed_privileges()["messages"] == ("SELECT", "INSERT")


def test_every_api_call_runs_as_the_app_role(granted):
    settings, _, logins, _ = granted
    user, conv, day = cases(settings.dsn)
    since, until = day - timedelta(days=30), day + timedelta(days=1)
    with psycopg.connect(logins["app"]) as conn:
        assert api.list_conversations(conn, user).items
        assert api.load_messages(conn, user, conv).items
        assert api.conversation_view(conn, user, conv).messages
        assert api.send_message(conn, user, conv, "user", "hello from the app role").id
        assert api.user_daily_counts(conn, user, since, until)
        assert api.daily_totals(conn, since, until)
        conn.rollback()

    async def async_calls() -> None:
        async with await psycopg.AsyncConnection.connect(logins["app"]) as aconn:
            assert (await api_async.list_conversations(aconn, user)).items
            assert (await api_async.load_messages(aconn, user, conv)).items
            assert (await api_async.conversation_view(aconn, user, conv)).messages
            assert (await api_async.send_message(aconn, user, conv, "user", "hello, async")).id
            assert await api_async.user_daily_counts(aconn, user, since, until)
            assert await api_async.daily_totals(aconn, since, until)
            await aconn.rollback()

    asyncio.run(async_calls())


FORBIDDEN = {
    "read the version table": "SELECT * FROM chatschema_version",
    "change the version table": "UPDATE chatschema_version SET version_num = version_num",
    "read the backfill checkpoint": "SELECT * FROM chatschema_backfill",
    "change the backfill checkpoint": "DELETE FROM chatschema_backfill",
    "create a table": "CREATE TABLE app_sneaky (id int)",
    "truncate": "TRUNCATE messages",
    "alter a table": "ALTER TABLE messages ADD COLUMN sneaky text",
    "create an index": "CREATE INDEX ix_sneaky ON messages (role)",
    "delete messages": "DELETE FROM messages",
    "read users": "SELECT count(*) FROM users",
}


@pytest.mark.parametrize("what", list(FORBIDDEN))
def test_the_app_role_cannot(granted, what):
    _, _, logins, _ = granted
    with psycopg.connect(logins["app"]) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(FORBIDDEN[what])


@pytest.mark.parametrize("what", list(FORBIDDEN))
def test_the_migrator_can_what_the_app_role_cannot(granted, what):
    """The twin: each statement is possible on this database (for the owner), so the refusals above are privileges."""
    _, _, logins, _ = granted
    with psycopg.connect(logins["migrator"]) as conn:
        conn.execute(FORBIDDEN[what])
        conn.rollback()


READ_COMMANDS = {"check": ["check"], "doctor": ["doctor"], "lint --dsn": ["lint"], "plans verify": ["plans", "verify"]}


@pytest.mark.parametrize("command", list(READ_COMMANDS))
def test_every_read_command_runs_as_the_verifier(granted, command, monkeypatch):
    monkeypatch.setattr(reference, "_CACHE", {})
    _, names, logins, _ = granted
    result = run(*READ_COMMANDS[command], "--dsn", logins["verifier"])
    assert result.exit_code == 0, result.output
    if command == "plans verify":
        assert (f"send_message.optimized  skipped: not planned: role cs_login_verifier_{names.app[-8:]} lacks "
                "UPDATE on conversations, INSERT on messages, and EXPLAIN of a write needs the privilege to write") in result.output


def test_plans_verify_plans_the_write_for_a_role_that_may_write(granted):
    """The twin of the skip: the database's owner plans the send (read-only, never executed)."""
    settings, _, _, _ = granted
    result = run("plans", "verify", "--dsn", settings.dsn)
    assert result.exit_code == 0, result.output
    assert "send_message.optimized  skipped" not in result.output
    assert "✓ send_message.optimized" in result.output


def test_reapplying_changes_nothing_and_creates_no_role(granted):
    settings, names, _, _ = granted
    prefix = "cs_%" + names.app[-8:]
    before = role_count(settings.dsn, prefix)
    again = run("roles", "--apply", "--dsn", settings.dsn, "--app-role", names.app,
                "--migrator-role", names.migrator, "--verifier-role", names.verifier)
    assert again.exit_code == 0, again.output
    assert role_count(settings.dsn, prefix) == before == 6  # three roles, three logins: all this run's


def test_a_login_role_is_never_taken_for_one_of_chatschemas(granted):
    settings, names, logins, _ = granted
    login = conninfo_to_dict(logins["app"])["user"]
    refused = run("roles", "--apply", "--dsn", settings.dsn, "--app-role", login,
                  "--migrator-role", names.migrator, "--verifier-role", names.verifier)
    assert refused.exit_code == 2
    assert refused.output.strip() == (f"Error: role {login} exists and is a login: chatschema's roles are NOLOGIN "
                                      "groups it may change; choose another name (--app-role, --migrator-role, "
                                      "--verifier-role); nothing was changed")


def test_the_printed_sql_uses_the_names_given():
    printed = run("roles", "--app-role", "chat_rw", "--migrator-role", "chat_owner", "--verifier-role", "chat_ro")
    assert printed.exit_code == 0
    assert 'GRANT SELECT, INSERT ON TABLE "messages" TO "chat_rw";' in printed.output
    assert 'ALTER TABLE "messages" OWNER TO "chat_owner";' in printed.output
    assert 'GRANT pg_read_all_stats TO "chat_ro";' in printed.output
    assert "TRUNCATE" not in printed.output and "chatschema_app" not in printed.output


def test_the_citus_rollups_once_there_are_read_by_the_app_role_and_kept_by_the_migrator(granted):
    """Last in the module: it adds the rollup tables `distribute` creates on a coordinator (plain tables
    here) to the shared database and applies the roles again."""
    from chatschema import api_citus
    from chatschema.citus import rollups

    settings, names, logins, _ = granted
    with psycopg.connect(settings.dsn, autocommit=True) as conn:
        for statement in rollups.CREATE:
            conn.execute(statement)
    again = run("roles", "--apply", "--dsn", settings.dsn, "--app-role", names.app,
                "--migrator-role", names.migrator, "--verifier-role", names.verifier)
    assert again.exit_code == 0, again.output
    with psycopg.connect(logins["migrator"], autocommit=True) as conn:
        assert rollups.refresh_rollups(conn, rollups.ALL_DAYS).user_days_written > 0
    user, _, day = cases(settings.dsn)
    with psycopg.connect(logins["app"]) as conn:
        assert api_citus.user_daily_counts(conn, user, day - timedelta(days=30), day + timedelta(days=1))
        assert api_citus.daily_totals(conn, day - timedelta(days=30), day + timedelta(days=1))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f"DELETE FROM {rollups.USER_ROLLUP}")
    # the twin: before the roles were applied again the migrator could not have refreshed them
    with psycopg.connect(settings.dsn, autocommit=True) as conn:
        conn.execute(f"ALTER TABLE {rollups.USER_ROLLUP} OWNER TO CURRENT_USER")
        conn.execute(sql.SQL("REVOKE ALL ON TABLE {} FROM {}").format(sql.Identifier(rollups.USER_ROLLUP),
                                                                     sql.Identifier(names.migrator)))
    with psycopg.connect(logins["migrator"], autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            rollups.refresh_rollups(conn, rollups.ALL_DAYS)
