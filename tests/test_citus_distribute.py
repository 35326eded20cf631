"""On the 3-node cluster: upgrade, `distribute`, seed, `plans verify`, concurrent sends through the API.

One module-scoped database (the coordinator's ``postgres``) walks the whole way a DBA does; the
tests read in that order. Other Citus modules share the cluster, so the fixture clears what it finds
and leaves nothing behind.
"""

from __future__ import annotations

import threading
import uuid

import psycopg
import pytest
from click.testing import CliRunner

from chatschema import api, migrate
from chatschema import queries as catalog
from chatschema import api_citus as citus_send
from chatschema.citus.distribute import layout_differences
from chatschema.errors import MessageIdConflict, NotFound
from chatschema.cli import main
from chatschema.migrations import BOOKKEEPING_TABLES
from tests import citus

pytestmark = pytest.mark.citus

CLEAR = ["DROP MATERIALIZED VIEW IF EXISTS daily_message_totals, user_daily_messages, daily_message_totals_next, "
         "user_daily_messages_next CASCADE",
         "DROP TABLE IF EXISTS messages, conversations, users CASCADE",
         f"DROP TABLE IF EXISTS {', '.join(BOOKKEEPING_TABLES)} CASCADE",
         "DROP FUNCTION IF EXISTS chatschema_messages_fill_user_id() CASCADE",
         "DROP FUNCTION IF EXISTS chatschema_send_message(uuid, uuid, uuid, text, text)"]

# The owner's conversations and messages, joined on the distribution column as Citus requires.
MISMATCHES = """
SELECT count(*) FROM conversations c
LEFT JOIN LATERAL (SELECT count(*)::int AS n, max(m.created_at) AS newest FROM messages m
                    WHERE m.user_id = c.user_id AND m.conversation_id = c.id) s ON true
WHERE c.id = ANY(%(ids)s) AND (c.message_count <> s.n OR c.last_activity_at <> s.newest)
"""


# Every user-day of the rollup against the messages counted live (a join on the distribution column,
# pushed down shard by shard), both ways.
ROLLUP_MISMATCHES = """
WITH live AS (SELECT user_id, (created_at AT TIME ZONE 'UTC')::date AS day, count(*) AS messages,
                     count(DISTINCT conversation_id) AS active_conversations
                FROM messages GROUP BY user_id, day)
SELECT count(*) FROM live FULL JOIN user_daily_rollup r USING (user_id, day)
 WHERE live.messages IS DISTINCT FROM r.messages OR live.active_conversations IS DISTINCT FROM r.active_conversations
"""


def concurrent_sends(coordinator: str, pairs: list, send) -> list[BaseException]:
    """4 threads x 15 sends with ``send`` over the (owner, conversation) ``pairs``; what they raised."""
    errors: list[BaseException] = []

    def sender(n: int) -> None:
        try:
            with psycopg.connect(coordinator, autocommit=True) as conn:
                for i in range(15):
                    user_id, conversation_id = pairs[(n + i) % len(pairs)]
                    send(conn, user_id, conversation_id, "user", f"sender {n} message {i}")
        except BaseException as exc:  # noqa: BLE001 - the test reports it
            errors.append(exc)

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return errors


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def coordinator(citus_cluster: citus.CitusCluster):
    with citus_cluster.connect(autocommit=True) as conn:
        for statement in CLEAR:
            conn.execute(statement)
    yield citus_cluster.coordinator
    with citus_cluster.connect(autocommit=True) as conn:
        for statement in CLEAR:
            conn.execute(statement)


def test_distribute_refuses_a_database_below_head(coordinator):
    assert run("upgrade", "0007", "--dsn", coordinator).exit_code == 0
    result = run("distribute", "--dry-run", "--dsn", coordinator)
    assert result.exit_code == 2
    assert result.output.strip() == (f"Error: the database is at 0007, not at {migrate.head()}, the distribution-ready "
                                     f"head: run `chatschema upgrade` first; nothing was distributed")
    assert run("lint", "--citus", "--dsn", coordinator).exit_code == 1


def test_distribute_refuses_a_key_citus_would_reject(coordinator):
    assert run("upgrade", "--dsn", coordinator).exit_code == 0
    assert run("lint", "--citus", "--dsn", coordinator).exit_code == 0
    with psycopg.connect(coordinator, autocommit=True) as conn:
        conn.execute("CREATE UNIQUE INDEX ux_messages_id ON messages (id)")
        try:
            result = run("distribute", "--dsn", coordinator)
        finally:
            conn.execute("DROP INDEX ux_messages_id")
    assert result.exit_code == 2
    assert result.output.strip() == ("Error: Citus would refuse: key ux_messages_id: unique index of messages (id) does "
                                     "not contain user_id (revisions 0012 and 0015); nothing was distributed")
    with psycopg.connect(coordinator) as conn:
        assert conn.execute("SELECT count(*) FROM pg_dist_partition").fetchone()[0] == 0


def test_the_dry_run_prints_each_call_and_changes_nothing(coordinator):
    result = run("distribute", "--dry-run", "--dsn", coordinator)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].endswith(f"(nothing is changed): 3 tables at {migrate.head()}, 32 shards each over 2 workers")
    assert lines[1:6:2] == ["  SELECT create_distributed_table('users', 'id')",
                            "  SELECT create_distributed_table('conversations', 'user_id', colocate_with => 'users')",
                            "  SELECT create_distributed_table('messages', 'user_id', colocate_with => 'conversations')"]
    assert lines[2].startswith("      EXCLUSIVE on users while its rows are copied into the shards: reads continue, "
                               "writes wait; moves ~")
    assert ("  SELECT create_distributed_function('chatschema_send_message(uuid, uuid, uuid, text, text)', "
            "'p_user_id', colocate_with => 'conversations', force_delegation => true)") in lines
    with psycopg.connect(coordinator) as conn:
        assert conn.execute("SELECT count(*) FROM pg_dist_partition").fetchone()[0] == 0
        assert conn.execute("SELECT to_regprocedure(%s)", (citus_send.FUNCTION,)).fetchone()[0] is None


def test_distribute_co_locates_the_tables_and_records_them(coordinator):
    result = run("distribute", "--dsn", coordinator)
    assert result.exit_code == 0, result.output
    with psycopg.connect(coordinator) as conn:
        layout = conn.execute("SELECT logicalrelid::regclass::text, column_to_column_name(logicalrelid, partkey), "
                              "colocationid, partmethod FROM pg_dist_partition ORDER BY 1").fetchall()
        assert [(t, c) for t, c, _, _ in layout] == [
            ("conversations", "user_id"), ("daily_totals_rollup", None), ("messages", "user_id"),
            ("user_daily_rollup", "user_id"), ("users", "id")]
        assert len({g for t, _, g, _ in layout if t != "daily_totals_rollup"}) == 1
        assert [t for t, _, _, method in layout if method == "n"] == ["daily_totals_rollup"]  # a reference table
        assert layout_differences(conn) == []
    again = run("distribute", "--dsn", coordinator)
    assert again.exit_code == 0 and again.output.count("already distributed: skipped") == 5
    assert "rollups refreshed over " in again.output


def test_a_layout_that_differs_from_the_record_is_named(coordinator):
    with psycopg.connect(coordinator) as conn:
        conn.execute("UPDATE chatschema_distribution SET distribution_column = 'id' WHERE table_name = 'messages'")
        assert layout_differences(conn) == ["messages is distributed by user_id, recorded as id"]
        conn.rollback()


def test_seed_then_every_hot_query_is_a_router_query(coordinator):
    seeded = run("seed", "--scale", "ci", "--dsn", coordinator)
    assert seeded.exit_code == 0, seeded.output
    result = run("plans", "verify", "--analyze", "--dsn", coordinator)
    assert "Citus: custom plans only" in result.output
    assert "Citus: send_message.citus verified in place of send_message.optimized" in result.output
    assert not [line for line in result.output.splitlines() if line.startswith("✗ ")], result.output
    assert result.exit_code == 0, result.output
    assert "✓ send_message.citus" in result.output
    assert "export_messages.optimized" in result.output and "refuses EXPLAIN of DECLARE" in result.output
    shown = run("plans", "show", "load_messages.optimized", "--dsn", coordinator, "--analyze")
    assert shown.exit_code == 0, shown.output
    assert "Citus Adaptive" in shown.output and "ix_messages_conversation_recent" in shown.output
    assert "Custom Scan (Citus Adaptive)  (1 task, rows 21" in shown.output


def test_the_optimized_send_named_on_citus_is_verified_as_asked_and_fans_out(coordinator):
    # The twin of the substitution: the one-statement send's CTEs (a FOR UPDATE read, an INSERT ... ON
    # CONFLICT fed by it, an UPDATE joined to the insert) are planned by Citus as distributed subplans,
    # not as one router task whose shard plan the contract could be checked on (docs/design.md
    # "Idempotent send on Citus").
    result = run("plans", "verify", "--query", "send_message.optimized", "--dsn", coordinator)
    assert result.exit_code == 1, result.output
    assert "✗ send_message.optimized" in result.output and "in place of" not in result.output


def test_summaries_stay_exact_under_concurrent_sends_through_the_api(coordinator):
    with psycopg.connect(coordinator) as conn:
        pairs = conn.execute("SELECT user_id, id FROM conversations ORDER BY id LIMIT 3").fetchall()
    assert concurrent_sends(coordinator, pairs, api.send_message) == []
    refreshed = run("views", "refresh", "--dsn", coordinator)
    assert refreshed.exit_code == 0 and "refreshed the rollups over " in refreshed.output, refreshed.output
    with psycopg.connect(coordinator) as conn:
        assert conn.execute(ROLLUP_MISMATCHES).fetchone()[0] == 0
        # the twin: a user-day counted once too often is seen
        conn.execute("UPDATE user_daily_rollup SET messages = messages + 1 WHERE user_id = %s", (pairs[0][0],))
        assert conn.execute(ROLLUP_MISMATCHES).fetchone()[0] > 0
        conn.rollback()
    with psycopg.connect(coordinator) as conn:
        assert conn.execute(MISMATCHES, {"ids": [c for _, c in pairs]}).fetchone()[0] == 0
        # the twin: a summary off by one is counted
        conn.execute("UPDATE conversations SET message_count = message_count + 1 WHERE user_id = %s AND id = %s",
                     pairs[0])
        assert conn.execute(MISMATCHES, {"ids": [c for _, c in pairs]}).fetchone()[0] == 1
        conn.rollback()


def _tasks(conn: psycopg.Connection, sql: str, params: dict) -> list[int]:
    text = psycopg.ClientCursor(conn).mogrify(sql, params)
    plan = "\n".join(r[0] for r in conn.execute("EXPLAIN (VERBOSE) " + text).fetchall())
    return [int(line.split(":")[1]) for line in plan.splitlines() if line.strip().startswith("Task Count:")]


def test_the_delegated_send_is_one_task_on_the_owners_worker_and_keeps_every_guarantee(coordinator):
    with psycopg.connect(coordinator, autocommit=True) as conn:
        (owner, conv), (other_owner, _) = conn.execute(
            "SELECT DISTINCT ON (user_id) user_id, id FROM conversations ORDER BY user_id, id LIMIT 2").fetchall()
        params = {"user_id": owner, "conversation_id": conv, "message_id": uuid.uuid4(), "role": "user",
                  "content": "delegated"}
        assert _tasks(conn, citus_send.CALL, params) == [1]
        with conn.transaction():  # force_delegation: in the caller's transaction too
            assert _tasks(conn, citus_send.CALL, params) == [1]
        # the twin: the catalog's one-statement send is four distributed steps on Citus
        assert len(_tasks(conn, catalog.get("send_message").sql, params)) > 1

        first = citus_send.send_message(conn, owner, conv, "user", "delegated", message_id=params["message_id"])
        again = citus_send.send_message(conn, owner, conv, "user", "delegated", message_id=params["message_id"])
        assert not first.replayed and again.replayed and again.created_at == first.created_at
        with pytest.raises(MessageIdConflict, match="with a different content"):
            citus_send.send_message(conn, owner, conv, "user", "other", message_id=params["message_id"])
        with pytest.raises(NotFound):
            citus_send.send_message(conn, other_owner, conv, "user", "not theirs")
        stored = conn.execute("SELECT count(*) FROM messages WHERE user_id = %s AND id = %s",
                              (owner, params["message_id"])).fetchone()[0]
        assert stored == 1
        pairs = conn.execute("SELECT user_id, id FROM conversations ORDER BY id LIMIT 3").fetchall()
    assert concurrent_sends(coordinator, pairs, citus_send.send_message) == []
    with psycopg.connect(coordinator) as conn:
        assert conn.execute(MISMATCHES, {"ids": [c for _, c in pairs] + [conv]}).fetchone()[0] == 0


def test_a_send_function_citus_does_not_delegate_fails_verify_by_name(coordinator):
    with psycopg.connect(coordinator, autocommit=True) as conn:
        conn.execute(f"DROP FUNCTION {citus_send.FUNCTION}")
        conn.execute(citus_send.CREATE_FUNCTION)  # propagated to the workers, but not delegated
    try:
        result = run("plans", "verify", "--query", "send_message", "--dsn", coordinator)
        assert result.exit_code == 1, result.output
        assert "✗ send_message.citus" in result.output
        assert "send message (citus) is not delegated: its call runs on the coordinator (Result)" in result.output
    finally:
        again = run("distribute", "--dsn", coordinator)
    assert again.exit_code == 0, again.output
    assert run("plans", "verify", "--query", "send_message", "--dsn", coordinator).exit_code == 0


def test_check_on_the_distributed_coordinator_is_clean_and_names_a_layout_change(coordinator):
    result = run("check", "--dsn", coordinator)
    assert result.exit_code == 0, result.output
    with psycopg.connect(coordinator, autocommit=True) as conn:
        conn.execute("UPDATE chatschema_distribution SET distribution_column = 'id' WHERE table_name = 'messages'")
        try:
            changed = run("check", "--dsn", coordinator)
        finally:
            conn.execute("UPDATE chatschema_distribution SET distribution_column = 'user_id' "
                         "WHERE table_name = 'messages'")
    assert changed.exit_code == 1, changed.output
    assert "messages is distributed by user_id, recorded as id" in changed.output


def test_dropping_a_hot_index_on_the_shards_fails_verify_by_name(coordinator):
    with psycopg.connect(coordinator, autocommit=True) as conn:
        conn.execute("DROP INDEX ix_conversations_user_activity")
    result = run("plans", "verify", "--analyze", "--dsn", coordinator)
    assert result.exit_code == 1
    assert "does not use ix_conversations_user_activity on conversations" in result.output
