"""Writers throughout the backfill: while revision 0004 fills the summaries of a populated database in
committed batches (with a standby attached, and held by the replica gate for a while), several
threads keep sending through the catalog's send statement (the API's one statement). Afterwards every
acknowledged send is there, on the primary and on the standby, and every summary equals a
recomputation from the messages. The writers' p99 is reported (printed and recorded as a property
of the test), not asserted: timings belong in benchmarks."""

from __future__ import annotations

import threading
import uuid
from dataclasses import replace

import psycopg
import pytest

from chatschema import migrate

from .live_traffic import WRITERS, Traffic, p99
from .populate import populate, summary_mismatches
from .test_gates import checkpoint
from .test_migrations import wait_for


def start_writers(dsn: str) -> tuple[Traffic, list[threading.Thread]]:
    with psycopg.connect(dsn) as conn:
        pairs = conn.execute("SELECT id, user_id FROM conversations").fetchall()
    traffic = Traffic(dsn, pairs)
    traffic.use_send.set()  # the application's send path of the rollout: deployed before 0004
    traffic.switched = [threading.Event() for _ in range(WRITERS)]
    threads = [threading.Thread(target=traffic.writer, args=(n,), daemon=True) for n in range(WRITERS)]
    for t in threads:
        t.start()
    return traffic, threads


def acked_present(dsn: str, acked: list[uuid.UUID]) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT count(*) FROM messages WHERE id = ANY(%s)", (acked,)).fetchone()[0]


@pytest.mark.timeout(180)
def test_sends_from_several_threads_during_the_backfill_are_all_kept_and_the_summaries_are_exact(
        standby, new_database, record_property, capsys: pytest.CaptureFixture[str]):
    settings = replace(new_database("writers"), backfill_batch_size=40, backfill_pause_ms=200, max_replica_lag_ms=1000,
                       backfill_target_ms=0)
    dbname = psycopg.conninfo.conninfo_to_dict(settings.dsn)["dbname"]
    migrate.upgrade(settings, "0001")
    with psycopg.connect(settings.dsn) as conn:
        populate(conn, users=40, conversations=1200, messages=8000)
    migrate.upgrade(settings, "0003")
    traffic, threads = start_writers(settings.dsn)
    reports: list[str] = []
    errors: list[BaseException] = []

    def backfill() -> None:
        try:
            migrate.upgrade(settings, "0004", on_warning=reports.append)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            errors.append(exc)

    try:
        wait_for(lambda: len(traffic.acked) >= 50)
        runner = threading.Thread(target=backfill, daemon=True)
        runner.start()
        wait_for(lambda: checkpoint(settings) >= 200)
        with standby.replay_paused():  # the gate holds the backfill; the writers go on
            wait_for(lambda: any(r.startswith("backfill waits: standby") for r in reports))
            sent_while_held = len(traffic.acked)
            wait_for(lambda: len(traffic.acked) > sent_while_held + 20)
        runner.join(120)
        assert not runner.is_alive() and errors == []
        wait_for(lambda: len(traffic.acked) > sent_while_held + 100)  # and after it
    finally:
        traffic.stop.set()
        for t in threads:
            t.join(30)
    assert traffic.errors == []
    assert migrate.current(settings) == "0004"
    assert acked_present(settings.dsn, traffic.acked) == len(traffic.acked)
    with psycopg.connect(settings.dsn) as conn:
        assert summary_mismatches(conn) == 0
    standby.wait_caught_up()
    assert acked_present(standby.settings_for(dbname).dsn, traffic.acked) == len(traffic.acked)
    with standby.connect(dbname) as conn:
        assert summary_mismatches(conn) == 0

    seconds = [s for _, s in traffic.writes]
    record_property("writers_p99_ms", round(p99(seconds) * 1000, 1))
    with capsys.disabled():
        print(f"\n[{WRITERS} writers through the backfill: {len(traffic.acked)} acknowledged sends] writers p99 "
              f"{p99(seconds) * 1000:.1f} ms, max {max(seconds) * 1000:.0f} ms")


def test_the_exactness_check_sees_a_lost_send_and_a_stale_summary(new_database):
    """The twin: the same two checks fail on a database where a send was lost and a summary is stale."""
    settings = new_database("writers_twin")
    migrate.upgrade(settings, "0001")
    with psycopg.connect(settings.dsn) as conn:
        populate(conn, users=5, conversations=20, messages=100)
    migrate.upgrade(settings, "0004")
    traffic, threads = start_writers(settings.dsn)
    wait_for(lambda: len(traffic.acked) >= 20)
    traffic.stop.set()
    for t in threads:
        t.join(30)
    with psycopg.connect(settings.dsn) as conn:
        assert summary_mismatches(conn) == 0
        conn.execute("DELETE FROM messages WHERE id = %s", (traffic.acked[-1],))  # lost, summary now stale
        conn.commit()
        assert summary_mismatches(conn) == 1
    assert acked_present(settings.dsn, traffic.acked) == len(traffic.acked) - 1
