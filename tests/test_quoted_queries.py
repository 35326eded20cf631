"""A message that quotes another session's query: at most 160 characters, marked when cut, no parameters.

The lock holder named by `views refresh` (and by a migration waiting for a lock: both quote through
``errors.quote_query``) is a real session on the real server, idle in transaction after its query.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest
from click.testing import CliRunner

from chatschema import migrate
from chatschema.cli import main
from chatschema.errors import QUOTED_QUERY_CHARS, TRUNCATED, quote_query
from chatschema.migrate import locks

# The secret a client binds as a parameter: pg_stat_activity shows "$1", and so must every message.
SECRET = uuid.UUID("5ec2e700-0000-4000-8000-00000000beef")
SHORT = "SELECT count(*) FROM user_daily_messages WHERE user_id = %s"
LONG = ("SELECT count(*) FROM user_daily_messages WHERE user_id = %s AND "
        + " AND ".join(f"messages >= {i}" for i in range(40)))


def refresh_line(dsn: str) -> str:
    result = CliRunner().invoke(main, ["views", "refresh", "--lock-timeout", "100ms", "--dsn", dsn],
                                catch_exceptions=False)
    assert result.exit_code == 2, result.output
    return result.output.strip().splitlines()[-1]


@pytest.fixture()
def at_head(new_database):
    settings = new_database("quoted")
    migrate.upgrade(settings)
    return settings


def holding(dsn: str, query: str) -> psycopg.Connection:
    """A session that ran ``query`` with SECRET bound and keeps its ACCESS SHARE lock and its snapshot
    (REPEATABLE READ), idle in transaction."""
    reader = psycopg.connect(dsn)
    reader.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    reader.execute(query, (SECRET,))
    return reader


def test_a_long_query_is_cut_at_160_characters_and_says_so(at_head):
    reader = holding(at_head.dsn, LONG)
    try:
        line = refresh_line(at_head.dsn)
    finally:
        reader.close()
    quoted = LONG.replace("%s", "$1")[:QUOTED_QUERY_CHARS]
    assert "(AccessShareLock, idle in transaction, transaction open " in line
    assert f"): {quoted}{TRUNCATED}. Nothing was refreshed" in line
    assert str(SECRET) not in line


def test_a_short_query_is_quoted_whole_without_a_marker(at_head):
    reader = holding(at_head.dsn, SHORT)
    try:
        line = refresh_line(at_head.dsn)
    finally:
        reader.close()
    assert f"): {SHORT.replace('%s', '$1')}. Nothing was refreshed" in line
    assert TRUNCATED not in line and str(SECRET) not in line


def test_old_snapshots_quote_through_the_same_rule(at_head):
    # The concurrent build's other kind of holder: a transaction with an old snapshot.
    reader = holding(at_head.dsn, LONG)
    try:
        with psycopg.connect(at_head.dsn, autocommit=True) as monitor:
            [found] = [b for b in locks.old_snapshots(monitor, min_age_s=0) if b.pid == reader.info.backend_pid]
    finally:
        reader.close()
    assert found.query == LONG.replace("%s", "$1")[:QUOTED_QUERY_CHARS] + TRUNCATED


@pytest.mark.parametrize("text, expected", [
    ("x" * 160, "x" * 160),  # exactly the limit: whole, no marker
    ("x" * 161, "x" * 160 + TRUNCATED),
    ("SELECT\n   1", "SELECT 1"),  # whitespace runs are one space: one line
    ("x" * 160 + " ", "x" * 160 + TRUNCATED),  # the server's text was cut after 160: still marked
])
def test_quote_query(text, expected):
    assert quote_query(text) == expected
