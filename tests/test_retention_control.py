"""Retention is steered like the backfill: it waits on the health gates, and SIGTERM stops it between batches.

Each batch waits, before it starts, on the gates of ``chatschema.migrate.gates`` (here a VACUUM working on
messages, the one a test can hold without a standby), and says what it waits on. SIGTERM or Ctrl-C to
``chatschema retention`` stops it after the batch in progress: exit 0, a line saying what was deleted,
every summary exact, and a re-run finishes the job.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace

import psycopg
import pytest

from chatschema.migrate.backfill import summary_mismatches
from chatschema.retention import run_retention

from .test_gates import OFF, cancel, slow_vacuum
from .test_migrations import wait_for

CLI = [sys.executable, "-c", "from chatschema.cli import main; main()"]


@pytest.fixture
def dsn(skewed_databases, new_database) -> str:
    """A fresh copy of the skewed data at head: these tests delete."""
    return new_database("retention_control", template=skewed_databases.at_head).dsn


def median_time(conn: psycopg.Connection):
    return conn.execute("SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY created_at) FROM messages").fetchone()[0]


def older(conn: psycopg.Connection, cutoff) -> int:
    return conn.execute("SELECT count(*) FROM messages WHERE created_at < %s", (cutoff,)).fetchone()[0]


def run_in_thread(dsn: str, cutoff, policy) -> tuple[threading.Thread, list[str], list[BaseException]]:
    reports: list[str] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with psycopg.connect(dsn, autocommit=True) as conn:
                run_retention(conn, cutoff, batch=500, gates=policy, report=reports.append)
        except BaseException as exc:  # noqa: BLE001 - the test reports it
            errors.append(exc)

    thread = threading.Thread(target=work)
    thread.start()
    return thread, reports, errors


@pytest.mark.timeout(120)
def test_a_vacuum_on_messages_holds_retention_before_its_first_batch_until_it_ends(dsn):
    with psycopg.connect(dsn, autocommit=True) as conn:
        cutoff = median_time(conn)
        before = older(conn, cutoff)
    vacuum, pid = slow_vacuum(dsn, "messages", every_page=True)
    try:
        thread, reports, errors = run_in_thread(dsn, cutoff, replace(OFF, vacuum_gate="wait"))
        wait_for(lambda: reports)
        assert reports[0].startswith(f"retention waits: VACUUM (pid {pid}, ")
        assert "is working on messages (--vacuum-gate wait)" in reports[0]
        thread.join(0.5)
        assert thread.is_alive()
        with psycopg.connect(dsn) as conn:
            assert older(conn, cutoff) == before  # nothing deleted while the gate is closed
    finally:
        cancel(dsn, pid)
        vacuum.join(30)
    thread.join(60)
    assert errors == [] and reports[-1] == "retention continues: vacuum gate open again"
    with psycopg.connect(dsn) as conn:
        assert older(conn, cutoff) == 0 and summary_mismatches(conn) == 0


@pytest.mark.timeout(120)
def test_twin_with_the_vacuum_gate_off_retention_runs_through_the_vacuum(dsn):
    with psycopg.connect(dsn, autocommit=True) as conn:
        cutoff = median_time(conn)
    vacuum, pid = slow_vacuum(dsn, "messages", every_page=True)
    try:
        thread, reports, errors = run_in_thread(dsn, cutoff, OFF)
        thread.join(60)
        assert not thread.is_alive() and errors == [] and reports == []
        assert vacuum.is_alive()  # it finished while the VACUUM was still working
    finally:
        cancel(dsn, pid)
        vacuum.join(30)
    with psycopg.connect(dsn) as conn:
        assert older(conn, cutoff) == 0 and summary_mismatches(conn) == 0


@pytest.mark.timeout(180)
def test_sigterm_stops_retention_after_its_batch_and_a_rerun_finishes(dsn):
    with psycopg.connect(dsn, autocommit=True) as conn:
        cutoff = median_time(conn)
        before = older(conn, cutoff)
    args = [*CLI, "retention", "--older-than", cutoff.isoformat(), "--batch-size", "20", "--max-replica-lag", "0",
            "--vacuum-gate", "off", "--dsn", dsn]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            deadline = time.monotonic() + 60
            while older(conn, cutoff) == before and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.05)  # until its first batch has committed
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    last = out.strip().splitlines()[-1]
    assert last.startswith("retention stopped after ") and last.endswith(
        " committed batches; every summary is exact; re-run the same command to continue"), out
    with psycopg.connect(dsn) as conn:
        left = older(conn, cutoff)
        assert 0 < left < before and summary_mismatches(conn) == 0
    deleted = int(last.removeprefix("retention stopped after ").split(" ", 1)[0].replace(",", ""))
    assert deleted == before - left
    # the re-run continues where it stopped and finishes
    again = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[0].startswith(f"deleting {left:,} of ")
    with psycopg.connect(dsn) as conn:
        assert older(conn, cutoff) == 0 and summary_mismatches(conn) == 0
