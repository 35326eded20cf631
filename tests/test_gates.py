"""The health gates of a backfill: each holds the next batch while its condition lasts, says why, and
lets the run finish exact afterwards. Replica lag and vacuum are produced for real (the standby fixture,
a slowed VACUUM); the archiver's backlog, which one machine cannot produce, through a measure object."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace

import psycopg
import pytest

from chatschema import migrate
from chatschema.errors import ConfigError
from chatschema.migrate import backfill
from chatschema.migrate.gates import DatabaseMeasure, GatePolicy, Gates
from chatschema.settings import Settings

from .populate import populate, summary_mismatches

OFF = GatePolicy(max_replica_lag_ms=0, max_slot_wal_bytes=0, vacuum_gate="off", max_archive_backlog=0,
                 max_wal_rate_bytes=0, target_batch_ms=0, poll_ms=20)


def at_0003(new_database, hint: str) -> Settings:
    settings = new_database(hint)
    migrate.upgrade(settings, "0001")
    with psycopg.connect(settings.dsn) as conn:
        populate(conn, users=30, conversations=1000, messages=6000)
    migrate.upgrade(settings, "0003")
    return settings


@dataclass
class Run:
    """A backfill in a thread, with what it reported."""

    settings: Settings
    policy: GatePolicy
    measure_override: dict = field(default_factory=dict)
    reports: list[str] = field(default_factory=list)
    error: list[BaseException] = field(default_factory=list)
    written: list[int] = field(default_factory=list)
    done: list[int] = field(default_factory=list)

    def start(self, *, batch_size: int = 50, pause_s: float = 0.02) -> threading.Thread:
        def work() -> None:
            try:
                with psycopg.connect(self.settings.dsn, autocommit=True) as conn:
                    measure = DatabaseMeasure(conn)
                    for name, fn in self.measure_override.items():
                        setattr(measure, name, fn)
                    self.written.append(backfill.run(
                        conn, batch_size=batch_size, pause_s=pause_s, gates=self.policy, report=self.reports.append,
                        measure=measure, progress=lambda name, n, total: self.done.append(n)))
            except BaseException as exc:  # noqa: BLE001 - handed to the test
                self.error.append(exc)

        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        return thread

    def wait_for_report(self, text: str, timeout: float = 30.0) -> str:
        from .test_migrations import wait_for

        return wait_for(lambda: next((r for r in self.reports if text in r), None), timeout=timeout)


def checkpoint(settings: Settings) -> int:
    with psycopg.connect(settings.dsn) as conn:
        state = backfill.status(conn)
    return state.rows_done if state else 0


def locks_held_by_backfill(settings: Settings) -> int:
    with psycopg.connect(settings.dsn) as conn:
        return conn.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() AND l.relation = "
            "'conversations'::regclass").fetchone()[0]


@pytest.mark.timeout(120)
def test_a_standby_that_stops_replaying_holds_the_backfill_and_it_ends_exact_after(standby, new_database):
    settings = at_0003(new_database, "gate_replica")
    dbname = psycopg.conninfo.conninfo_to_dict(settings.dsn)["dbname"]
    run = Run(settings, replace(OFF, max_replica_lag_ms=300))
    with standby.replay_paused():
        thread = run.start()
        line = run.wait_for_report("backfill waits: standby 'chatschema_test_standby' replays")
        assert "behind (--max-replica-lag 300ms)" in line
        held = checkpoint(settings)
        assert 0 < held < 1000
        thread.join(1.0)
        assert thread.is_alive() and checkpoint(settings) == held  # no batch ran while it lagged
        assert locks_held_by_backfill(settings) == 0  # waiting between batches, holding nothing
    thread.join(60)
    assert not thread.is_alive() and run.error == []
    assert any("replica lag gate open again" in r for r in run.reports)
    with psycopg.connect(settings.dsn) as conn:
        assert summary_mismatches(conn) == 0
        messages = conn.execute("SELECT count(*) FROM messages").fetchone()[0]
    standby.wait_caught_up()
    with standby.connect(dbname) as conn:
        assert summary_mismatches(conn) == 0
        assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == messages


@pytest.mark.timeout(120)
def test_with_the_replica_gate_off_a_paused_standby_does_not_hold_the_backfill(standby, new_database):
    settings = at_0003(new_database, "gate_replica_off")
    run = Run(settings, OFF)
    with standby.replay_paused():
        thread = run.start(pause_s=0.0)
        thread.join(60)
        assert not thread.is_alive() and run.error == [] and run.reports == []
        assert checkpoint(settings) == 1000


def slow_vacuum(dsn: str, table: str = "conversations", *, every_page: bool = False) -> tuple[threading.Thread, int]:
    """A VACUUM of ``table`` that lasts seconds, running in a thread; (the thread, its backend pid).
    ``every_page`` visits all-visible pages too (DISABLE_PAGE_SKIPPING): on a vacuumed table a VACUUM
    that skips them ends in moments."""
    conn = psycopg.connect(dsn, autocommit=True)
    pid = conn.info.backend_pid
    # A page at a time, 100 ms each: a VACUUM that lasts seconds on a small table.
    conn.execute("SET vacuum_cost_delay = 100")
    conn.execute("SET vacuum_cost_limit = 1")
    statement = f"VACUUM {'(DISABLE_PAGE_SKIPPING) ' if every_page else ''}{table}"

    def work() -> None:
        with conn:
            try:
                conn.execute(statement)
            except psycopg.errors.QueryCanceled:
                pass

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    from .test_migrations import wait_for

    with psycopg.connect(dsn, autocommit=True) as watcher:
        wait_for(lambda: watcher.execute("SELECT 1 FROM pg_stat_progress_vacuum WHERE pid = %s", (pid,)).fetchone())
    return thread, pid


def cancel(dsn: str, pid: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_cancel_backend(%s)", (pid,))


@pytest.mark.timeout(120)
def test_a_vacuum_on_the_table_holds_the_backfill_until_it_ends(new_database):
    settings = at_0003(new_database, "gate_vacuum")
    vacuum, pid = slow_vacuum(settings.dsn)
    run = Run(settings, replace(OFF, vacuum_gate="wait"))
    thread = run.start()
    try:
        line = run.wait_for_report("backfill waits: VACUUM (pid")
        assert f"(pid {pid}, " in line and "is working on conversations (--vacuum-gate wait)" in line
        thread.join(0.5)
        assert thread.is_alive() and checkpoint(settings) == 0
    finally:
        cancel(settings.dsn, pid)
        vacuum.join(30)
    thread.join(60)
    assert run.error == [] and checkpoint(settings) == 1000
    with psycopg.connect(settings.dsn) as conn:
        assert summary_mismatches(conn) == 0


@pytest.mark.timeout(120)
def test_with_the_vacuum_gate_slow_batches_halve_and_with_it_off_nothing_changes(new_database):
    settings = at_0003(new_database, "gate_vacuum_slow")
    vacuum, pid = slow_vacuum(settings.dsn)
    try:
        slow = Run(settings, replace(OFF, vacuum_gate="slow"))
        thread = slow.start(batch_size=100, pause_s=0.0)
        thread.join(60)
        assert slow.error == [] and slow.reports == []
        assert slow.done[:2] == [50, 100]  # half-size batches while the VACUUM runs
    finally:
        cancel(settings.dsn, pid)
        vacuum.join(30)
    settings = at_0003(new_database, "gate_vacuum_off")
    vacuum, pid = slow_vacuum(settings.dsn)
    try:
        off = Run(settings, OFF)
        thread = off.start(batch_size=100, pause_s=0.0)
        thread.join(60)
        assert off.error == [] and off.reports == [] and off.done[:2] == [100, 200]
    finally:
        cancel(settings.dsn, pid)
        vacuum.join(30)


@pytest.mark.timeout(60)
def test_an_archiver_backlog_holds_the_backfill_until_it_drains(new_database):
    settings = at_0003(new_database, "gate_archiver")
    readings = iter([100, 100, 80])
    asked: list[int] = []

    def backlog() -> int:
        value = next(readings, 3)
        asked.append(value)
        return value

    run = Run(settings, replace(OFF, max_archive_backlog=64), measure_override={"archive_backlog": backlog})
    thread = run.start(batch_size=200, pause_s=0.0)
    thread.join(60)
    assert run.error == [] and checkpoint(settings) == 1000
    assert run.reports[0] == "backfill waits: 100 WAL segments wait to be archived (--max-archive-backlog 64)"
    assert run.reports[1] == "backfill continues: archiver gate open again"
    assert asked[:4] == [100, 100, 80, 3]
    with psycopg.connect(settings.dsn) as conn:
        assert summary_mismatches(conn) == 0

    # the twin: with the gate off the backlog is not even read
    settings = at_0003(new_database, "gate_archiver_off")
    asked.clear()
    off = Run(settings, OFF, measure_override={"archive_backlog": backlog})
    off.start(batch_size=200, pause_s=0.0).join(60)
    assert off.error == [] and off.reports == [] and asked == []


@pytest.mark.timeout(60)
def test_the_batch_size_adapts_to_the_target_time_and_says_so(new_database):
    settings = at_0003(new_database, "gate_adaptive")
    run = Run(settings, replace(OFF, target_batch_ms=1))  # every real batch takes longer than 1 ms
    run.start(batch_size=320, pause_s=0.0).join(60)
    assert run.error == [] and checkpoint(settings) == 1000
    assert run.reports[0].startswith("backfill batch size 320 -> 160 (last batch ")
    assert run.reports[0].endswith("s, target 1ms)") and run.reports[1].startswith("backfill batch size 160 -> 80 ")
    assert "backfill batch size 40 -> 20" in " ".join(run.reports)  # the floor is 1/16 of the start
    assert not any("-> 10 " in r for r in run.reports)
    with psycopg.connect(settings.dsn) as conn:
        assert summary_mismatches(conn) == 0


class _Still:
    """A measure with nothing going on (for the pure arithmetic of the gates)."""

    def wal_lsn(self) -> int:
        return 0

    def replicas(self):
        return []

    def slots(self):
        return []

    def vacuums(self, table):
        return []

    def archive_backlog(self):
        return None


def test_a_fast_batch_grows_the_next_a_slow_one_halves_it_within_bounds():
    slept: list[float] = []
    gates = Gates(replace(OFF, target_batch_ms=1000), _Still(), "t", 100, sleep=slept.append)
    gates.after_batch(0.1, 0, 100)
    assert gates.batch_size == 150
    for _ in range(20):
        gates.after_batch(0.1, 0, gates.batch_size)
    assert gates.batch_size == 800  # 8x the start
    gates.after_batch(0.7, 0, gates.batch_size)
    assert gates.batch_size == 800  # between half and the target: kept
    gates.after_batch(3.0, 0, gates.batch_size)
    assert gates.batch_size == 400
    gates.after_batch(0.1, 0, 7)  # a short last batch says nothing about the size
    assert gates.batch_size == 400 and slept == []


def test_the_wal_rate_ceiling_rests_after_a_heavy_batch_and_not_when_off():
    slept: list[float] = []
    gates = Gates(replace(OFF, max_wal_rate_bytes=1024 ** 2), _Still(), "t", 100, sleep=slept.append)
    gates.after_batch(0.5, 10 * 1024 ** 2, 100)
    assert slept == [pytest.approx(9.5)]
    gates.after_batch(0.5, 256 * 1024, 100)
    assert slept == [pytest.approx(9.5)]  # under the ceiling: no rest
    off = Gates(OFF, _Still(), "t", 100, sleep=slept.append)
    off.after_batch(0.5, 10 * 1024 ** 2, 100)
    assert len(slept) == 1


def test_gate_options_come_from_the_environment_and_bad_ones_are_one_line(monkeypatch):
    monkeypatch.setenv("CHATSCHEMA_MAX_REPLICA_LAG", "2s")
    monkeypatch.setenv("CHATSCHEMA_MAX_SLOT_WAL", "512MB")
    monkeypatch.setenv("CHATSCHEMA_VACUUM_GATE", "slow")
    monkeypatch.setenv("CHATSCHEMA_MAX_WAL_RATE", "20MB")
    policy = GatePolicy.from_settings(Settings.resolve(dsn="x", backfill_target_time="250ms"))
    assert (policy.max_replica_lag_ms, policy.max_slot_wal_bytes, policy.vacuum_gate, policy.max_wal_rate_bytes,
            policy.target_batch_ms, policy.max_archive_backlog) == (2000, 512 * 1024 ** 2, "slow", 20 * 1024 ** 2,
                                                                    250, 64)
    defaults = GatePolicy.from_settings(Settings())
    assert (defaults.max_replica_lag_ms, defaults.vacuum_gate, defaults.target_batch_ms) == (10_000, "wait", 1000)
    with pytest.raises(ConfigError, match=r"^--vacuum-gate: expected one of wait, slow, off, got 'sometimes'$"):
        Settings.resolve(dsn="x", vacuum_gate="sometimes")
    with pytest.raises(ConfigError, match=r"^--max-slot-wal: expected a size such as 64MB or 1GB, got 'lots'$"):
        Settings.resolve(dsn="x", max_slot_wal="lots")
