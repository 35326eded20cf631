"""The Citus tier itself: a real coordinator and two workers (tests/citus.py), and what Citus plans look like."""

from __future__ import annotations

import json

import psycopg
import pytest
from psycopg import sql

from chatschema.plans.tree import parse_plan
from tests import citus

pytestmark = pytest.mark.citus


@pytest.fixture(scope="module")
def chat(citus_cluster: citus.CitusCluster) -> citus.CitusCluster:
    with citus_cluster.connect(autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS conversations, users")
        citus.create_chat(conn)
    return citus_cluster


def _explain(cluster: citus.CitusCluster, query: str, params: dict) -> dict:
    with cluster.connect() as conn:
        [[doc]] = conn.execute(sql.SQL("EXPLAIN (FORMAT JSON) ") + sql.SQL(query), params).fetchall()
    return (json.loads(doc) if isinstance(doc, str) else doc)[0]


LIST = "SELECT id FROM conversations WHERE user_id = %(u)s ORDER BY last_activity_at DESC, id DESC LIMIT 21"
FAN_OUT = "SELECT id FROM conversations WHERE title = %(t)s ORDER BY last_activity_at DESC LIMIT 21"


def test_the_workers_are_registered(citus_cluster):
    with citus_cluster.connect() as conn:
        nodes = conn.execute("SELECT nodeport FROM pg_dist_node WHERE shouldhaveshards ORDER BY nodeport").fetchall()
    assert sorted(p for (p,) in nodes) == sorted(citus_cluster.ports[1:])


def test_a_users_page_is_a_router_query_with_one_task(chat):
    plan = _explain(chat, LIST, {"u": citus.user_id(3)})["Plan"]
    assert plan["Custom Plan Provider"] == "Citus Adaptive"
    job = plan["Distributed Query"]["Job"]
    assert job["Task Count"] == 1


def test_a_query_without_the_distribution_column_fans_out_to_every_shard(chat):
    plan = parse_plan(_explain(chat, FAN_OUT, {"t": "c7"}))
    with chat.connect() as conn:
        [(shards,)] = conn.execute("SELECT count(*) FROM citus_shards WHERE table_name = 'conversations'::regclass")
    [scan] = [n for n in plan.nodes() if n.task_count is not None]
    assert scan.task_count == shards > 1
    # The shard's Seq Scan (one task shown of all) reads as the table's, under its task.
    assert [n.relation for n in plan.nodes() if n.node_type == "Seq Scan"] == ["conversations"]


def test_rows_live_on_the_workers(chat):
    with chat.connect() as conn:
        [(n,)] = conn.execute("SELECT count(*) FROM conversations").fetchall()
    assert n == 20 * 200
    per_worker = []
    for i in (1, 2):
        with chat.connect(i) as conn:
            conn.execute("SET citus.override_table_visibility = off")  # Citus hides shards from pg_class
            rows = conn.execute("SELECT count(*) FROM pg_class WHERE relname ~ '^conversations_[0-9]+$'").fetchall()
            per_worker.append(rows[0][0])
    assert all(count > 0 for count in per_worker), per_worker
    with pytest.raises(psycopg.errors.UndefinedTable):
        with chat.connect(1) as conn:
            conn.execute("SELECT 1 FROM conversations_999999")
