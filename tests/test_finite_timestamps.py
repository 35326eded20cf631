"""Revision 0008: the schema keeps only timestamps the API can load, and says which rows stop it.

psycopg loads a timestamptz into Python's datetime (years 1-9999): 'infinity', '-infinity', a BC
or a year-10000 value raises DataError on every list and load of the user who owns it. Revision
0008 forbids them with CHECKs added NOT VALID and validated after; the pre-flight names the rows
that would make it fail before anything changes.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest
from click.testing import CliRunner
from psycopg import errors as pg_errors

from chatschema import api, migrate
from chatschema.cli import main
from chatschema.queries import send_message
from chatschema.vocabulary import EARLIEST, LATEST

from .populate import USER_ID, one_user

ODD = ["infinity", "-infinity", "0044-03-15 12:00:00+00 BC", "10000-01-01 00:00:00+00"]
COLUMNS = [("messages", "created_at"), ("conversations", "created_at"), ("conversations", "updated_at"),
           ("conversations", "last_activity_at")]
FAR_ZONES = ["UTC", "Pacific/Kiritimati", "Etc/GMT+12"]  # +14 h and -12 h: the extremes of the tz database

M1, M2, M3 = (f"00000000-0000-0000-0000-0000000000a{i}" for i in (1, 2, 3))


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def at_head(new_database):
    settings = new_database("finite_head")
    migrate.upgrade(settings)
    with psycopg.connect(settings.dsn, autocommit=True) as conn:
        one_user(conn, messages=[(M1, "user"), (M2, "assistant")])
    return settings


@pytest.fixture
def at_0007(new_database):
    settings = new_database("finite_0007")
    migrate.upgrade(settings, "0007")
    with psycopg.connect(settings.dsn, autocommit=True) as conn:
        one_user(conn, messages=[(M1, "user"), (M2, "assistant"), (M3, "user")])
    return settings


@pytest.mark.parametrize("zone", FAR_ZONES)
@pytest.mark.parametrize("edge", [EARLIEST, "1970-01-01 00:00:00+00", f"{LATEST[:10]} 00:00:00+00"])
def test_the_api_loads_every_instant_the_schema_allows_in_any_session_time_zone(at_head, edge, zone):
    just_inside = "(%s::timestamptz - interval '1 microsecond')" if edge.startswith(LATEST[:10]) else "%s::timestamptz"
    with psycopg.connect(at_head.dsn, autocommit=True) as conn:
        conn.execute(f"UPDATE messages SET created_at = {just_inside} WHERE id = %s", (edge, M1))
        conn.execute(f"UPDATE conversations SET created_at = {just_inside}, updated_at = {just_inside}, "
                     f"last_activity_at = {just_inside}", (edge, edge, edge))
        conn.execute("SELECT set_config('TimeZone', %s, false)", (zone,))
        page = api.list_conversations(conn, USER_ID)
        assert len(page.items) == 1
        messages = api.load_messages(conn, USER_ID, page.items[0].id)
        assert {str(m.id) for m in messages.items} == {M1, M2}


@pytest.mark.parametrize("value", ODD)
@pytest.mark.parametrize("table, column", COLUMNS)
def test_a_timestamp_the_api_cannot_load_is_refused_at_head(at_head, table, column, value):
    with psycopg.connect(at_head.dsn, autocommit=True) as conn:
        with pytest.raises(pg_errors.CheckViolation, match=f"ck_{table}_{column}_finite"):
            conn.execute(f"UPDATE {table} SET {column} = %s::timestamptz", (value,))


@pytest.mark.parametrize("value", ODD)
def test_before_0008_such_a_value_is_stored_and_breaks_every_list_of_its_user(at_0007, value):
    """The twin, and why 0008 forbids rather than returns them."""
    with psycopg.connect(at_0007.dsn, autocommit=True) as conn:
        conn.execute("UPDATE conversations SET last_activity_at = %s::timestamptz", (value,))
        with pytest.raises(psycopg.DataError, match="timestamp too (large|small)"):
            api.list_conversations(conn, USER_ID)


def test_infinity_stops_the_send_order_before_0008(at_0007):
    """greatest(statement_timestamp(), 'infinity' + 1 us) is 'infinity': created_at stops growing."""
    with psycopg.connect(at_0007.dsn, autocommit=True) as conn:
        conn.execute("UPDATE conversations SET last_activity_at = 'infinity'")
        conv = conn.execute("SELECT id FROM conversations").fetchone()[0]
        # the send an application runs at 0007 (the head send writes messages.user_id, from 0009)
        values = {"content": "hi", "conversation_id": conv, "user_id": USER_ID, "role": "user"}
        for _ in range(2):
            with pytest.raises(psycopg.DataError):  # stored, then unloadable in its RETURNING
                conn.execute(send_message.ROLLOUT_0003.sql, {**values, "message_id": uuid.uuid4()}).fetchone()
        stamps = conn.execute("SELECT created_at::text FROM messages WHERE content = 'hi'").fetchall()
        assert stamps == [("infinity",), ("infinity",)]


def _odd_messages(settings) -> None:
    with psycopg.connect(settings.dsn, autocommit=True) as conn:
        for mid, value in ((M1, "infinity"), (M2, "-infinity"), (M3, "0044-03-15 12:00:00+00 BC")):
            conn.execute("UPDATE messages SET created_at = %s::timestamptz WHERE id = %s", (value, mid))


EXPR = ("isfinite(created_at) AND created_at >= '0001-01-02 00:00:00+00' AND created_at < "
        "'9999-12-31 00:00:00+00'")
EXPECTED = (
    f"revision 0008 would fail: ck_messages_created_at_finite ({EXPR}) on messages is violated by 3 rows "
    f"(e.g. id {M1}: created_at='infinity'; id {M2}: created_at='-infinity'; id {M3}: "
    "created_at='0044-03-15 12:00:00+00 BC'); see them with: SELECT * FROM messages WHERE NOT "
    f"coalesce(({EXPR}), true); Fix or delete them, then re-run")


def test_upgrade_stops_before_changing_anything_naming_the_messages_0008_would_refuse(at_0007):
    _odd_messages(at_0007)
    result = run("upgrade", "--dsn", at_0007.dsn)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.output.strip().splitlines()[-1] == (
        f"Error: {EXPECTED}. Nothing was changed: the upgrade did not start.")
    assert migrate.current(at_0007) == "0007"
    with psycopg.connect(at_0007.dsn) as conn:
        assert conn.execute("SELECT count(*) FROM pg_constraint WHERE conname LIKE '%finite'").fetchone()[0] == 0
    dry = run("upgrade", "--dry-run", "--dsn", at_0007.dsn)
    assert dry.exit_code == 0, dry.output
    assert f"\nWould fail: {EXPECTED}. `chatschema upgrade` stops before changing anything.\n" in dry.output
    # the lock policy: the scan of each VALIDATE lets reads and writes through, after the ADD has committed
    assert ('  ALTER TABLE "messages" VALIDATE CONSTRAINT "ck_messages_created_at_finite"\n      SHARE UPDATE EXCLUSIVE on '
            'messages (') in dry.output
    of_0008 = dry.output[dry.output.index("\n0008  "):dry.output.index("\n0009  ")]
    assert of_0008.count("reads and writes continue [autocommit; lock_timeout 15min") == 4
    # the twin: fixed rows, no warning, and the upgrade goes to head
    with psycopg.connect(at_0007.dsn, autocommit=True) as conn:
        conn.execute(f"UPDATE messages SET created_at = now() WHERE NOT ({EXPR})")
    assert "Would fail" not in run("upgrade", "--dry-run", "--dsn", at_0007.dsn).output
    assert run("upgrade", "--dsn", at_0007.dsn).exit_code == 0
    assert migrate.current(at_0007) == migrate.head()


def test_a_validate_that_failed_after_its_add_is_repaired_by_the_rerun(at_0007):
    """Each VALIDATE commits on its own: a failure leaves the NOT VALID constraints, which the re-run replaces."""
    with psycopg.connect(at_0007.dsn, autocommit=True) as conn:
        # 0008's own first statement, as a run that stopped after it would leave it
        conn.execute(f"ALTER TABLE messages ADD CONSTRAINT ck_messages_created_at_finite CHECK ({EXPR}) NOT VALID")
    assert run("upgrade", "--dsn", at_0007.dsn).exit_code == 0
    with psycopg.connect(at_0007.dsn) as conn:
        rows = conn.execute("SELECT conname, convalidated FROM pg_constraint WHERE conname LIKE '%finite' "
                            "ORDER BY conname").fetchall()
    assert rows == [("ck_conversations_created_at_finite", True), ("ck_conversations_last_activity_at_finite", True),
                    ("ck_conversations_updated_at_finite", True), ("ck_messages_created_at_finite", True)]
