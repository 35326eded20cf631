"""Capture the Citus plan fixtures under tests/plans/cases/citus/ from a real 3-node cluster.

    python -m tests.plans.capture_citus

Starts the local cluster of tests/citus.py (it needs ../shared/citus), distributes users and
conversations by user (tests.citus.CHAT_DDL), and writes, for the catalog's conversation list, the
plan of a router query (``user_id = $1``: one task) and of the same list without the distribution
column (it fans out to every shard). Never edit a fixture's plans by hand: re-capture.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path

from psycopg import sql

from chatschema import queries as catalog
from tests import citus

CASES = Path(__file__).parent / "cases" / "citus"
PAGE_RULES = ["index-not-used", "index-cond-columns", "rows-read-bound", "buffers-bound", "seq-scan-on-hot-table",
              "sort-above-page"]
# Every shard's conversations by activity: no user filter, so no shard can be chosen by the planner.
FAN_OUT = """
SELECT id, title, created_at, last_activity_at, message_count, last_message_id, last_message_preview
FROM conversations
WHERE (last_activity_at, id) < (%(before_at)s::timestamptz, %(before_id)s::uuid)
ORDER BY last_activity_at DESC, id DESC
LIMIT %(limit)s
"""
SPECS = (
    ("list_optimized_router", None, "one user's first page", [], ["router-query", *PAGE_RULES]),
    ("list_without_user_fan_out", FAN_OUT, "every user's first page", ["router-query"], []),
)


def main() -> None:
    query = catalog.get("list_conversations")
    params = {"user_id": citus.user_id(3), "before_at": "infinity", "before_id": "ffffffff-ffff-ffff-ffff-ffffffffffff",
              "limit": query.contract.page_rows}
    CASES.mkdir(parents=True, exist_ok=True)
    with citus.start_cluster(Path(tempfile.mkdtemp(prefix="citus-capture-"))) as cluster:
        with cluster.connect(autocommit=True) as conn:
            citus.create_chat(conn)
            version = conn.info.server_version // 10000
            rows = dict(conn.execute("SELECT 'users', count(*) FROM users UNION ALL "
                                     "SELECT 'conversations', count(*) FROM conversations").fetchall())
        for name, override, case, fails, passes in SPECS:
            with cluster.connect() as conn:
                statement = sql.SQL("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ") + sql.SQL(override or query.sql)
                [[doc]] = conn.execute(statement, params).fetchall()
            (CASES / f"{name}.json").write_text(json.dumps({
                "name": name, "server_version": version, "citus": True, "query": query.name,
                "sql": override, "setup": [], "case": case, "mode": "custom", "analyze": True, "round_trips": 1,
                "table_rows": {k: float(v) for k, v in rows.items()},
                "contract": dataclasses.asdict(query.contract), "fails": fails, "passes": passes,
                "plans": [json.loads(doc) if isinstance(doc, str) else doc],
            }, indent=1) + "\n", encoding="utf-8")
            print(f"wrote {CASES / name}.json")


if __name__ == "__main__":
    main()
