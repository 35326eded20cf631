"""Measure a retention run on a seeded database while 4 writers send: counts, exactness, writers' p99.

Not collected by pytest (tests/test_retention.py runs the CI-size version); run it by hand:

    python -m tests.measure_retention                     # the bench scale (2,000,000 messages), embedded PG 18
    python -m tests.measure_retention --scale ci --dsn postgresql://postgres@127.0.0.1/postgres

It creates (and drops) a scratch database, seeds it at head, deletes the older half of the messages
(the cut-off is the median created_at) and prints one report.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psycopg
from psycopg import conninfo as pg_conninfo
from psycopg import sql

from chatschema import api, migrate, server
from chatschema.migrate.backfill import summary_mismatches
from chatschema.migrate.gates import GatePolicy
from chatschema.retention import retention_counts, run_retention
from chatschema.seed import seed_database
from chatschema.settings import Settings

WRITERS = 4


def _p(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) >= 100 else max(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="bench")
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--dsn", help="a maintenance database on the server to use (default: embedded)")
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory(prefix="chatschema-retention-")
    base = Settings(dsn=args.dsn) if args.dsn else Settings(pg_version=18, data_dir=Path(tmp.name), database="postgres")
    admin = server.conninfo(base)
    name = f"cs_retention_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    params = pg_conninfo.conninfo_to_dict(admin)
    params["dbname"] = name
    dsn = pg_conninfo.make_conninfo(**params)
    try:
        migrate.upgrade(Settings(dsn=dsn), "head")
        started = time.perf_counter()
        report = seed_database(dsn, scale=args.scale, seed=42)
        print(f"seeded {report.messages:,} messages in {report.conversations:,} conversations in "
              f"{time.perf_counter() - started:.0f} s", flush=True)
        with psycopg.connect(dsn, autocommit=True) as conn:
            cutoff = conn.execute(
                "SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY created_at) FROM messages").fetchone()[0]
            newer_before = conn.execute("SELECT count(*) FROM messages WHERE created_at >= %s", (cutoff,)).fetchone()[0]
            targets = conn.execute("SELECT user_id, id FROM conversations").fetchall()
            started = time.perf_counter()
            counts = retention_counts(conn, cutoff)
            print(f"dry run ({time.perf_counter() - started:.1f} s): {counts.messages:,} of {counts.total_messages:,} "
                  f"messages older than {cutoff.isoformat()} in {counts.conversations:,} conversations; "
                  f"{counts.summaries:,} summaries to recompute", flush=True)
        stop = threading.Event()
        lock = threading.Lock()
        samples: list[tuple[float, float]] = []  # (when, ms)
        acked: list[uuid.UUID] = []
        errors: list[BaseException] = []

        def writer(n: int) -> None:
            rng = random.Random(n)
            try:
                with psycopg.connect(dsn, autocommit=True) as w:
                    while not stop.is_set():
                        owner, conv = rng.choice(targets)
                        t0 = time.perf_counter()
                        sent = api.send_message(w, owner, conv, "user", f"writer {n}")
                        with lock:
                            samples.append((t0, (time.perf_counter() - t0) * 1000))
                            acked.append(sent.id)
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
        for t in threads:
            t.start()
        time.sleep(5)
        began = time.perf_counter()
        with psycopg.connect(dsn, autocommit=True) as conn:
            done = run_retention(conn, cutoff, batch=args.batch, gates=GatePolicy.from_settings(Settings()))
        ended = time.perf_counter()
        time.sleep(1)
        stop.set()
        for t in threads:
            t.join()
        assert not errors, errors[:3]
        before = [ms for at, ms in samples if at < began]
        during = [ms for at, ms in samples if began <= at < ended]
        with psycopg.connect(dsn) as conn:
            older = conn.execute("SELECT count(*) FROM messages WHERE created_at < %s", (cutoff,)).fetchone()[0]
            newer = conn.execute("SELECT count(*) FROM messages WHERE created_at >= %s", (cutoff,)).fetchone()[0]
            present = conn.execute("SELECT count(*) FROM messages WHERE id = ANY(%s)", (acked,)).fetchone()[0]
            mismatches = summary_mismatches(conn)
        print(f"retention: {done.messages:,} messages deleted in {done.batches:,} batches ({done.seconds:.1f} s), "
              f"{done.conversations:,} conversations, {done.summaries_recomputed:,} summaries recomputed")
        print(f"after: {older} messages older than the cut-off; newer {newer:,} = {newer_before:,} before + "
              f"{len(acked):,} acknowledged sends: {newer == newer_before + len(acked)}; acknowledged present "
              f"{present:,}/{len(acked):,}; summary mismatches {mismatches}")
        print(f"writers before: {len(before):,} sends, p50 {statistics.median(before):.1f} ms, p99 {_p(before, 99):.1f} ms;"
              f" during: {len(during):,} sends, p50 {statistics.median(during):.1f} ms, p99 {_p(during, 99):.1f} ms, "
              f"max {max(during):.1f} ms")
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        tmp.cleanup()


if __name__ == "__main__":
    main()
