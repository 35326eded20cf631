"""An application's foreign key on a key 0015 replaces stops the upgrade before anything changes.

0015 swaps conversations_pkey from (id) to (id, user_id). An application table referencing
conversations (id) depends on the old key, PostgreSQL would refuse the swap half-way up the chain,
and the constraint is not chatschema's to drop. The pre-flight names it, with the change that lets
the upgrade through, and changes nothing; a foreign key on the new key's columns does not stop it.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest
from click.testing import CliRunner

from chatschema import migrate
from chatschema.cli import main


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def at_0014(new_database):
    settings = new_database("dependents")
    migrate.upgrade(settings, "0014")
    user, conv = uuid.uuid4(), uuid.uuid4()
    with psycopg.connect(settings.dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO users (id, name) VALUES (%s, 'u')", (user,))
        conn.execute("INSERT INTO conversations (id, user_id, title) VALUES (%s, %s, 't')", (conv, user))
    return settings, user, conv


EXPECTED = (
    "revision 0015 replaces conversations's key conversations_pkey, and the foreign key "
    "bookmarks_conversation_id_fkey on bookmarks (FOREIGN KEY (conversation_id) REFERENCES conversations(id)) "
    "depends on it; chatschema does not change constraints it did not create, so PostgreSQL would refuse the swap. "
    "Re-point it at the new key first (add the owner column and FOREIGN KEY (user_id, ...) REFERENCES "
    "conversations (user_id, id) NOT VALID, VALIDATE, then drop bookmarks_conversation_id_fkey), or drop it, "
    "then re-run"
)


def test_an_application_foreign_key_on_conversations_id_stops_the_upgrade_naming_it(at_0014):
    settings, _, conv = at_0014
    with psycopg.connect(settings.dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE bookmarks (id bigint PRIMARY KEY, conversation_id uuid REFERENCES conversations (id))")
        conn.execute("INSERT INTO bookmarks VALUES (1, %s)", (conv,))
    dry = run("upgrade", "--dry-run", "--dsn", settings.dsn)
    assert dry.exit_code == 0, dry.output
    assert f"\nWould fail: {EXPECTED}. `chatschema upgrade` stops before changing anything.\n" in dry.output

    result = run("upgrade", "--dsn", settings.dsn)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.output.strip().splitlines()[-1] == f"Error: {EXPECTED}. Nothing was changed: the upgrade did not start."
    assert migrate.current(settings) == "0014"
    with psycopg.connect(settings.dsn) as conn:
        assert conn.execute("SELECT count(*) FROM pg_constraint WHERE conname = 'bookmarks_conversation_id_fkey'"
                            ).fetchone()[0] == 1
        assert conn.execute("SELECT count(*) FROM bookmarks").fetchone()[0] == 1


def test_twin_a_foreign_key_on_the_owner_and_id_lets_the_upgrade_through(at_0014):
    settings, user, conv = at_0014
    with psycopg.connect(settings.dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE bookmarks (id bigint PRIMARY KEY, user_id uuid, conversation_id uuid, "
                     "FOREIGN KEY (user_id, conversation_id) REFERENCES conversations (user_id, id))")
        conn.execute("INSERT INTO bookmarks VALUES (1, %s, %s)", (user, conv))
    assert "Would fail" not in run("upgrade", "--dry-run", "--dsn", settings.dsn).output
    result = run("upgrade", "--dsn", settings.dsn)
    assert result.exit_code == 0, result.output
    assert migrate.current(settings) == migrate.head()
    with psycopg.connect(settings.dsn) as conn:
        assert conn.execute("SELECT count(*) FROM pg_constraint WHERE conrelid = 'bookmarks'::regclass "
                            "AND contype = 'f' AND convalidated").fetchone()[0] == 1
