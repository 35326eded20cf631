"""Measure the peak RSS of exporting a 1,000,000-message conversation and a 100-message one.

Not collected by pytest (tests/test_export.py runs a 20,000-message version); run it by hand:

    python -m tests.measure_export_rss                          # embedded PostgreSQL 18, its own data dir
    python -m tests.measure_export_rss --dsn postgresql://postgres@127.0.0.1/postgres

It creates (and drops) a scratch database, builds the two conversations, and exports each in a fresh
process, alternating, ``--rounds`` times; it prints the medians.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from psycopg import conninfo as pg_conninfo
from psycopg import sql

from chatschema import migrate, server
from chatschema.settings import Settings

from .export_rss import make_conversation, peak_rss_kb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--content-chars", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dsn", help="a maintenance database on the server to use (default: embedded)")
    args = parser.parse_args()
    base = Settings(dsn=args.dsn) if args.dsn else Settings(pg_version=18, data_dir=Path(tempfile.mkdtemp(prefix="cs-rss-")),
                                                            database="postgres")
    admin = server.conninfo(base)
    name = f"cs_export_rss_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    params = pg_conninfo.conninfo_to_dict(admin)
    params["dbname"] = name
    dsn = pg_conninfo.make_conninfo(**params)
    try:
        migrate.upgrade(Settings(dsn=dsn), "head")
        started = time.perf_counter()
        small = make_conversation(dsn, 100, args.content_chars)
        large = make_conversation(dsn, args.messages, args.content_chars)
        print(f"built {args.messages:,} + 100 messages of {args.content_chars} characters in "
              f"{time.perf_counter() - started:.0f} s", flush=True)
        rss: dict[str, list[int]] = {"small": [], "large": []}
        seconds: list[float] = []
        for _ in range(args.rounds):
            rss["small"].append(peak_rss_kb(dsn, small))
            started = time.perf_counter()
            rss["large"].append(peak_rss_kb(dsn, large))
            seconds.append(time.perf_counter() - started)
        small_mb, large_mb = (statistics.median(rss[k]) / 1024 for k in ("small", "large"))
        print(f"peak RSS (VmHWM), median of {args.rounds}: 100 messages {small_mb:.1f} MB; "
              f"{args.messages:,} messages {large_mb:.1f} MB (+{large_mb - small_mb:.1f} MB); "
              f"the large export took {statistics.median(seconds):.1f} s "
              f"({args.messages / statistics.median(seconds):,.0f} messages/s); all runs: {rss}")
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


if __name__ == "__main__":
    main()
