"""Faults a DBA meets: each is one line on stderr, exit 2, no traceback, no password; nothing destroyed.

Every test runs the real command on the real server; each refusal has a twin that shows the
command still works when the fault is absent.
"""

from __future__ import annotations

import re

import threading
import time
import uuid

import psycopg
import pytest
from click.testing import CliRunner
from psycopg import conninfo as pg_conninfo
from psycopg import sql

from chatschema import migrate
from chatschema.cli import main
from chatschema.errors import redact

from .populate import one_user


def run(*args: str, env: dict[str, str] | None = None):
    # catch_exceptions=False: a traceback fails the test instead of becoming exit 1
    return CliRunner().invoke(main, list(args), catch_exceptions=False, env=env)


def one_error_line(result) -> str:
    lines = [line for line in result.output.strip().splitlines() if not line.startswith(("warning:", "  - "))]
    assert result.exit_code == 2, result.output
    assert lines and lines[-1].startswith("Error: "), result.output
    assert "Traceback" not in result.output
    return lines[-1]


# --- passwords -------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("postgresql://user:S3cret@[::1:5432/x", "postgresql://user:***@[::1:5432/x"),
    ("cannot parse 'postgres://a:p%40ss@h/db?x=1'", "cannot parse 'postgres://a:***@h/db?x=1'"),
    ("host=h password=S3cret user=u", "host=h password=*** user=u"),
    ("host=h password='S3 c\\'ret' user=u", "host=h password=*** user=u"),
    ("postgresql://h/db?password=S3cret&sslmode=off", "postgresql://h/db?password=***&sslmode=off"),
    ("postgresql://user@h/db", "postgresql://user@h/db"),  # the twin: nothing to hide, nothing changed
])
def test_redact_hides_every_spelling_of_a_password(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize("dsn", [
    "postgresql://user:S3cret@[::1:5432/x",  # invalid: used to be echoed whole
    "postgresql://nobody:S3cret@127.0.0.1:1/chat",  # valid, unreachable
    "host=127.0.0.1 port=1 user=nobody password=S3cret dbname=chat",
    "host=127.0.0.1 port=1 user=nobody password=S3cret dbname=chat bogus=1",  # invalid key/value
])
def test_no_message_shows_the_password(dsn):
    result = run("current", "--dsn", dsn)
    line = one_error_line(result)
    assert "S3cret" not in result.output
    assert "connection string" in line or "cannot connect" in line


def test_empty_database_url_is_an_error_not_the_embedded_server():
    result = run("current", env={"DATABASE_URL": ""})
    assert one_error_line(result) == (
        "Error: DATABASE_URL is set but empty; unset it to use the embedded server, or give a connection string")
    result = run("current", "--dsn", "")
    assert one_error_line(result) == "Error: --dsn is empty; give a connection string, or leave it out"


# --- revisions -------------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [("upgrade", ""), ("downgrade", ""), ("upgrade", "  "), ("upgrade", "--dry-run", "")])
def test_an_empty_revision_is_refused_before_connecting(args):
    result = run(*args, "--dsn", "postgresql://nobody@127.0.0.1:1/chat")
    assert one_error_line(result).startswith("Error: no revision given (an empty string); known revisions are 0001,")


@pytest.mark.parametrize("range_", [":", "0001:", "::"])
def test_sql_with_an_empty_end_of_the_range_is_refused(range_):
    line = one_error_line(run("sql", range_))
    assert "FROM:TO" in line and "empty" in line


@pytest.mark.parametrize("range_", ["0001:0002", ":0002"])  # an empty FROM is base, as documented
def test_sql_with_a_whole_range_still_prints(range_):
    result = run("sql", range_)
    assert result.exit_code == 0 and "ix_messages_conversation_recent" in result.output


# --- roles without the privileges a command needs -------------------------------------------------


@pytest.fixture
def plain_role(pg_server):
    """A login role with no privileges beyond CONNECT and the public schema's defaults."""
    name = f"cs_plain_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_server.admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN NOCREATEDB").format(sql.Identifier(name)))
    yield name
    with psycopg.connect(pg_server.admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))  # only in the admin db
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def as_role(settings, role: str) -> str:
    params = pg_conninfo.conninfo_to_dict(settings.dsn)
    params["user"] = role
    params.pop("password", None)
    return pg_conninfo.make_conninfo(**params)


def test_views_refresh_by_a_role_that_does_not_own_them(new_database, plain_role):
    settings = new_database("notowner")
    migrate.upgrade(settings)
    with psycopg.connect(settings.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}").format(sql.Identifier(plain_role)))
    try:
        line = one_error_line(run("views", "refresh", "--dsn", as_role(settings, plain_role)))
    finally:
        with psycopg.connect(settings.dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {}").format(sql.Identifier(plain_role)))
    assert line.startswith("Error: views refresh of user_daily_messages failed: ")
    assert "user_daily_messages (SQLSTATE 42501); refresh as the role that owns the views" in line
    assert run("views", "refresh", "--dsn", settings.dsn).exit_code == 0  # the twin: the owner can


def test_views_refresh_behind_a_reader_names_the_view_and_the_reader(new_database):
    settings = new_database("viewlock")
    migrate.upgrade(settings)
    reader = psycopg.connect(settings.dsn)
    try:
        reader.execute("SELECT count(*) FROM user_daily_messages")  # ACCESS SHARE until rollback
        line = one_error_line(run("views", "refresh", "--lock-timeout", "100ms", "--dsn", settings.dsn))
        assert line.startswith("Error: views refresh of user_daily_messages: lock_timeout (100ms) expired waiting for "
                               "its lock; held by pid ")
        assert f"pid {reader.info.backend_pid} (AccessShareLock, idle in transaction" in line
        assert "REFRESH ... CONCURRENTLY" in line
    finally:
        reader.close()
    assert run("views", "refresh", "--lock-timeout", "100ms", "--dsn", settings.dsn).exit_code == 0


def test_demo_without_createdb_is_one_line(pg_server, plain_role):
    params = pg_conninfo.conninfo_to_dict(pg_server.admin)
    params["user"] = plain_role
    line = one_error_line(run("demo", "--scale", "tiny", "--dsn", pg_conninfo.make_conninfo(**params)))
    assert "permission denied to create database" in line and "CREATEDB" in line


# --- a migration whose connection is terminated mid-build ----------------------------------------------


def test_a_terminated_concurrent_build_is_one_line_naming_the_revision(new_database):
    settings = new_database("terminated")
    migrate.upgrade(settings, "0001")
    # An old snapshot makes CREATE INDEX CONCURRENTLY wait, so there is time to terminate it.
    old = psycopg.connect(settings.dsn)
    old.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ  # keeps its snapshot while idle
    old.execute("SELECT count(*) FROM users")
    result: dict = {}

    def upgrade() -> None:
        result["r"] = run("upgrade", "0002", "--dsn", settings.dsn)

    worker = threading.Thread(target=upgrade)
    worker.start()
    try:
        with psycopg.connect(settings.dsn, autocommit=True) as watcher:
            deadline = time.monotonic() + 30
            pid = None
            while pid is None and time.monotonic() < deadline:
                row = watcher.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                    "AND query LIKE 'CREATE INDEX CONCURRENTLY%%' AND wait_event_type = 'Lock'").fetchone()
                pid = row[0] if row else None
                time.sleep(0.02)
            assert pid is not None, f"the build never waited: {result}"
            watcher.execute("SELECT pg_terminate_backend(%s)", (pid,))
        worker.join(60)
    finally:
        old.close()
    line = one_error_line(result["r"])
    assert line.startswith("Error: revision 0002 lost its connection to the server (terminated by an administrator")
    assert "Re-run `chatschema upgrade` to continue." in line
    # the rerun repairs: the INVALID leftover is rebuilt
    again = run("upgrade", "0002", "--dsn", settings.dsn)
    assert again.exit_code == 0, again.output
    with psycopg.connect(settings.dsn) as conn:
        assert conn.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = "
                            "'ix_messages_conversation_recent'::regclass").fetchone()[0] is True


# --- scratch databases: only chatschema's own are ever dropped --------------------------------------


def test_a_database_chatschema_did_not_make_is_never_dropped(pg_server, new_database):
    from chatschema import scratch

    app = new_database("app_owned")
    with psycopg.connect(app.dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE precious (id int)")
    name = pg_conninfo.conninfo_to_dict(app.dsn)["dbname"]
    line = one_error_line(run("demo", "--scale", "tiny", "--database", name, "--dsn", pg_server.admin))
    assert line == (f"Error: database {name} exists and chatschema did not make it (it lacks the scratch mark "
                    "chatschema puts on its scratch databases), so it is not dropped; choose another name "
                    "(--database) or drop it yourself")
    with psycopg.connect(app.dsn) as conn:
        assert conn.execute("SELECT to_regclass('precious')").fetchone()[0] == "precious"
    # the twin: a database chatschema made is marked, dropped and made again
    mine = f"cs_scratch_{uuid.uuid4().hex[:8]}"
    admin = app.__class__(dsn=pg_server.admin)
    made = scratch.fresh(admin, mine)
    with psycopg.connect(made.dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE leftover (id int)")
    made = scratch.fresh(admin, mine)
    with psycopg.connect(made.dsn) as conn:
        assert conn.execute("SELECT to_regclass('leftover')").fetchone()[0] is None
    scratch.drop(admin, mine)
    with psycopg.connect(pg_server.admin) as conn:
        assert conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (mine,)).fetchone() is None


# --- messages that tell the truth --------------------------------------------------------------------


@pytest.fixture(scope="module")
def at_0004(new_database):
    settings = new_database("truth")
    migrate.upgrade(settings, "0004")
    return settings


@pytest.mark.parametrize("dry", [(), ("--dry-run",)], ids=["run", "dry-run"])
def test_upgrade_to_a_revision_behind_the_database_says_it_is_ahead(at_0004, dry):
    line = one_error_line(run("upgrade", "0002", *dry, "--dsn", at_0004.dsn))
    assert line == ("Error: the database is at 0004, ahead of 0002: upgrade only moves forward, and nothing was "
                    "changed. To go back to 0002, run `chatschema downgrade 0002` (try --dry-run first: it removes "
                    "0004, 0003)")
    assert migrate.current(at_0004) == "0004"
    # the twins: the revision it is at is nothing to do, and a downgrade past it is refused the same way
    assert run("upgrade", "0004", *dry, "--dsn", at_0004.dsn).exit_code == 0
    line = one_error_line(run("downgrade", "0005", *dry, "--dsn", at_0004.dsn))
    assert line.startswith("Error: the database is at 0004, behind 0005: downgrade only moves back")


def test_a_backfill_stopped_by_a_row_lock_says_what_it_kept_and_that_the_next_run_resumes(new_database):
    settings = new_database("backfill_kept")
    migrate.upgrade(settings, "0003")
    with psycopg.connect(settings.dsn, autocommit=True) as conn:
        one_user(conn, conversations=1000, messages_each=1)
    locker = psycopg.connect(settings.dsn)
    try:
        locker.execute("SELECT id FROM conversations ORDER BY id DESC LIMIT 1 FOR UPDATE")  # the last batch's
        result = run("upgrade", "0004", "--backfill-batch-size", "100", "--lock-timeout", "200ms",
                     "--lock-retries", "1", "--retry-delay", "10ms", "--dsn", settings.dsn)
    finally:
        locker.close()
    line = one_error_line(result)
    retry = [w for w in result.output.splitlines() if w.startswith("warning: lock_timeout expired in revision 0004")]
    assert len(retry) == 1 and "the revision was rolled back" not in retry[0]
    # The batch size adapts to the batches' durations, so how many rows were kept is read back from the
    # checkpoint; every one of the 1000 but the locked last batch's.
    with psycopg.connect(settings.dsn) as conn:
        kept = conn.execute("SELECT rows_done FROM chatschema_backfill").fetchone()[0]
    assert 0 < kept < 1000
    # the retry says what the checkpoint held then (the retry itself may commit more before the lock stops it)
    said = re.search(r"the batch in progress was rolled back; (\d+) rows committed by earlier batches are kept in the "
                     r"checkpoint", retry[0])
    assert said and 0 < int(said.group(1)) <= kept, retry[0]
    assert retry[0].endswith("retry 1 of 1 in " + retry[0].rsplit(" in ", 1)[1])
    assert "Nothing of revision 0004 was kept" not in line
    assert (f"{kept} rows committed by earlier batches are kept in the checkpoint (chatschema_backfill); the next "
            "`chatschema upgrade` resumes after them. The database is at 0003.") in line
    # the twin: the next run resumes and finishes
    again = run("upgrade", "0004", "--dsn", settings.dsn)
    assert again.exit_code == 0, again.output
    with psycopg.connect(settings.dsn) as conn:
        assert conn.execute("SELECT count(*) FROM conversations WHERE message_count = 1").fetchone()[0] == 1000


def test_a_statement_timeout_in_the_backfill_names_what_it_cancelled(new_database):
    settings = new_database("backfill_timeout")
    migrate.upgrade(settings, "0003")
    with psycopg.connect(settings.dsn, autocommit=True) as conn:
        one_user(conn, conversations=3000, messages_each=10)
    line = one_error_line(run("upgrade", "0004", "--statement-timeout", "1ms", "--dsn", settings.dsn))
    # 1 ms cancels whichever statement of 0004 runs first (the version-table probe or a batch): the
    # message must name it, never an empty statement.
    assert ": ." not in line
    head = "Error: statement_timeout (1ms) cancelled revision 0004 while running "
    assert line.startswith(head) and not line.startswith(head + ".")
    assert re.match(re.escape(head) + r"(one of its backfill batches|SELECT \S+)", line), line
    assert line.endswith("the database is at 0003. Raise --statement-timeout and re-run.")


# --- bounds: checked before connecting -------------------------------------------------------------

UNREACHABLE = "postgresql://nobody@127.0.0.1:1/chat"


@pytest.mark.parametrize("option", ["--lock-timeout", "--statement-timeout", "--concurrent-lock-timeout",
                                    "--retry-delay", "--backfill-pause"])
def test_a_duration_beyond_what_postgresql_takes_is_refused_before_connecting(option):
    line = one_error_line(run("upgrade", option, "99999999999999h", "--dsn", UNREACHABLE))
    assert line == (f"Error: {option}: expected a duration from 0 to 2147483647ms (about 24.8 days, PostgreSQL's "
                    "largest timeout), got '99999999999999h'")
    # the twin: the largest one is accepted, and the command goes on to connect
    assert "cannot connect" in one_error_line(run("upgrade", option, "2147483647ms", "--dsn", UNREACHABLE))


def test_seed_messages_beyond_the_largest_scale_tenfold_is_refused_before_connecting():
    line = one_error_line(run("seed", "--messages", "99999999999999999", "--dsn", UNREACHABLE))
    assert line == "Error: --messages: expected a whole number from 100 to 100000000, got 99999999999999999"
    assert "cannot connect" in one_error_line(run("seed", "--messages", "100000000", "--dsn", UNREACHABLE))


def test_a_concurrent_build_names_a_writer_idle_in_transaction_before_and_after(new_database, monkeypatch):
    monkeypatch.setenv("CHATSCHEMA_LONG_TRANSACTION", "100ms")
    settings = new_database("cic_writer")
    migrate.upgrade(settings, "0005")
    holder = psycopg.connect(settings.dsn)
    try:
        # ROW EXCLUSIVE does not conflict with the build's SHARE UPDATE EXCLUSIVE, but the build waits
        # for every transaction holding a lock that conflicts with SHARE (WaitForLockers) before it scans.
        holder.execute("LOCK TABLE conversations IN ROW EXCLUSIVE MODE")
        pid = holder.info.backend_pid
        time.sleep(0.15)
        result = run("upgrade", "0006", "--concurrent-lock-timeout", "300ms", "--dsn", settings.dsn)
    finally:
        holder.close()
    line = one_error_line(result)
    before = [w for w in result.output.splitlines() if w.startswith("warning: create index concurrently on conversations")]
    assert len(before) == 1 and f"pid {pid} (RowExclusiveLock, idle in transaction" in before[0]
    assert "no session holds a conflicting lock any more" not in line
    assert f"held by pid {pid} (RowExclusiveLock, idle in transaction" in line
    # the twin: with the writer gone the build goes through
    assert run("upgrade", "0006", "--dsn", settings.dsn).exit_code == 0


# --- pre-flight before a constraint is validated ----------------------------------------------------


@pytest.fixture
def legacy_roles(new_database):
    """A database at 0001 with two messages whose role the 0003 CHECK (validated by 0005) refuses."""
    settings = new_database("legacy_role")
    migrate.upgrade(settings, "0001")
    with psycopg.connect(settings.dsn, autocommit=True) as conn:
        one_user(conn, messages=[("00000000-0000-0000-0000-0000000000a1", "function"),
                                 ("00000000-0000-0000-0000-0000000000a2", "user"),
                                 ("00000000-0000-0000-0000-0000000000a3", "function")])
    return settings


EXPECTED_VIOLATION = (
    "revision 0005 would fail: ck_messages_role (role IN ('system', 'user', 'assistant', 'tool')) on messages is "
    "violated by 2 rows (e.g. id 00000000-0000-0000-0000-0000000000a1: role='function'; "
    "id 00000000-0000-0000-0000-0000000000a3: role='function'); see them with: SELECT * FROM messages WHERE NOT "
    "coalesce((role IN ('system', 'user', 'assistant', 'tool')), true); Fix or delete them, then re-run")


def test_upgrade_stops_before_changing_anything_naming_the_rows_a_validate_would_refuse(legacy_roles):
    line = one_error_line(run("upgrade", "--dsn", legacy_roles.dsn))
    assert line == f"Error: {EXPECTED_VIOLATION}. Nothing was changed: the upgrade did not start."
    assert migrate.current(legacy_roles) == "0001"
    # up to 0004 nothing validates it, so that upgrade runs; then the CHECK exists NOT VALID and is
    # read from the catalog
    assert run("upgrade", "0004", "--dsn", legacy_roles.dsn).exit_code == 0
    line = one_error_line(run("upgrade", "--dsn", legacy_roles.dsn))
    assert line.startswith("Error: revision 0005 would fail: ck_messages_role (((role)::text = ANY ")
    assert ("is violated by 2 rows (e.g. id 00000000-0000-0000-0000-0000000000a1: role='function'; "
            "id 00000000-0000-0000-0000-0000000000a3: role='function'); see them with: SELECT * FROM messages") in line
    assert migrate.current(legacy_roles) == "0004"
    # the twin: once the rows are fixed the upgrade runs to head
    with psycopg.connect(legacy_roles.dsn, autocommit=True) as conn:
        conn.execute("UPDATE messages SET role = 'tool' WHERE role = 'function'")
    assert run("upgrade", "--dsn", legacy_roles.dsn).exit_code == 0
    assert migrate.current(legacy_roles) == migrate.head()


def test_the_dry_run_shows_the_rows_a_validate_would_refuse(legacy_roles):
    result = run("upgrade", "--dry-run", "--dsn", legacy_roles.dsn)
    assert result.exit_code == 0, result.output
    assert (f"\nWould fail: {EXPECTED_VIOLATION}. `chatschema upgrade` stops before changing anything.\n"
            in result.output)
    assert migrate.current(legacy_roles) == "0001"
    # the twin: clean data, no warning
    with psycopg.connect(legacy_roles.dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM messages WHERE role = 'function'")
    assert "Would fail" not in run("upgrade", "--dry-run", "--dsn", legacy_roles.dsn).output
