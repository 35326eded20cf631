"""The team's queries keep their plan contracts on seeded, skewed data (chatschema's pytest plugin)."""

from pathlib import Path

import psycopg
import pytest

QUERIES = Path(__file__).resolve().parents[2] / "queries"


@pytest.mark.parametrize("path", sorted(QUERIES.glob("*.sql")), ids=lambda p: p.stem)
def test_query_keeps_its_contract(chatschema_assert_plan, path):
    chatschema_assert_plan(path)


def test_renaming_a_user_stays_in_this_tests_copy(chatschema_writable_database, chatschema_database):
    with psycopg.connect(chatschema_writable_database.dsn) as conn:
        conn.execute("UPDATE users SET name = 'renamed' WHERE id = (SELECT id FROM users ORDER BY id LIMIT 1)")
        assert conn.execute("SELECT count(*) FROM users WHERE name = 'renamed'").fetchone()[0] == 1
    with psycopg.connect(chatschema_database.dsn) as conn:
        assert conn.execute("SELECT count(*) FROM users WHERE name = 'renamed'").fetchone()[0] == 0
