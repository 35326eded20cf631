"""A database that cannot store Unicode is refused by upgrade and stamp before anything changes.

In a LATIN1 database psycopg encodes every parameter to LATIN1: sending an emoji raises a raw
UnicodeEncodeError in the application, long after the migration. So chatschema refuses such a
database up front, one line, exit 2, with the encoding named; a UTF8 database proceeds.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest
from click.testing import CliRunner
from psycopg import sql

from chatschema import api, migrate
from chatschema.cli import main
from chatschema.migrations import VERSION_TABLE
from chatschema.models import metadata

from .populate import USER_ID, one_user


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def refusal(database: str, action: str) -> str:
    return (f"Error: {database} has encoding LATIN1, not UTF8: chat content is Unicode, and LATIN1 cannot store "
            f"emoji or most scripts (sending one fails with UnicodeEncodeError), so chatschema does not {action} it; "
            "nothing was changed. Create a UTF8 database (CREATE DATABASE ... ENCODING 'UTF8' TEMPLATE template0) and "
            "move the data into it (pg_dump | psql)")


@pytest.fixture
def latin1(pg_server):
    name = f"cs_latin1_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_server.admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0")
                     .format(sql.Identifier(name)))
    try:
        yield pg_server.settings_for(name)
    finally:
        with psycopg.connect(pg_server.admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def tables(settings) -> list[str]:
    with psycopg.connect(settings.dsn) as conn:
        return [r[0] for r in conn.execute("SELECT relname::text FROM pg_class WHERE relnamespace = "
                                           "current_schema()::regnamespace ORDER BY 1").fetchall()]


def one_line(result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    return lines[0]


@pytest.mark.parametrize("dry", [(), ("--dry-run",)], ids=["run", "dry-run"])
def test_upgrade_refuses_a_latin1_database_naming_its_encoding(latin1, dry):
    line = one_line(run("upgrade", *dry, "--dsn", latin1.dsn))
    assert line.startswith("Error: ") and latin1.dsn.split("dbname=")[1].split()[0] in line.split(" has ")[0]
    assert line.endswith(refusal("", "upgrade").removeprefix("Error: "))
    assert tables(latin1) == []


def test_stamp_refuses_a_latin1_database_even_with_the_schema_there(latin1):
    # the application made the tables itself (create_all): it is the encoding, not the schema, that is refused
    engine = migrate.engine_for(latin1.dsn)
    try:
        metadata.create_all(engine)
    finally:
        engine.dispose()
    before = tables(latin1)
    for force in ((), ("--force",)):
        line = one_line(run("stamp", "head", *force, "--dsn", latin1.dsn))
        assert line.endswith(refusal("", "stamp").removeprefix("Error: "))
    assert tables(latin1) == before and VERSION_TABLE not in before and "messages" in before


def test_a_utf8_database_proceeds_and_stores_emoji(new_database):
    """The twin: the same commands on UTF8 go through, and the message the refusal is about is stored."""
    settings = new_database("utf8")
    assert run("upgrade", "--dry-run", "--dsn", settings.dsn).exit_code == 0
    assert run("upgrade", "--dsn", settings.dsn).exit_code == 0
    assert run("stamp", migrate.head(), "--dsn", settings.dsn).exit_code == 0
    with psycopg.connect(settings.dsn, autocommit=True) as conn:
        conv = one_user(conn)
        sent = api.send_message(conn, USER_ID, conv, "user", "ok 🙂 你好")
        assert api.load_messages(conn, USER_ID, conv).items[0].id == sent.id
        assert conn.execute("SELECT content FROM messages").fetchone()[0] == "ok 🙂 你好"
