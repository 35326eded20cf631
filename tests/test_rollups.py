"""The Citus path's analytics rollups, on one node: the same rows as the views, exact, idempotent, incremental.

``chatschema distribute`` creates the rollup tables on a coordinator; their refresh is plain
PostgreSQL (Citus pushes the same statements down to each shard), so its arithmetic is specified
here on the skewed data, messages either side of UTC midnights included, on every server the tests
run on. tests/test_citus_distribute.py runs it on the cluster.
"""

from __future__ import annotations

from datetime import date, timedelta

import psycopg
import pytest
from click.testing import CliRunner

from chatschema import api, api_citus
from chatschema.cli import main
from chatschema.citus import rollups
from chatschema.views import refresh_views

USER_ROWS = "SELECT user_id, day, messages, user_messages, assistant_messages, active_conversations FROM {}"
TOTAL_ROWS = "SELECT day, messages, active_users, active_conversations FROM {}"


def differences(conn: psycopg.Connection) -> tuple[int, int]:
    """(user-days, days) where the rollups and the freshly refreshed views differ, either way."""
    def both_ways(rows: str, view: str, table: str) -> int:
        a, b = rows.format(view), rows.format(table)
        return conn.execute(f"SELECT count(*) FROM (({a} EXCEPT {b}) UNION ALL ({b} EXCEPT {a})) d").fetchone()[0]

    refresh_views(conn, concurrently=False)
    return (both_ways(USER_ROWS, "user_daily_messages", rollups.USER_ROLLUP),
            both_ways(TOTAL_ROWS, "daily_message_totals", rollups.TOTALS_ROLLUP))


@pytest.fixture
def dsn(skewed_databases, new_database) -> str:
    settings = new_database("rollups", template=skewed_databases.at_head)
    with psycopg.connect(settings.dsn, autocommit=True) as conn:
        for statement in rollups.CREATE:
            conn.execute(statement)
    return settings.dsn


def test_a_first_refresh_rolls_up_every_day_as_the_views_do(dsn):
    with psycopg.connect(dsn, autocommit=True) as conn:
        done = rollups.refresh_rollups(conn)
        stored = conn.execute(f"SELECT count(*) FROM {rollups.USER_ROLLUP}").fetchone()[0]
        assert done.since is None and done.user_days_written == stored > 0 and done.user_days_deleted == 0
        assert differences(conn) == (0, 0)
        # the twin: one count off in the rollup is seen
        conn.execute(f"UPDATE {rollups.USER_ROLLUP} SET messages = messages + 1 "
                     f"WHERE (user_id, day) = (SELECT user_id, day FROM {rollups.USER_ROLLUP} LIMIT 1)")
        assert differences(conn) == (2, 0)


def test_a_refresh_run_again_writes_nothing_and_changes_nothing(dsn):
    with psycopg.connect(dsn, autocommit=True) as conn:
        rollups.refresh_rollups(conn, rollups.ALL_DAYS)
        before = conn.execute(f"SELECT array_agg(t ORDER BY user_id, day) FROM {rollups.USER_ROLLUP} t").fetchone()
        again = rollups.refresh_rollups(conn, rollups.ALL_DAYS)
        assert (again.user_days_written, again.user_days_deleted) == (0, 0)
        assert conn.execute(f"SELECT array_agg(t ORDER BY user_id, day) FROM {rollups.USER_ROLLUP} t"
                            ).fetchone() == before


def test_the_default_window_counts_new_sends_and_writes_only_their_days(dsn, skewed_databases):
    owner, conversation = skewed_databases.cases.conversations[0]
    with psycopg.connect(dsn, autocommit=True) as conn:
        rollups.refresh_rollups(conn)
        for i in range(5):
            api.send_message(conn, owner, conversation, "user", f"after the refresh {i}")
        assert differences(conn)[0] >= 1  # the rollups are a refresh behind, as the views are
        newest = conn.execute(f"SELECT max(day) FROM {rollups.USER_ROLLUP}").fetchone()[0]
        assert rollups.default_since(conn) == newest - timedelta(days=1)
        done = rollups.refresh_rollups(conn)
        assert done.user_days_written == 1  # the owner's today; every other row was already right
        assert differences(conn) == (0, 0)
        today = conn.execute("SELECT (now() AT TIME ZONE 'UTC')::date").fetchone()[0]
        [row] = api_citus.user_daily_counts(conn, owner, today, today + timedelta(days=1))
        assert row.messages == 5 and row.user_messages == 5


def test_a_day_whose_messages_are_deleted_leaves_the_rollup_when_its_window_is_refreshed(dsn):
    with psycopg.connect(dsn, autocommit=True) as conn:
        rollups.refresh_rollups(conn)
        # the midnight conversation's 2026-04-15 messages (skewed EXTRAS), one user's only ones that day
        day = date(2026, 4, 15)
        user = conn.execute("SELECT user_id FROM conversations WHERE id = md5('c-days')::uuid").fetchone()[0]
        conn.execute("DELETE FROM messages WHERE conversation_id = md5('c-days')::uuid "
                     "AND (created_at AT TIME ZONE 'UTC')::date = %s", (day,))
        others = conn.execute("SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id "
                              "WHERE c.user_id = %s AND (m.created_at AT TIME ZONE 'UTC')::date = %s",
                              (user, day)).fetchone()[0]
        assert others == 0
        # older than the default window: still counted (said in --help), until a refresh covers it
        rollups.refresh_rollups(conn)
        assert api_citus.user_daily_counts(conn, user, day, day + timedelta(days=1))
        done = rollups.refresh_rollups(conn, day)
        assert done.user_days_deleted == 1
        assert api_citus.user_daily_counts(conn, user, day, day + timedelta(days=1)) == ()
        assert differences(conn) == (0, 0)


def test_a_window_refresh_reads_the_window_through_the_indexes_not_every_message(dsn):
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("ANALYZE")
        newest = conn.execute("SELECT max(created_at AT TIME ZONE 'UTC')::date FROM messages").fetchone()[0]
        window = {"since": newest - timedelta(days=1), "until": "infinity"}
        with conn.transaction(force_rollback=True):
            plan = "\n".join(r[0] for r in conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + rollups.UPSERT_USER_DAYS,
                                                        window).fetchall())
        assert "Seq Scan on messages" not in plan, plan
        assert "ix_messages_conversation_recent" in plan, plan
        # the twin: all history is a scan of every message, as a view's refresh is
        with conn.transaction(force_rollback=True):
            whole = "\n".join(r[0] for r in conn.execute("EXPLAIN " + rollups.UPSERT_USER_DAYS,
                                                         {"since": "-infinity", "until": "infinity"}).fetchall())
        assert "Seq Scan on messages" in whole, whole


def test_analytics_on_the_rollups_answer_as_the_api_on_the_views(dsn, skewed_databases):
    with psycopg.connect(dsn, autocommit=True) as conn:
        rollups.refresh_rollups(conn)
        refresh_views(conn, concurrently=False)
        since, until = date(2026, 1, 1), date(2026, 12, 31)
        for user in skewed_databases.cases.users[:3]:
            assert api_citus.user_daily_counts(conn, user, since, until) == api.user_daily_counts(conn, user, since,
                                                                                                  until)
        assert api_citus.daily_totals(conn, since, until) == api.daily_totals(conn, since, until)
        assert api_citus.daily_totals(conn, since, until)  # not two empty answers


def test_views_refresh_refreshes_the_rollups_where_they_exist(dsn):
    result = CliRunner().invoke(main, ["views", "refresh", "--dsn", dsn], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "refreshed the rollups over the first message .. now:" in result.output
    again = CliRunner().invoke(main, ["views", "refresh", "--since", "2026-04-01", "--dsn", dsn],
                               catch_exceptions=False)
    assert "refreshed the rollups over 2026-04-01 .. now: 0 user-days written, 0 deleted" in again.output


def test_views_refresh_since_without_rollups_is_refused_in_one_line(skewed_databases, new_database):
    plain = new_database("no_rollups", template=skewed_databases.at_head)
    result = CliRunner().invoke(main, ["views", "refresh", "--since", "2026-04-01", "--dsn", plain.dsn],
                                catch_exceptions=False)
    assert result.exit_code == 2
    assert result.output.strip() == ("Error: --since applies to the Citus rollups (user_daily_rollup, "
                                     "daily_totals_rollup), which this database does not have; the views were "
                                     "refreshed whole")
    bad = CliRunner().invoke(main, ["views", "refresh", "--since", "April", "--dsn", plain.dsn])
    assert bad.exit_code == 2 and "Traceback" not in bad.output
    with psycopg.connect(plain.dsn) as conn:
        assert not rollups.exists(conn)
        assert conn.execute("SELECT count(*) FROM pg_class WHERE relname LIKE %s", ("%rollup%",)).fetchone()[0] == 0
