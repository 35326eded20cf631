"""The standby fixture itself: it streams, replays, is read-only, and pausing replay makes it lag."""

from __future__ import annotations

import psycopg
import pytest


def test_the_standby_replays_what_the_primary_writes_and_refuses_writes(standby, new_database):
    settings = new_database("standby_replays")
    with psycopg.connect(settings.dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE replayed (n int)")
        conn.execute("INSERT INTO replayed SELECT generate_series(1, 100)")
    standby.wait_caught_up()
    with psycopg.connect(standby.settings_for(_dbname(settings)).dsn, autocommit=True) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is True
        assert conn.execute("SELECT count(*) FROM replayed").fetchone()[0] == 100
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("INSERT INTO replayed VALUES (1)")


def test_with_replay_paused_the_standby_falls_behind_and_catches_up_after(standby, new_database):
    settings = new_database("standby_paused")
    dbname = _dbname(settings)
    with psycopg.connect(settings.dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE replayed (n int)")
    standby.wait_caught_up()
    with standby.replay_paused():
        with psycopg.connect(settings.dsn, autocommit=True) as conn:
            conn.execute("INSERT INTO replayed SELECT generate_series(1, 1000)")
        with pytest.raises(AssertionError, match="did not replay"):
            standby.wait_caught_up(timeout=0.5)
        assert standby.lag_bytes() > 0
        with psycopg.connect(standby.settings_for(dbname).dsn, autocommit=True) as conn:
            assert conn.execute("SELECT count(*) FROM replayed").fetchone()[0] == 0
    standby.wait_caught_up()
    with psycopg.connect(standby.settings_for(dbname).dsn, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM replayed").fetchone()[0] == 1000


def _dbname(settings) -> str:
    return psycopg.conninfo.conninfo_to_dict(settings.dsn)["dbname"]
