"""Health gates of background work: before each batch, the cluster must be fit for more.

A batched backfill writes WAL every standby must replay, dirties pages autovacuum may be working
on, and fills the archiver's queue. GitLab's batched background migrations pause while autovacuum
works on the target table and while WAL waits to be archived; pgroll's users asked for backfills
throttled by replica lag (pgroll #168). So before every batch ``Gates.wait_until_clear`` checks:

- every standby in ``pg_stat_replication`` replays less than ``max_replica_lag_ms`` behind, and no
  replication slot retains more than ``max_slot_wal_bytes`` of WAL;
- no VACUUM (autovacuum or manual) is working on the target table (``pg_stat_progress_vacuum``):
  ``vacuum_gate`` "wait" waits for it to finish, "slow" runs the batch at half size and then rests
  as long as it took, "off" ignores it;
- with ``archive_mode`` on, at most ``max_archive_backlog`` WAL segments wait to be archived;

and after every batch ``Gates.after_batch`` rests long enough to keep the WAL the batch generated
under ``max_wal_rate_bytes`` per second, and adapts the next batch's size to ``target_batch_ms``
(a batch that took longer halves it, one that took under half grows it by half, within
[start / 16, start x 8]). Each gate is off at 0 (``vacuum_gate`` at "off").

Replay lag is measured on the primary, twice: PostgreSQL's ``replay_lag``, and chatschema's own
clock of when the primary's WAL reached each position (sampled at every check). The second is what
sees a standby whose replay stopped: ``replay_lag`` only moves when replay does, so a paused or
stuck standby keeps showing its last, small, value.

What is measured comes from a ``Measure`` (``DatabaseMeasure`` reads the catalog views above). The
tests pass their own where one machine cannot produce the condition (an archiver backlog).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import psycopg
from psycopg.rows import class_row

from ..progress import Warn
from ..settings import Settings, format_duration

__all__ = [
    "ReplicaLag",
    "SlotRetention",
    "Vacuum",
    "Measure",
    "DatabaseMeasure",
    "GatePolicy",
    "Gates",
    "Wait",
    "BuildGate",
    "format_bytes",
    "WAITS",
    "CONTINUES",
]

WAITS = "backfill waits: "
"""How a report that a gate closed begins (the rest says which gates and their readings)."""
CONTINUES = "backfill continues: "
"""How a report that the gates opened again begins."""

WAL_SEGMENT = 16 * 1024 * 1024


@dataclass(frozen=True)
class ReplicaLag:
    name: str  # application_name, else client address, else pid
    replay_lsn: int | None  # bytes since 0/0; None while the standby has not reported
    replay_lag_s: float | None  # PostgreSQL's replay_lag


@dataclass(frozen=True)
class SlotRetention:
    slot_name: str
    active: bool
    retained_bytes: int | None


@dataclass(frozen=True)
class Vacuum:
    pid: int
    phase: str
    autovacuum: bool


class Measure(Protocol):
    """What the gates read; each method one look at the cluster."""

    def wal_lsn(self) -> int: ...
    def replicas(self) -> list[ReplicaLag]: ...
    def slots(self) -> list[SlotRetention]: ...
    def vacuums(self, table: str) -> list[Vacuum]: ...
    def archive_backlog(self) -> int | None: ...  # segments waiting; None when archive_mode is off


class DatabaseMeasure:
    """The gates' readings from the catalog, on a connection of their own (autocommit, so no snapshot is held)."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn
        self._archive_unreadable = False

    def wal_lsn(self) -> int:
        row = self.conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint").fetchone()
        return int(row[0]) if row else 0

    def replicas(self) -> list[ReplicaLag]:
        with self.conn.cursor(row_factory=class_row(ReplicaLag)) as cur:
            return cur.execute(
                "SELECT COALESCE(NULLIF(application_name, ''), client_addr::text, pid::text) AS name, "
                "pg_wal_lsn_diff(replay_lsn, '0/0')::bigint AS replay_lsn, "
                "extract(epoch FROM replay_lag)::float8 AS replay_lag_s "
                "FROM pg_stat_replication ORDER BY 1").fetchall()

    def slots(self) -> list[SlotRetention]:
        with self.conn.cursor(row_factory=class_row(SlotRetention)) as cur:
            return cur.execute(
                "SELECT slot_name::text AS slot_name, active, "
                "pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint AS retained_bytes "
                "FROM pg_replication_slots ORDER BY 1").fetchall()

    def vacuums(self, table: str) -> list[Vacuum]:
        with self.conn.cursor(row_factory=class_row(Vacuum)) as cur:
            return cur.execute(
                "SELECT v.pid, v.phase, COALESCE(a.backend_type = 'autovacuum worker', false) AS autovacuum "
                "FROM pg_stat_progress_vacuum v LEFT JOIN pg_stat_activity a ON a.pid = v.pid "
                "WHERE v.datname = current_database() AND v.relid = to_regclass(%s) ORDER BY v.pid",
                (table,)).fetchall()

    def archive_backlog(self) -> int | None:
        row = self.conn.execute("SELECT current_setting('archive_mode') AS mode").fetchone()
        if not row or row[0] == "off" or self._archive_unreadable:
            return None
        try:
            row = self.conn.execute(
                "SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'").fetchone()
        except psycopg.errors.InsufficientPrivilege:
            # Reading pg_wal/archive_status needs pg_monitor; without it the gate cannot see the queue.
            self._archive_unreadable = True
            return None
        return int(row[0]) if row else 0


@dataclass(frozen=True)
class GatePolicy:
    max_replica_lag_ms: int = 10_000
    max_slot_wal_bytes: int = 1024 ** 3
    vacuum_gate: str = "wait"
    max_archive_backlog: int = 64
    max_wal_rate_bytes: int = 0
    target_batch_ms: int = 1_000
    poll_ms: int = 1_000  # how often a waiting gate looks again

    @classmethod
    def from_settings(cls, settings: Settings) -> "GatePolicy":
        return cls(max_replica_lag_ms=settings.max_replica_lag_ms, max_slot_wal_bytes=settings.max_slot_wal_bytes,
                   vacuum_gate=settings.vacuum_gate, max_archive_backlog=settings.max_archive_backlog,
                   max_wal_rate_bytes=settings.max_wal_rate_bytes, target_batch_ms=settings.backfill_target_ms)


@dataclass(frozen=True)
class Wait:
    """Why the next batch may not start yet: which gate, and the reading that closed it."""

    gate: str  # "replica lag", "slot WAL", "vacuum", "archiver"
    detail: str


def format_bytes(n: float) -> str:
    for unit, size in (("GB", 1024 ** 3), ("MB", 1024 ** 2), ("kB", 1024)):
        if abs(n) >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"


@dataclass
class Gates:
    """The gates of one run of background work on ``table``, starting at ``batch_size``."""

    policy: GatePolicy
    measure: Measure
    table: str
    batch_size: int
    report: Warn | None = None
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    waits: str = WAITS  # how its reports begin: the work that waits
    continues: str = CONTINUES
    waiting_on: Wait | None = None
    max_lag_seen_s: float = 0.0
    _samples: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=100_000))
    _start_size: int = 0
    _slow_for_vacuum: bool = False

    def __post_init__(self) -> None:
        self._start_size = self.batch_size

    # --- before a batch -------------------------------------------------------------------------

    def _lag_s(self, replica: ReplicaLag, now: float) -> float:
        reported = replica.replay_lag_s or 0.0
        if replica.replay_lsn is None:
            return reported
        unreplayed = [t for t, lsn in self._samples if lsn > replica.replay_lsn]
        return max(reported, now - unreplayed[0]) if unreplayed else reported

    def closed(self) -> list[Wait]:
        """Every gate that is closed right now (empty: the next batch may run)."""
        p, now = self.policy, self.clock()
        self._samples.append((now, self.measure.wal_lsn()))
        closed: list[Wait] = []
        if p.max_replica_lag_ms > 0:
            for replica in self.measure.replicas():
                lag = self._lag_s(replica, now)
                self.max_lag_seen_s = max(self.max_lag_seen_s, lag)
                if lag * 1000 > p.max_replica_lag_ms:
                    closed.append(Wait("replica lag", f"standby {replica.name!r} replays {lag:.1f}s behind "
                                                      f"(--max-replica-lag {format_duration(p.max_replica_lag_ms)})"))
        if p.max_slot_wal_bytes > 0:
            for slot in self.measure.slots():
                if slot.retained_bytes is not None and slot.retained_bytes > p.max_slot_wal_bytes:
                    closed.append(Wait("slot WAL", f"replication slot {slot.slot_name!r} "
                                                   f"({'active' if slot.active else 'inactive'}) retains "
                                                   f"{format_bytes(slot.retained_bytes)} of WAL "
                                                   f"(--max-slot-wal {format_bytes(p.max_slot_wal_bytes)})"))
        self._slow_for_vacuum = False
        if p.vacuum_gate != "off":
            vacuums = self.measure.vacuums(self.table)
            if vacuums and p.vacuum_gate == "wait":
                v = vacuums[0]
                who = "autovacuum" if v.autovacuum else "VACUUM"
                closed.append(Wait("vacuum", f"{who} (pid {v.pid}, {v.phase}) is working on {self.table} "
                                             f"(--vacuum-gate wait)"))
            self._slow_for_vacuum = bool(vacuums) and p.vacuum_gate == "slow"
        if p.max_archive_backlog > 0:
            backlog = self.measure.archive_backlog()
            if backlog is not None and backlog > p.max_archive_backlog:
                closed.append(Wait("archiver", f"{backlog} WAL segments wait to be archived "
                                               f"(--max-archive-backlog {p.max_archive_backlog})"))
        return closed

    def wait_until_clear(self, *, should_stop: Callable[[], bool] = lambda: False,
                         on_wait: Callable[[Wait], None] | None = None) -> int:
        """Wait until every gate is open (or ``should_stop()``); returns the size the next batch may have.
        ``on_wait`` hears the first closed gate each time the set of closed gates changes."""
        reported: tuple[str, ...] = ()
        while closed := self.closed():
            self.waiting_on = closed[0]
            shown = tuple(w.gate for w in closed)
            if shown != reported:
                if self.report:
                    self.report(self.waits + "; ".join(w.detail for w in closed))
                if on_wait:
                    on_wait(closed[0])
                reported = shown
            if should_stop():
                return 0
            self.sleep(self.policy.poll_ms / 1000)
        if self.waiting_on is not None and self.report:
            self.report(f"{self.continues}{self.waiting_on.gate} gate open again")
        self.waiting_on = None
        if self._slow_for_vacuum:
            return max(1, self.batch_size // 2)
        return self.batch_size

    # --- after a batch --------------------------------------------------------------------------

    def after_batch(self, seconds: float, wal_bytes: int, rows: int) -> None:
        """Rest for the WAL rate and for a vacuum being slowed for; adapt the next batch's size."""
        p = self.policy
        rest = 0.0
        if p.max_wal_rate_bytes > 0 and wal_bytes > 0:
            rest = max(rest, wal_bytes / p.max_wal_rate_bytes - seconds)
        if self._slow_for_vacuum:
            rest = max(rest, seconds)
        if p.target_batch_ms > 0 and rows >= self.batch_size // (2 if self._slow_for_vacuum else 1):
            target = p.target_batch_ms / 1000
            low, high = max(1, self._start_size // 16), self._start_size * 8
            new = self.batch_size
            if seconds > target:
                new = max(low, self.batch_size // 2)
            elif seconds < target / 2:
                new = min(high, self.batch_size + max(1, self.batch_size // 2))
            if new != self.batch_size:
                if self.report:
                    self.report(f"backfill batch size {self.batch_size:,} -> {new:,} (last batch {seconds:.3f}s, "
                                f"target {format_duration(p.target_batch_ms)})")
                self.batch_size = new
        if rest > 0:
            self.sleep(rest)


# --- before a CONCURRENTLY statement ------------------------------------------------------------

SETTLE_S = 0.05  # how often the first look at a build's standbys looks again


@dataclass
class BuildGate:
    """Before each CONCURRENTLY statement of a run: name the standbys that will receive its WAL, with
    their lag, and wait while one replays more than ``max_replica_lag_ms`` behind (or a slot retains
    more than ``max_slot_wal_bytes``). A build writes the whole index into the WAL in one go, and once
    started it cannot be paused between batches: the time to wait is before it starts.

    One per run, so that the WAL clock (``Gates``) keeps its samples from one statement to the next.
    A standby that is behind the primary at the first look and does not move is stalled (PostgreSQL's
    replay_lag then keeps its last value): the gate looks again every ``SETTLE_S`` until the standby
    moves past that position or the clock says it lags more than the limit, so a stalled standby is
    caught before the build, and a streaming one costs a look or two."""

    policy: GatePolicy
    measure: Measure
    report: Warn | None = None
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    _gates: Gates | None = None

    def _gate(self, what: str) -> Gates:
        if self._gates is None:
            only_replicas = GatePolicy(max_replica_lag_ms=self.policy.max_replica_lag_ms,
                                       max_slot_wal_bytes=self.policy.max_slot_wal_bytes, vacuum_gate="off",
                                       max_archive_backlog=0, max_wal_rate_bytes=0, target_batch_ms=0,
                                       poll_ms=self.policy.poll_ms)
            self._gates = Gates(only_replicas, self.measure, "", 0, report=self.report, sleep=self.sleep,
                                clock=self.clock)
        self._gates.waits, self._gates.continues = f"{what} waits: ", f"{what} continues: "
        return self._gates

    def before(self, what: str) -> None:
        """Report where ``what``'s WAL goes, then wait until the replica gates are open."""
        gates = self._gate(what)
        position, started = self.measure.wal_lsn(), self.clock()
        gates._samples.append((started, position))
        replicas, slots = self.measure.replicas(), self.measure.slots()
        if self.report and (replicas or slots):  # a server without standbys has nothing to name
            self.report(f"{what}: " + describe_standbys(replicas, slots, position,
                                                        [gates._lag_s(r, started) for r in replicas]))
        if self.policy.max_replica_lag_ms <= 0 and self.policy.max_slot_wal_bytes <= 0:
            return
        limit_s = self.policy.max_replica_lag_ms / 1000
        while self.policy.max_replica_lag_ms > 0:
            behind = [r for r in self.measure.replicas() if r.replay_lsn is not None and r.replay_lsn < position]
            if not behind or self.clock() - started > limit_s:
                break
            self.sleep(SETTLE_S)
        gates.wait_until_clear()


def describe_standbys(replicas: list[ReplicaLag], slots: list[SlotRetention], position: int,
                      lags_s: list[float]) -> str:
    """Which standbys will receive WAL written from ``position`` on, and how far behind each is now."""
    if not replicas:
        text = "no standby streams from this server now"
    else:
        named = [f"{r.name!r} (replays {lag:.1f}s behind, "
                 f"{format_bytes(max(position - r.replay_lsn, 0)) if r.replay_lsn is not None else 'position unknown'}"
                 f" not yet replayed)" for r, lag in zip(replicas, lags_s)]
        text = f"its WAL goes to {len(replicas)} standby{'s' * (len(replicas) != 1)}: " + ", ".join(named)
    idle = [s for s in slots if not s.active]
    if idle:
        text += "; inactive slots keep it too: " + ", ".join(
            f"{s.slot_name!r} ({format_bytes(s.retained_bytes or 0)} retained)" for s in idle)
    return text
