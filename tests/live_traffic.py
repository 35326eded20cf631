"""Application traffic around a migration: writers keep sending, readers keep listing.

Shared by tests/test_live_migration.py (a small populated database, under pytest) and
tests/measure_live_migration.py (a seeded one, by hand). The rollout follows docs/design.md: the
application inserts plain rows (today's INSERT) until 0003 has added the summary columns, then
switches to the one-statement send (which keeps the summaries), and only then does 0004
backfill; once 0009 has added messages.user_id it switches to the head send, which writes it, before
0015 drops the trigger that filled it for the older send.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg

from chatschema import migrate
from chatschema import queries as catalog
from chatschema.migrate import AppliedRevision
from chatschema.queries import Statement, send_message
from chatschema.settings import Settings

__all__ = ["READERS", "WRITERS", "LiveRun", "Traffic", "p99", "upgrade_under_traffic"]

WRITERS, READERS = 4, 2

# today's send without its ownership check and updated_at round trips: the plain INSERT of the rollout
PLAIN_INSERT: Statement = catalog.get("send_message", "today").preceding[1]
_SEND = catalog.get("send_message")
SEND = Statement(_SEND.sql, _SEND.params)  # at head: the one statement that keeps the summaries
ROLLOUT_SEND = send_message.ROLLOUT_0003  # the same from 0003 until the application deploys the head send
LIST_CONVERSATIONS = "SELECT id, title FROM conversations WHERE user_id = %s ORDER BY created_at DESC, id DESC LIMIT 20"
LOAD_MESSAGES = ("SELECT id, role, created_at FROM messages WHERE conversation_id = %s "
                 "ORDER BY created_at DESC, id DESC LIMIT 50")


@dataclass
class Traffic:
    dsn: str
    pairs: list[tuple[uuid.UUID, uuid.UUID]]  # (conversation, its user)
    use_send: threading.Event = field(default_factory=threading.Event)
    use_head_send: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)
    acked: list[uuid.UUID] = field(default_factory=list)
    writes: list[tuple[float, float]] = field(default_factory=list)  # (started, seconds)
    reads: list[tuple[float, float]] = field(default_factory=list)
    switched: list[threading.Event] = field(default_factory=list)
    switched_head: list[threading.Event] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)

    def writer(self, n: int) -> None:
        rng = random.Random(n)
        switched = self.switched[n]
        try:
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                while not self.stop.is_set():
                    send, head = self.use_send.is_set(), self.use_head_send.is_set()
                    if send:
                        switched.set()  # no plain insert of this writer is in flight any more
                    if head:
                        self.switched_head[n].set()
                    cid, uid = rng.choice(self.pairs)
                    values = {"message_id": uuid.uuid4(), "conversation_id": cid, "user_id": uid,
                              "role": rng.choice(("user", "assistant")),
                              "content": f"live message from writer {n} " * rng.randint(1, 8)}
                    statement = SEND if head else ROLLOUT_SEND if send else PLAIN_INSERT
                    started = time.perf_counter()
                    row = conn.execute(statement.sql, statement.bind(values)).fetchone()
                    assert row is not None  # both RETURNING: no row means nothing was written
                    self.writes.append((started, time.perf_counter() - started))
                    self.acked.append(values["message_id"])
        except BaseException as exc:
            self.errors.append(exc)
            switched.set()
            self.switched_head[n].set()

    def reader(self, n: int) -> None:
        rng = random.Random(100 + n)
        try:
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                while not self.stop.is_set():
                    cid, uid = rng.choice(self.pairs)
                    started = time.perf_counter()
                    conn.execute(LIST_CONVERSATIONS, (uid,)).fetchall()
                    conn.execute(LOAD_MESSAGES, (cid,)).fetchall()
                    self.reads.append((started, time.perf_counter() - started))
        except BaseException as exc:
            self.errors.append(exc)


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


@dataclass(frozen=True)
class LiveRun:
    """What the traffic saw while the database went from 0001 to head."""

    traffic: Traffic
    applied: tuple[AppliedRevision, ...]  # 0004 onwards: after the writers switched to the send
    warnings: tuple[str, ...]
    began: float
    ended: float

    @property
    def before(self) -> list[float]:
        return [s for started, s in self.traffic.writes if started < self.began]

    @property
    def during(self) -> list[float]:
        return [s for started, s in self.traffic.writes if self.began <= started <= self.ended]

    @property
    def reads_during(self) -> list[float]:
        return [s for started, s in self.traffic.reads if self.began <= started <= self.ended]


def upgrade_under_traffic(settings: Settings, *, quiet_s: float,
                          on_revision: Callable[[AppliedRevision], None] | None = None) -> LiveRun:
    """Upgrade the database of ``settings`` (at 0001) to head under WRITERS writers and READERS readers,
    with ``quiet_s`` of traffic before and after; raises if the writers did not all switch."""
    with psycopg.connect(settings.dsn) as conn:
        pairs = conn.execute("SELECT id, user_id FROM conversations").fetchall()
    traffic = Traffic(settings.dsn, pairs)
    traffic.switched = [threading.Event() for _ in range(WRITERS)]
    traffic.switched_head = [threading.Event() for _ in range(WRITERS)]
    threads = [threading.Thread(target=traffic.writer, args=(n,)) for n in range(WRITERS)]
    threads += [threading.Thread(target=traffic.reader, args=(n,)) for n in range(READERS)]
    warnings: list[str] = []
    for t in threads:
        t.start()
    try:
        time.sleep(quiet_s)
        began = time.perf_counter()
        migrate.upgrade(settings, "0003", on_warning=warnings.append, on_revision=on_revision)
        # the application's rollout: every writer switches to the send statement before 0004
        traffic.use_send.set()
        assert all(e.wait(10) for e in traffic.switched), "a writer did not switch to the send statement"
        applied = migrate.upgrade(settings, "0009", on_warning=warnings.append, on_revision=on_revision)
        # and deploys the head send (it writes messages.user_id) before 0015 drops the fill trigger
        traffic.use_head_send.set()
        assert all(e.wait(10) for e in traffic.switched_head), "a writer did not switch to the head send"
        applied += migrate.upgrade(settings, "head", on_warning=warnings.append, on_revision=on_revision)
        ended = time.perf_counter()
        time.sleep(quiet_s)
    finally:
        traffic.stop.set()
        for t in threads:
            t.join(30)
    return LiveRun(traffic, tuple(applied), tuple(warnings), began, ended)
