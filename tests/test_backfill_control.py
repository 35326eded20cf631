"""Steering a running backfill: pause (it waits between batches, holding no locks), resume, status, and
SIGTERM / Ctrl-C (the current batch commits, exit 0, a re-run continues with no batch counted twice)."""

from __future__ import annotations

import signal
import subprocess
import sys
from dataclasses import replace

import psycopg
import pytest
from click.testing import CliRunner

from chatschema import migrate
from chatschema.cli import main
from chatschema.migrate import backfill, control

from .populate import populate, summary_mismatches
from .test_gates import OFF, Run, at_0003, checkpoint
from .test_migrations import wait_for


def locks_of(settings, pid: int) -> int:
    """The locks ``pid`` holds beyond the instant of reading its pause flag (the checkpoint table and its
    key, and that read's own virtual transaction id): what a paused backfill must not hold."""
    with psycopg.connect(settings.dsn) as conn:
        return conn.execute(
            "SELECT count(*) FROM pg_locks l LEFT JOIN pg_class c ON c.oid = l.relation"
            " WHERE l.pid = %s AND l.locktype <> 'virtualxid'"
            " AND coalesce(c.relname, '') NOT LIKE 'chatschema\\_backfill%%'", (pid,)).fetchone()[0]


@pytest.mark.timeout(120)
def test_a_paused_backfill_waits_between_batches_holding_no_locks_and_resumes_exact(new_database):
    settings = at_0003(new_database, "pause_run")
    run = Run(settings, OFF)
    thread = run.start(batch_size=50, pause_s=0.02)
    wait_for(lambda: checkpoint(settings) >= 100)
    paused = control.pause(settings)
    assert paused.paused_since is not None
    wait_for(lambda: any("paused by `chatschema backfill pause`" in r for r in run.reports))
    held = checkpoint(settings)
    thread.join(0.5)
    assert thread.is_alive() and checkpoint(settings) == held  # no batch while paused
    st = control.backfill_status(settings)
    assert (st.state, st.doing, st.rows_done) == ("paused", "paused", held) and st.pid is not None
    assert locks_of(settings, st.pid) == 0

    # the twin: the same look at pg_locks sees a session that holds row locks on conversations
    with psycopg.connect(settings.dsn) as holder:
        holder.execute("SELECT id FROM conversations LIMIT 1 FOR UPDATE")
        assert locks_of(settings, holder.info.backend_pid) > 0

    resumed = control.resume(settings)
    assert resumed.paused_since is None
    thread.join(60)
    assert not thread.is_alive() and run.error == []
    assert any(r == "backfill conversation_summaries resumed" for r in run.reports)
    assert checkpoint(settings) == 1000
    with psycopg.connect(settings.dsn) as conn:
        assert summary_mismatches(conn) == 0
        # the bookkeeping rows are gone; the backfill's own row is the only one left
        assert conn.execute("SELECT array_agg(name) FROM chatschema_backfill").fetchone()[0] == [backfill.NAME]
    assert control.backfill_status(settings).state == "finished"


@pytest.mark.timeout(60)
def test_a_pause_set_before_the_run_holds_it_at_the_start(new_database):
    settings = at_0003(new_database, "pause_before")
    assert control.backfill_status(settings).state == "not started"
    assert control.pause(settings).state == "paused"
    run = Run(settings, OFF)
    thread = run.start(batch_size=200, pause_s=0.0)
    wait_for(lambda: control.backfill_status(settings).pid is not None)
    thread.join(0.3)
    assert thread.is_alive() and checkpoint(settings) == 0
    control.resume(settings)
    thread.join(60)
    assert run.error == [] and checkpoint(settings) == 1000


@pytest.mark.timeout(60)
def test_status_names_the_gate_a_running_backfill_waits_on_with_rate_and_eta(new_database):
    settings = at_0003(new_database, "status_gate")
    backlog = iter([0, 0, 0])  # three batches pass, then the archiver falls behind until the test lets go
    release: list[bool] = []
    run = Run(settings, replace(OFF, max_archive_backlog=64),
              measure_override={"archive_backlog": lambda: next(backlog, 0 if release else 500)})
    thread = run.start(batch_size=100, pause_s=0.0)
    wait_for(lambda: control.backfill_status(settings).state == "waiting")
    st = control.backfill_status(settings)
    assert st.doing == "waiting on archiver" and st.rows_done == 300 and st.rows_total >= 1000
    assert st.rate_per_s is not None and st.rate_per_s > 0 and st.eta_s is not None and st.eta_s > 0
    result = CliRunner().invoke(main, ["backfill", "status", "--dsn", settings.dsn], catch_exceptions=False)
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0] == f"backfill conversation_summaries: waiting (pid {st.pid}: waiting on archiver)"
    assert lines[1].startswith("  rows done 300 of about ") and lines[2].startswith("  rate ")
    assert " rows/s; ETA " in lines[2]
    release.append(True)
    thread.join(60)
    assert run.error == [] and control.backfill_status(settings).state == "finished"


def test_pause_and_resume_from_the_cli_say_what_they_did(new_database):
    settings = at_0003(new_database, "pause_cli")
    paused = CliRunner().invoke(main, ["backfill", "pause", "--dsn", settings.dsn], catch_exceptions=False)
    assert paused.exit_code == 0 and paused.output.startswith("backfill conversation_summaries: paused\n")
    assert "  paused since " in paused.output
    resumed = CliRunner().invoke(main, ["backfill", "resume", "--dsn", settings.dsn], catch_exceptions=False)
    assert resumed.exit_code == 0 and resumed.output.startswith("backfill conversation_summaries: not started\n")
    bad = CliRunner().invoke(main, ["backfill", "status", "--dsn", "postgresql://nobody@127.0.0.1:1/chat"])
    assert bad.exit_code == 2 and bad.output.count("\n") == 1 and "Traceback" not in bad.output


@pytest.mark.timeout(120)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_a_signal_mid_backfill_commits_the_batch_exits_0_and_a_rerun_counts_nothing_twice(new_database, sig):
    settings = new_database("signal")
    migrate.upgrade(settings, "0001")
    with psycopg.connect(settings.dsn) as conn:
        populate(conn, users=50, conversations=3000, messages=20000)
    migrate.upgrade(settings, "0003")
    command = [sys.executable, "-c", "from chatschema.cli import main; main()", "upgrade", "0004", "--dsn",
               settings.dsn, "--backfill-batch-size", "100", "--backfill-pause", "100ms",
               "--backfill-target-time", "0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: checkpoint(settings) >= 300)
        process.send_signal(sig)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert stdout.splitlines()[-1].endswith("rows, its checkpoint committed; paused; rerun to continue")
    stopped_at = checkpoint(settings)
    assert 300 <= stopped_at < 3000 and stopped_at % 100 == 0
    assert f"stopped after {stopped_at:,} rows" in stdout  # the batch in flight was committed and counted
    assert migrate.current(settings) == "0003"
    assert control.backfill_status(settings).state == "stopped"

    seen: list[int] = []
    migrate.upgrade(settings, "0004", progress=lambda name, done, total: seen.append(done))
    assert seen[0] == stopped_at + 2000  # continues after the last committed batch (default size 2000)
    with psycopg.connect(settings.dsn) as conn:
        final = backfill.status(conn)
        assert (final.rows_done, final.finished) == (3000, True)  # no batch counted twice
        assert summary_mismatches(conn) == 0


def test_the_upgrade_bar_shows_rows_rate_eta_and_the_gate_it_waits_on():
    from rich.console import Console

    from chatschema.cli.backfill import gate_tracking, upgrade_bar

    bar = upgrade_bar()
    task = bar.add_task("backfill conversation_summaries", total=1000, gate="")
    bar.update(task, completed=300)
    heard: list[str] = []
    report = gate_tracking(bar, {"conversation_summaries": task}, heard.append)

    def shown() -> str:
        console = Console(record=True, width=200, force_terminal=False)
        console.print(bar.make_tasks_table(bar.tasks))
        return console.export_text()

    assert "backfill conversation_summaries" in shown() and "300/1000" in shown() and "rows/s" in shown()
    report("backfill waits: standby 'b' replays 12.0s behind (--max-replica-lag 10s)")
    assert "waits: standby 'b' replays 12.0s behind" in shown()
    report("backfill continues: replica lag gate open again")
    assert "waits:" not in shown()  # the twin: an open gate is not shown
    assert heard[0].startswith("backfill waits: ") and len(heard) == 2


def test_every_label_of_the_running_session_fits_in_application_name():
    """application_name keeps 63 bytes; a label cut there ("waiting on replica ") would misreport."""
    label = f"{control.APPLICATION_PREFIX}{backfill.NAME}: "
    words = ["batch", "paused"] + [f"waiting on {control.GATE_WORDS.get(g, g)}"
                                   for g in ("replica lag", "slot WAL", "vacuum", "archiver")]
    assert all(len(label + w) <= 63 for w in words)
    assert len(label + "waiting on replica lag") > 63  # the twin: the gate's own name would not fit
