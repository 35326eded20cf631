"""Measure the writers' latency while a seeded database migrates from 0001 to head under traffic.

The same harness as tests/test_live_migration.py (tests/live_traffic.py: writers switch from the
plain INSERT to the send statement between 0003 and 0004, readers keep listing), on a bigger database made by
``chatschema.seed``. Not collected by pytest; run it by hand:

    python -m tests.measure_live_migration --messages 1000000               # embedded PostgreSQL 18
    python -m tests.measure_live_migration --messages 1000000 --dsn postgresql://postgres@127.0.0.1/postgres

It creates (and drops) a scratch database on that server and prints one report.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from psycopg import conninfo as pg_conninfo
from psycopg import sql

from chatschema import migrate, server
from chatschema.check import check
from chatschema.seed import seed_database
from chatschema.settings import Settings

from .live_traffic import READERS, WRITERS, p99, upgrade_under_traffic
from .populate import summary_mismatches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--scale", default="bench")
    parser.add_argument("--dsn", help="a maintenance database on the server to use (default: embedded)")
    parser.add_argument("--pg-version", type=int, default=18)
    parser.add_argument("--lock-timeout", default="500ms")
    args = parser.parse_args()

    tmp = tempfile.TemporaryDirectory(prefix="chatschema-measure-")
    base = (Settings(dsn=args.dsn) if args.dsn else
            Settings(pg_version=args.pg_version, data_dir=Path(tmp.name), database="postgres"))
    admin = server.conninfo(base)
    name = f"cs_measure_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    params = pg_conninfo.conninfo_to_dict(admin)
    params["dbname"] = name
    settings = Settings.resolve(dsn=pg_conninfo.make_conninfo(**params), lock_timeout=args.lock_timeout)
    try:
        migrate.upgrade(settings, "0001")
        started = time.perf_counter()
        report = seed_database(settings.dsn, scale=args.scale, messages=args.messages, seed=42)
        seeded = time.perf_counter() - started
        with psycopg.connect(settings.dsn) as conn:
            version = conn.info.server_version // 10000
            size = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database())), "
                                "pg_size_pretty(pg_total_relation_size('messages')), "
                                "pg_size_pretty(pg_total_relation_size('conversations'))").fetchone()
        timings: list[str] = []
        live = upgrade_under_traffic(settings, quiet_s=2,
                                     on_revision=lambda r: timings.append(f"{r.revision} {r.seconds:.1f}s"))
        traffic, warnings = live.traffic, live.warnings
        assert traffic.errors == [], traffic.errors
        with psycopg.connect(settings.dsn) as conn:
            present = conn.execute("SELECT count(*) FROM messages WHERE id = ANY(%s)", (traffic.acked,)).fetchone()[0]
            mismatches = summary_mismatches(conn)
        drift = check(settings)[2]
        before, during, reads = live.before, live.during, live.reads_during
        ms = lambda v: f"{v * 1000:.1f} ms"  # noqa: E731
        print(f"PostgreSQL {version}; seeded {report.users:,} users, {report.conversations:,} conversations, "
              f"{report.messages:,} messages in {seeded:.0f}s; database {size[0]} (messages {size[1]}, "
              f"conversations {size[2]})")
        print(f"migration 0001 -> head under {WRITERS} writers + {READERS} readers: {live.ended - live.began:.1f}s "
              f"({', '.join(timings)}); lock_timeout {args.lock_timeout}")
        print(f"writers before the migration: {len(before)} writes, p99 {ms(p99(before))}")
        print(f"writers during the migration: {len(during)} writes, p50 {ms(sorted(during)[len(during) // 2])}, "
              f"p99 {ms(p99(during))}, max {ms(max(during))}")
        print(f"readers during the migration: {len(reads)} reads, p99 {ms(p99(reads))}, max {ms(max(reads))}")
        print(f"acknowledged writes present: {present}/{len(traffic.acked)}; summary mismatches: {mismatches}; "
              f"drift from the models: {len(drift)}; warnings/retries: {len(warnings)}")
        for w in warnings:
            print(f"  warning: {w}")
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        tmp.cleanup()


if __name__ == "__main__":
    main()
