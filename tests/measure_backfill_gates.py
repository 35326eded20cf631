"""Measure the replica-lag gate: a seeded database migrated from 0001 to head with a hot standby
attached and 4 writers, once with ``--max-replica-lag 2s`` and once with the gate off.

The same traffic as tests/measure_live_migration.py (tests/live_traffic.py: 4 writers switch from the
plain INSERT to the catalog's send statement between 0003 and 0004, 2 readers keep listing), on an
embedded PostgreSQL of its own (a temporary data directory) with a standby streaming from it
(tests/standby.py). The database is seeded once at 0001 and copied (CREATE DATABASE ... TEMPLATE,
FILE_COPY) for each run, so every run starts from the same bytes; the runs alternate gate on / off.

While a run migrates, a sampler looks at the standby every 100 ms with the gates' own reading
(``Gates.closed``: PostgreSQL's replay_lag, and the clock of when the primary's WAL reached each
position, which also sees a replay that stopped); its maximum is the "maximum replay lag observed".
When the backfill is about 20% through, ``chatschema backfill status`` is run as a DBA would run it.
Not collected by pytest; run it by hand:

    python -m tests.measure_backfill_gates --messages 1000000 --repeats 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import psycopg
from psycopg import conninfo as pg_conninfo
from psycopg import sql

from chatschema import migrate, server
from chatschema.migrate import backfill
from chatschema.migrate.gates import WAITS, DatabaseMeasure, GatePolicy, Gates
from chatschema.seed import seed_database
from chatschema.settings import Settings

from . import standby as standby_mod
from .live_traffic import READERS, WRITERS, p99, upgrade_under_traffic
from .populate import summary_mismatches

STATUS_AT = 0.2  # fraction of the backfill after which `backfill status` is taken


@dataclass
class LagSampler:
    """The largest replay lag the gates' reading saw while it ran (a thread of its own)."""

    dsn: str
    stop: threading.Event = field(default_factory=threading.Event)
    max_lag_s: float = 0.0
    max_bytes: int = 0
    samples: list[tuple[float, float]] = field(default_factory=list)  # (perf_counter, lag seen then)

    def run(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            measure = DatabaseMeasure(conn)
            gates = Gates(GatePolicy(max_replica_lag_ms=1, max_slot_wal_bytes=0, vacuum_gate="off",
                                     max_archive_backlog=0), measure, "messages", 1)
            while not self.stop.is_set():
                lag_before = gates.max_lag_seen_s
                gates.max_lag_seen_s = 0.0
                gates.closed()
                self.samples.append((time.perf_counter(), gates.max_lag_seen_s))
                gates.max_lag_seen_s = max(lag_before, gates.max_lag_seen_s)
                row = conn.execute("SELECT max(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn))::bigint "
                                   "FROM pg_stat_replication").fetchone()
                self.max_bytes = max(self.max_bytes, int(row[0] or 0))
                self.max_lag_s = gates.max_lag_seen_s
                time.sleep(0.1)


def take_status_midway(settings: Settings, total: int, stop: threading.Event, out: list[str]) -> None:
    """Run `chatschema backfill status` once the backfill has done STATUS_AT of the conversations."""
    with psycopg.connect(settings.dsn, autocommit=True) as conn:
        while not stop.is_set():
            state = backfill.status(conn)
            if state is not None and not state.finished and state.rows_done >= total * STATUS_AT:
                result = subprocess.run([str(Path(sys.executable).parent / "chatschema"), "backfill", "status",
                                         "--dsn", settings.dsn], capture_output=True, text=True, timeout=60)
                out.append(result.stdout.rstrip() + (f"\n(stderr: {result.stderr.strip()})" if result.stderr else ""))
                return
            time.sleep(0.2)


@dataclass(frozen=True)
class RunResult:
    gate: str
    seconds: float
    backfill_s: float
    max_lag_s: float
    max_lag_backfill_s: float
    max_lag_during: str  # the revision running when the largest lag was seen
    max_lag_bytes: int
    writes: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    waits: int
    status: str
    exact: bool


def one_run(settings: Settings, gate_ms: int, standby: standby_mod.Standby) -> RunResult:
    settings = replace(settings, max_replica_lag_ms=gate_ms)
    with psycopg.connect(settings.dsn) as conn:
        total = int(conn.execute("SELECT count(*) FROM conversations").fetchone()[0])
    sampler = LagSampler(settings.dsn)
    sampler_thread = threading.Thread(target=sampler.run)
    status_out: list[str] = []
    status_stop = threading.Event()
    status_thread = threading.Thread(target=take_status_midway, args=(settings, total, status_stop, status_out))
    timings: dict[str, float] = {}
    ended_at: dict[str, float] = {}

    def on_revision(rev: migrate.AppliedRevision) -> None:
        timings[rev.revision] = rev.seconds
        ended_at[rev.revision] = time.perf_counter()

    sampler_thread.start()
    status_thread.start()
    try:
        live = upgrade_under_traffic(settings, quiet_s=2,
                                     on_revision=on_revision)
    finally:
        sampler.stop.set()
        status_stop.set()
        sampler_thread.join()
        status_thread.join()
    traffic = live.traffic
    assert traffic.errors == [], traffic.errors
    with psycopg.connect(settings.dsn) as conn:
        present = conn.execute("SELECT count(*) FROM messages WHERE id = ANY(%s)", (traffic.acked,)).fetchone()[0]
        exact = present == len(traffic.acked) and summary_mismatches(conn) == 0
    standby.wait_caught_up(timeout=300)
    during = sorted(live.during)
    in_backfill = [lag for at, lag in sampler.samples if ended_at["0003"] <= at <= ended_at["0004"]]
    worst_at = max(sampler.samples, key=lambda sample: sample[1])[0] if sampler.samples else 0.0
    during_rev = next((rev for rev, end in sorted(ended_at.items(), key=lambda kv: kv[1]) if worst_at <= end),
                      "after the last revision")
    return RunResult(
        gate="2s" if gate_ms else "off", seconds=live.ended - live.began, backfill_s=timings.get("0004", 0.0),
        max_lag_s=sampler.max_lag_s, max_lag_backfill_s=max(in_backfill, default=0.0),
        max_lag_during=during_rev,
        max_lag_bytes=sampler.max_bytes, writes=len(during),
        p50_ms=during[len(during) // 2] * 1000, p99_ms=p99(during) * 1000, max_ms=during[-1] * 1000,
        waits=sum(w.startswith(WAITS) for w in live.warnings), status=status_out[0] if status_out else "(not taken)",
        exact=exact)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--scale", default="bench")
    parser.add_argument("--pg-version", type=int, default=18)
    parser.add_argument("--repeats", type=int, default=1, help="runs per gate setting, alternating")
    args = parser.parse_args()

    tmp = tempfile.TemporaryDirectory(prefix="chatschema-gates-")
    os.chmod(tmp.name, 0o755)  # the embedded server may run as its own OS user
    base = Settings(pg_version=args.pg_version, data_dir=Path(tmp.name) / "pg", database="postgres")
    admin = server.conninfo(base)
    where = Path(tmp.name) / "standby"
    where.mkdir()
    replica = standby_mod.start(admin, True, base, where)
    params = pg_conninfo.conninfo_to_dict(admin)

    def database(name: str) -> Settings:
        return Settings.resolve(dsn=pg_conninfo.make_conninfo(**{**params, "dbname": name}), lock_timeout="500ms")

    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("CREATE DATABASE cs_gates_seed")
        seeded_at = time.perf_counter()
        migrate.upgrade(database("cs_gates_seed"), "0001")
        report = seed_database(database("cs_gates_seed").dsn, scale=args.scale, messages=args.messages, seed=42)
        seeded = time.perf_counter() - seeded_at
        with psycopg.connect(database("cs_gates_seed").dsn) as conn:
            size = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()[0]
        print(f"PostgreSQL {args.pg_version} (embedded) with a hot standby streaming over a slot; seeded "
              f"{report.users:,} users, {report.conversations:,} conversations, {report.messages:,} messages "
              f"in {seeded:.0f}s ({size}); {WRITERS} writers + {READERS} readers; load average before: "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
        results: list[RunResult] = []
        for i in range(args.repeats):
            for gate_ms in (2000, 0):
                name = f"cs_gates_{i}_{gate_ms}"
                with psycopg.connect(admin, autocommit=True) as conn:
                    conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE cs_gates_seed STRATEGY FILE_COPY")
                                 .format(sql.Identifier(name)))
                replica.wait_caught_up(timeout=300)
                r = one_run(database(name), gate_ms, replica)
                results.append(r)
                print(f"gate {r.gate}: migration {r.seconds:.1f}s (backfill {r.backfill_s:.1f}s); max replay lag "
                      f"{r.max_lag_s:.2f}s (in {r.max_lag_during}; {r.max_lag_backfill_s:.2f}s during the backfill; "
                      f"max {r.max_lag_bytes / 2**20:.1f} MB unreplayed); writers {r.writes} "
                      f"writes, p50 {r.p50_ms:.1f} ms, p99 {r.p99_ms:.1f} ms, max {r.max_ms:.0f} ms; gate waits "
                      f"{r.waits}; exact {r.exact}; load average {os.getloadavg()[0]:.2f}", flush=True)
                print("  backfill status at ~20%:\n    " + r.status.replace("\n", "\n    "), flush=True)
                with psycopg.connect(admin, autocommit=True) as conn:
                    conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
        for gate in ("2s", "off"):
            mine = [r for r in results if r.gate == gate]
            med = statistics.median
            print(f"median, gate {gate} ({len(mine)} runs): migration {med(r.seconds for r in mine):.1f}s, "
                  f"max replay lag {med(r.max_lag_s for r in mine):.2f}s (during the backfill "
                  f"{med(r.max_lag_backfill_s for r in mine):.2f}s), writers' p99 "
                  f"{med(r.p99_ms for r in mine):.1f} ms", flush=True)
    finally:
        replica.stop()
        pg = standby_mod._embedded(base)
        subprocess.run([str(pg.bin_path / "pg_ctl"), "-D", str(pg.pgdata), "-m", "fast", "-w", "stop"],
                       user=pg.system_user, capture_output=True, check=False)
        tmp.cleanup()


if __name__ == "__main__":
    main()
