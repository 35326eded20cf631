"""The seed plan's table on a 3-node Citus cluster beside a single node: same data, same run, medians.

Not collected by pytest; run it by hand (needs ../shared/citus, as the Citus test tier does):

    python -m tests.measure_citus --calls 300 --seconds 3

It starts a plain embedded PostgreSQL 18 and a Citus coordinator with two workers (tests/citus.py, the
same binaries), takes both to head (the cluster also through ``chatschema distribute``), seeds both
with ``chatschema seed --scale ci`` (seed 42: the same rows), then measures each hot operation
through ``chatschema.api`` as an application calls it (one autocommit connection per target, calls
interleaved between the two so noise hits both alike, psycopg's prepared statements warmed first),
with the Citus plan's task count from EXPLAIN on the coordinator; then sends with 1, 4 and 16
clients for a fixed time on each. Prints a Markdown table. On one machine the cluster cannot be
faster: the table shows what each query pays for the coordinator hop.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
from click.testing import CliRunner

from chatschema import _api_common as shared
from chatschema import _api_resume as resume
from chatschema import api, api_citus, server
from chatschema import queries as catalog
from chatschema.citus import rollups
from chatschema.cli import main as cli
from chatschema.views import refresh_views
from chatschema.seed import interesting_ids
from chatschema.settings import Settings

from . import citus

def run(*args: str) -> None:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    if result.exit_code != 0:
        raise SystemExit(f"chatschema {' '.join(args[:2])} failed: {result.output.strip()[-500:]}")


def prepare(dsn: str, distribute: bool) -> None:
    run("upgrade", "--dsn", dsn)
    if distribute:
        run("distribute", "--dsn", dsn)
    run("seed", "--scale", "ci", "--dsn", dsn)


def operations(conn: psycopg.Connection) -> dict[str, Callable[[], Any]]:
    """name -> a builder of the API's call (``_api_common``: its SQL and parameters), on the seed's
    interesting rows, the same on both targets."""
    ids = interesting_ids(conn)
    newest = conn.execute("SELECT max(created_at)::date FROM messages").fetchone()[0]
    since = newest - timedelta(days=29)
    heavy, longest, luser = ids.heaviest_user_id, ids.longest_conversation_id, ids.longest_conversation_user_id
    tuser, typical = ids.typical_conversation_user_id, ids.typical_conversation_id
    return {
        "List conversations, first page (heaviest user)": lambda: shared.list_conversations(heavy, 20, None),
        "Load messages, first page (longest conversation)": lambda: shared.load_messages(luser, longest, 50, None),
        "Conversation view (longest conversation)": lambda: shared.conversation_view(luser, longest),
        "Send a message (typical conversation)": lambda: resume.send_message(tuser, typical, "user", "benchmark",
                                                                             None),
        "User's daily counts, 30 days (heaviest user)": lambda: shared.user_daily_counts(heavy, since, newest),
        "Daily totals, 30 days": lambda: shared.daily_totals(since, newest),
    }


def task_count(conn: psycopg.Connection, build: Callable[[], Any]) -> str:
    """Tasks of the Citus plan of the call's statement (EXPLAIN, not run; values inlined, as Citus needs)."""
    call = build()
    text = psycopg.ClientCursor(conn).mogrify(call.sql, call.params)
    plan = conn.execute("EXPLAIN (FORMAT JSON) " + text).fetchone()[0]
    counts: list[int] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "Task Count" in node:
                counts.append(int(node["Task Count"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(plan)
    return " + ".join(str(n) for n in counts) if counts else "none (coordinator table)"


def latencies(single: psycopg.Connection, cluster: psycopg.Connection, build: Callable[[], Any],
              calls: int) -> tuple[float, float]:
    def call(conn: psycopg.Connection) -> None:
        api._run(conn, build())

    return _paired(single, cluster, call, call, calls)


def _paired(single: psycopg.Connection, cluster: psycopg.Connection, one_call: Callable[[Any], Any],
            cluster_call: Callable[[Any], Any], calls: int) -> tuple[float, float]:
    """Medians of a call on each target, interleaved."""
    for _ in range(6):  # psycopg prepares on the 5th execution, as a pooled application's connections do
        one_call(single), cluster_call(cluster)
    one: list[float] = []
    many: list[float] = []
    for i in range(calls):
        pairs = ((single, one_call, one), (cluster, cluster_call, many))
        for conn, call, samples in pairs if i % 2 == 0 else pairs[::-1]:
            started = time.perf_counter()
            call(conn)
            samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(one), statistics.median(many)


def refresh_medians(single: psycopg.Connection, coord: psycopg.Connection, runs: int = 5) -> list[tuple[str, float]]:
    """Median seconds of each analytics refresh: the views on each target, the rollups on the cluster."""
    def median(do: Callable[[], Any]) -> float:
        samples = []
        for _ in range(runs):
            started = time.perf_counter()
            do()
            samples.append(time.perf_counter() - started)
        return statistics.median(samples)

    return [
        ("single node: the views, whole (`REFRESH MATERIALIZED VIEW`)",
         median(lambda: refresh_views(single, concurrently=False))),
        ("cluster: the views, whole (coordinator tables)", median(lambda: refresh_views(coord, concurrently=False))),
        ("cluster: the rollups, all history", median(lambda: rollups.refresh_rollups(coord, rollups.ALL_DAYS))),
        ("cluster: the rollups, default window (the newest day and the one before)",
         median(lambda: rollups.refresh_rollups(coord))),
    ]


def throughput(dsn: str, targets: list[tuple[uuid.UUID, uuid.UUID]], clients: int, seconds: float,
               send: Callable[..., Any] = api.send_message) -> float:
    sent = [0] * clients
    stop = threading.Event()

    def writer(n: int) -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            i = n
            while not stop.is_set():
                user, conv = targets[i % len(targets)]
                send(conn, user, conv, "user", "throughput")
                sent[n] += 1
                i += clients
    threads = [threading.Thread(target=writer, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    return sum(sent) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    reason = citus.missing_reason()
    if reason:
        raise SystemExit(reason)
    with tempfile.TemporaryDirectory(prefix="chatschema-citus-bench-") as tmp, \
            citus.start_cluster(Path(tmp) / "cluster") as cluster:
        base = Settings(pg_version=18, data_dir=Path(tmp) / "single", database="postgres")
        single_dsn = server.conninfo(base)
        started = time.perf_counter()
        prepare(single_dsn, distribute=False)
        prepare(cluster.coordinator, distribute=True)
        print(f"prepared both in {time.perf_counter() - started:.0f}s", file=sys.stderr)
        with psycopg.connect(single_dsn, autocommit=True) as single, \
                psycopg.connect(cluster.coordinator, autocommit=True) as coord:
            ops = operations(single)
            rows = []
            for name, build in ops.items():
                tasks = task_count(coord, build)
                one, many = latencies(single, coord, build, args.calls)
                rows.append((name, tasks, one, many))
            # the send as an application on Citus makes it: the delegated call (docs/design.md)
            ids = interesting_ids(single)
            user, conv = ids.typical_conversation_user_id, ids.typical_conversation_id
            delegated = _paired(single, coord, lambda c: api.send_message(c, user, conv, "user", "benchmark"),
                                lambda c: api_citus.send_message(c, user, conv, "user", "benchmark"), args.calls)
            rows.append(("Send a message, delegated on Citus (`api_citus.send_message`)", "1", *delegated))
            # the analytics as an application on Citus reads them: the rollups (api_citus)
            newest = single.execute("SELECT max(created_at)::date FROM messages").fetchone()[0]
            since, heavy = newest - timedelta(days=29), ids.heaviest_user_id
            for name, on_one, on_cluster, build in (
                    ("User's daily counts, 30 days (heaviest user), rollup on Citus (`api_citus`)",
                     lambda c: api.user_daily_counts(c, heavy, since, newest),
                     lambda c: api_citus.user_daily_counts(c, heavy, since, newest),
                     lambda: replace(shared.user_daily_counts(heavy, since, newest),
                                     sql=catalog.get("user_daily_counts", "citus").sql)),
                    ("Daily totals, 30 days, rollup on Citus (`api_citus`)",
                     lambda c: api.daily_totals(c, since, newest), lambda c: api_citus.daily_totals(c, since, newest),
                     lambda: replace(shared.daily_totals(since, newest), sql=catalog.get("daily_totals", "citus").sql))):
                rows.append((name, task_count(coord, build), *_paired(single, coord, on_one, on_cluster, args.calls)))
            refreshes = refresh_medians(single, coord)
            targets = [(r[0], r[1]) for r in single.execute(
                "SELECT user_id, id FROM conversations ORDER BY id LIMIT 2000").fetchall()]
            shards = coord.execute("SELECT count(*) FROM pg_dist_shard s JOIN pg_dist_partition p USING (logicalrelid) "
                                   "WHERE p.logicalrelid = 'messages'::regclass").fetchone()[0]
            version = coord.execute("SELECT extversion FROM pg_extension WHERE extname = 'citus'").fetchone()[0]
        print(f"\nCitus {version}, coordinator + {len(cluster.workers)} workers on localhost, messages in {shards} "
              f"shards; single node: the same PostgreSQL 18 binaries. `seed --scale ci` (seed 42) on both. "
              f"Median of {args.calls} calls each, interleaved.\n")
        print("| operation | Citus tasks | single node p50 | cluster p50 | cluster ÷ single |")
        print("|---|---:|---:|---:|---:|")
        for name, tasks, one, many in rows:
            print(f"| {name} | {tasks} | {one:.3f} ms | {many:.3f} ms | {many / one:.1f}x |")
        print("\nAnalytics refresh, median of 5 runs (the rollups' refresh is idempotent: each run after the first "
              "writes only what changed, here nothing):\n")
        print("| refresh | median |")
        print("|---|---:|")
        for name, seconds in refreshes:
            print(f"| {name} | {seconds * 1000:,.0f} ms |")
        print(f"\nSends (the catalog statement through `api.send_message`; on the cluster also the delegated call), "
              f"{args.seconds:.0f} s each, spread over 2,000 conversations:\n")
        print("| clients | single node sends/s | cluster, catalog statement | ÷ single | cluster, delegated | ÷ single |")
        print("|---:|---:|---:|---:|---:|---:|")
        for clients in (1, 4, 16):
            one = throughput(single_dsn, targets, clients, args.seconds)
            many = throughput(cluster.coordinator, targets, clients, args.seconds)
            fast = throughput(cluster.coordinator, targets, clients, args.seconds, api_citus.send_message)
            print(f"| {clients} | {one:,.0f} | {many:,.0f} | {many / one:.2f}x | {fast:,.0f} | {fast / one:.2f}x |")


if __name__ == "__main__":
    main()
