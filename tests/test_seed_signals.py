"""Stopping a seed: Ctrl-C and SIGTERM cancel its statements on the server, a killed client's sessions
end by themselves, and the database is left as it was before the run.

Each case runs ``chatschema seed`` as a real process on a database at 0001, waits until pg_stat_activity
shows the seed's sessions at work in the phase under test, signals it, and then reads
pg_stat_activity: no session of the seed may be left. The twin runs the same command unsignalled to
its end.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import psycopg
import pytest

from chatschema import migrate
from chatschema.seed.load import APPLICATION_NAME

SEED_SESSIONS = "SELECT state, query FROM pg_stat_activity WHERE datname = current_database() AND application_name = %s"
ROWS = "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM conversations), (SELECT count(*) FROM messages)"
SESSIONS_END_S = 30
CLI = [sys.executable, "-c", "from chatschema.cli import main; main()"]


def start_seed(dsn: str, messages: int) -> subprocess.Popen[str]:
    return subprocess.Popen([*CLI, "seed", "--messages", str(messages), "--dsn", dsn],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_until_running(conn: psycopg.Connection, proc: subprocess.Popen[str], doing: str, limit_s: float = 300) -> None:
    """Until a seed session runs a statement containing ``doing`` (the phase under test)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        rows = conn.execute(SEED_SESSIONS, (APPLICATION_NAME,)).fetchall()
        if any(state == "active" and doing in query for state, query in rows):
            time.sleep(0.5)  # well inside the statement
            return
        assert proc.poll() is None, f"the seed ended before {doing!r}: {proc.communicate()}"
        time.sleep(0.05)
    pytest.fail(f"no seed session ran {doing!r} within {limit_s} s")


def seed_sessions_after(conn: psycopg.Connection, since: float, limit_s: float) -> tuple[list[tuple], float]:
    """The seed's sessions still there once they are gone or ``limit_s`` after ``since``, and when."""
    while True:
        left = conn.execute(SEED_SESSIONS, (APPLICATION_NAME,)).fetchall()
        if not left or time.monotonic() - since > limit_s:
            return left, time.monotonic() - since
        time.sleep(0.05)


@pytest.fixture
def at_0001(new_database):
    settings = new_database("seed_signal")
    migrate.upgrade(settings, "0001")
    return settings.dsn


@pytest.mark.parametrize(
    ("sig", "exit_code", "messages", "doing"),
    [
        (signal.SIGINT, 130, 100_000_000, "Fills seed_plan"),  # the plan of 15M conversations: minutes
        (signal.SIGTERM, 143, 100_000_000, "Fills seed_plan"),
        # the load itself, mid-COPY: reached after the plan and the conversations (tens of seconds under load)
        pytest.param(signal.SIGINT, 130, 5_000_000, 'COPY "messages"', marks=pytest.mark.slow),
    ],
    ids=["sigint-plan", "sigterm-plan", "sigint-copy"],
)
def test_a_signal_cancels_the_server_side_work_and_keeps_nothing(at_0001, sig, exit_code, messages, doing):
    with psycopg.connect(at_0001, autocommit=True) as conn:
        proc = start_seed(at_0001, messages)
        try:
            wait_until_running(conn, proc, doing)
            signalled = time.monotonic()
            proc.send_signal(sig)
            _, stderr = proc.communicate(timeout=15)
        finally:
            proc.kill()
        exited = time.monotonic() - signalled
        left, gone_after = seed_sessions_after(conn, signalled, limit_s=5)
        assert left == [], f"seed sessions left {gone_after:.1f} s after {sig.name}: {left}"
        assert exited < 3 and gone_after < 3
        assert proc.returncode == exit_code
        lines = [line for line in stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "Traceback" not in stderr, stderr
        assert lines[0].startswith(f"Error: {sig.name}: seeding ") and " was interrupted" in lines[0]
        assert ("its statements were cancelled on the server and its transaction rolled back, so the database "
                "is as it was before the run (nothing was seeded)") in lines[0]
        assert conn.execute(ROWS).fetchone() == (0, 0, 0)


def test_a_killed_clients_sessions_end_by_themselves(at_0001):
    with psycopg.connect(at_0001, autocommit=True) as conn:
        proc = start_seed(at_0001, 100_000_000)
        try:
            wait_until_running(conn, proc, "Fills seed_plan")
            killed = time.monotonic()
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=15)
        finally:
            proc.kill()
        # client_connection_check_interval (1 s): each backend finds its client gone mid-statement.
        left, gone_after = seed_sessions_after(conn, killed, limit_s=5)
        assert left == [] and gone_after < 3, f"seed sessions left {gone_after:.1f} s after SIGKILL: {left}"
        assert conn.execute(ROWS).fetchone() == (0, 0, 0)


def test_unsignalled_the_same_seed_runs_to_its_end(at_0001):
    """The twin: the same command, the same wait for its sessions, no signal: it seeds and exits 0."""
    with psycopg.connect(at_0001, autocommit=True) as conn:
        proc = start_seed(at_0001, 3_000)
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
        assert "Seeded " in stdout and "3,000 messages" in stdout
        users, conversations, messages = conn.execute(ROWS).fetchone()
        assert messages == 3_000 and users > 0 and conversations > 0
        assert seed_sessions_after(conn, time.monotonic(), limit_s=SESSIONS_END_S)[0] == []  # a closed session's backend exits soon after


def _interrupt_at(phase: str):
    def progress(name: str, done: int, total: int) -> None:
        if name == phase:
            raise KeyboardInterrupt  # what Ctrl-C (or the CLI's SIGTERM handler) raises in this thread

    return progress


def test_an_interrupt_while_settling_keeps_the_committed_data_and_says_what_is_left(new_database):
    from chatschema.errors import Interrupted
    from chatschema.seed import seed_database

    settings = new_database("seed_interrupt_settle")
    migrate.upgrade(settings)
    with pytest.raises(Interrupted) as stopped:
        seed_database(settings.dsn, scale="tiny", progress=_interrupt_at("settle"))
    assert str(stopped.value).endswith(
        "was interrupted while settling: the 5,000 messages are committed, but the tables are not VACUUM (ANALYZE)d "
        "and the views (revision 0007) not refreshed; run VACUUM (ANALYZE) and `chatschema views refresh`, or seed "
        "again with --replace")
    with psycopg.connect(settings.dsn) as conn:
        assert conn.execute(ROWS).fetchone()[2] == 5_000
        assert seed_sessions_after(conn, time.monotonic(), limit_s=SESSIONS_END_S)[0] == []  # a closed session's backend exits soon after


def test_an_interrupt_while_loading_keeps_nothing(new_database):
    """The twin: the same interrupt one phase earlier, before the commit: nothing stays."""
    from chatschema.errors import Interrupted
    from chatschema.seed import seed_database

    settings = new_database("seed_interrupt_load")
    migrate.upgrade(settings)
    with pytest.raises(Interrupted, match=r"was interrupted after [\d,]+ of 5,000 messages: its statements were "
                                          r"cancelled on the server and its transaction rolled back"):
        seed_database(settings.dsn, scale="tiny", progress=_interrupt_at("messages"))
    with psycopg.connect(settings.dsn) as conn:
        assert conn.execute(ROWS).fetchone() == (0, 0, 0)
        assert seed_sessions_after(conn, time.monotonic(), limit_s=SESSIONS_END_S)[0] == []  # a closed session's backend exits soon after
