"""The replica gates before a CONCURRENTLY statement: the build names the standbys that will receive its
WAL, with their lag, and does not start while one replays more than --max-replica-lag behind; it
starts once the standby catches up. Twins: with the gate off, or with no lag, nothing waits. Replay is
paused for real on the standby fixture (tests/standby.py)."""

from __future__ import annotations

import threading
from dataclasses import replace

import psycopg
import pytest

from chatschema import migrate
from chatschema.migrate.gates import BuildGate, GatePolicy, ReplicaLag, SlotRetention
from chatschema.settings import Settings

from .populate import populate
from .standby import APPLICATION_NAME
from .test_migrations import wait_for

INDEX = "ix_conversations_user_activity"  # revision 0006's build
NAMED = f"CREATE INDEX CONCURRENTLY on conversations: its WAL goes to 1 standby: '{APPLICATION_NAME}' (replays "
WAITS = f"CREATE INDEX CONCURRENTLY on conversations waits: standby '{APPLICATION_NAME}' replays "


def at_0005(new_database, hint: str) -> Settings:
    settings = new_database(hint)
    migrate.upgrade(settings, "0001")
    with psycopg.connect(settings.dsn) as conn:
        populate(conn, users=20, conversations=300, messages=1500)
    migrate.upgrade(settings, "0005")
    return settings


def index_state(settings: Settings) -> str:
    with psycopg.connect(settings.dsn) as conn:
        row = conn.execute("SELECT i.indisvalid FROM pg_index i WHERE i.indexrelid = to_regclass(%s)",
                           (INDEX,)).fetchone()
        building = conn.execute("SELECT count(*) FROM pg_stat_progress_create_index").fetchone()[0]
    return "building" if building else "absent" if row is None else "valid" if row[0] else "invalid"


def write_wal(settings: Settings) -> None:
    """WAL the paused standby will not replay (a catalog update; no application row changes)."""
    with psycopg.connect(settings.dsn, autocommit=True) as conn:
        conn.execute("ANALYZE messages")


def upgrade_in_thread(settings: Settings, warnings: list[str], errors: list[BaseException]) -> threading.Thread:
    def work() -> None:
        try:
            migrate.upgrade(settings, "0006", on_gate=warnings.append)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            errors.append(exc)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


@pytest.mark.timeout(120)
def test_a_concurrent_build_names_its_standby_waits_while_it_lags_and_starts_after_it_catches_up(
        standby, new_database):
    settings = replace(at_0005(new_database, "build_gate"), max_replica_lag_ms=1000)
    warnings: list[str] = []
    errors: list[BaseException] = []
    with standby.replay_paused():
        write_wal(settings)
        thread = upgrade_in_thread(settings, warnings, errors)
        line = wait_for(lambda: next((w for w in warnings if w.startswith(WAITS)), None), timeout=30)
        assert line.endswith("behind (--max-replica-lag 1s)")
        assert warnings[0].startswith(NAMED) and "not yet replayed" in warnings[0]
        thread.join(1.5)
        assert thread.is_alive() and index_state(settings) == "absent"  # the build has not started
    thread.join(60)
    assert not thread.is_alive() and errors == []
    assert "CREATE INDEX CONCURRENTLY on conversations continues: replica lag gate open again" in warnings
    assert index_state(settings) == "valid"
    assert migrate.current(settings) == "0006"


@pytest.mark.timeout(120)
def test_with_the_gate_off_a_paused_standby_is_named_and_the_build_does_not_wait(standby, new_database):
    settings = replace(at_0005(new_database, "build_gate_off"), max_replica_lag_ms=0, max_slot_wal_bytes=0)
    warnings: list[str] = []
    with standby.replay_paused():
        write_wal(settings)
        migrate.upgrade(settings, "0006", on_gate=warnings.append)
        assert index_state(settings) == "valid"
    assert any(w.startswith(NAMED) for w in warnings)
    assert not any(" waits: " in w for w in warnings)


@pytest.mark.timeout(120)
def test_with_a_standby_that_keeps_up_the_build_is_named_and_does_not_wait(standby, new_database):
    settings = replace(at_0005(new_database, "build_gate_no_lag"), max_replica_lag_ms=1000)
    warnings: list[str] = []
    migrate.upgrade(settings, "0006", on_gate=warnings.append)
    assert index_state(settings) == "valid"
    assert any(w.startswith(NAMED) for w in warnings)
    assert not any(" waits: " in w for w in warnings)


class StalledStandby:
    """A measure whose one standby stopped replaying at 100 while the primary is at 200, and whose slot
    retains 3 GB: the gate's decisions without a server (the real one is above)."""

    def __init__(self) -> None:
        self.replayed = 100

    def wal_lsn(self) -> int:
        return 200

    def replicas(self) -> list[ReplicaLag]:
        return [ReplicaLag("replica-1", self.replayed, 0.0)]

    def slots(self) -> list[SlotRetention]:
        return [SlotRetention("replica-1", True, 3 * 1024 ** 3)]

    def vacuums(self, table: str) -> list:
        return []

    def archive_backlog(self) -> None:
        return None


def test_the_build_gate_waits_for_a_stalled_standby_and_for_a_slot_and_each_is_off_at_zero():
    now = [0.0]
    measure = StalledStandby()
    reports: list[str] = []

    def sleep(s: float) -> None:
        now[0] += s
        if now[0] > 5:
            measure.replayed = 200  # replay resumes after 5 s

    policy = GatePolicy(max_replica_lag_ms=2000, max_slot_wal_bytes=0, poll_ms=500)
    BuildGate(policy, measure, report=reports.append, sleep=sleep, clock=lambda: now[0]).before("BUILD")
    assert reports[0] == "BUILD: its WAL goes to 1 standby: 'replica-1' (replays 0.0s behind, 100 B not yet replayed)"
    assert reports[1].startswith("BUILD waits: standby 'replica-1' replays 2.")
    assert reports[-1] == "BUILD continues: replica lag gate open again" and 5 < now[0] < 6

    measure, reports, now[0] = StalledStandby(), [], 0.0
    slot_only = GatePolicy(max_replica_lag_ms=0, max_slot_wal_bytes=1024 ** 3, poll_ms=500)
    measure.slots = lambda: [SlotRetention("replica-1", True, 3 * 1024 ** 3 if now[0] < 2 else 10)]
    BuildGate(slot_only, measure, report=reports.append, sleep=sleep, clock=lambda: now[0]).before("BUILD")
    assert reports[1] == ("BUILD waits: replication slot 'replica-1' (active) retains 3.0 GB of WAL "
                          "(--max-slot-wal 1.0 GB)") and 2 <= now[0] < 3

    measure, reports, now[0] = StalledStandby(), [], 0.0
    off = GatePolicy(max_replica_lag_ms=0, max_slot_wal_bytes=0, poll_ms=500)
    BuildGate(off, measure, report=reports.append, sleep=sleep, clock=lambda: now[0]).before("BUILD")
    assert len(reports) == 1 and now[0] == 0.0  # named, never waited
