"""Migrating a database that is serving traffic: writers keep sending, readers keep listing.

The rollout follows docs/design.md: the application inserts plain rows until 0003 has added
the summary columns, then switches to the one-statement send (which keeps the summaries), and
only then does 0004 backfill. Afterwards every acknowledged message is there, every summary is
exact, and no writer waited longer than the lock timeout plus a margin.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from dataclasses import dataclass, field, replace

import psycopg
import pytest

from chatschema import migrate
from chatschema.check import check

from .populate import populate, summary_mismatches

PLAIN_INSERT = "INSERT INTO messages (id, conversation_id, role, content) VALUES (%(mid)s, %(cid)s, %(role)s, %(content)s)"
SEND = """
WITH conv AS (
    UPDATE conversations
       SET message_count = message_count + 1,
           last_activity_at = clock_timestamp(),
           last_message_id = %(mid)s,
           last_message_preview = left(%(content)s, 100)
     WHERE id = %(cid)s AND user_id = %(uid)s
 RETURNING id, last_message_id, last_activity_at)
INSERT INTO messages (id, conversation_id, role, content, created_at)
SELECT last_message_id, id, %(role)s, %(content)s, last_activity_at FROM conv
RETURNING id
"""
LIST_CONVERSATIONS = "SELECT id, title FROM conversations WHERE user_id = %s ORDER BY created_at DESC, id DESC LIMIT 20"
LOAD_MESSAGES = ("SELECT id, role, created_at FROM messages WHERE conversation_id = %s "
                 "ORDER BY created_at DESC, id DESC LIMIT 50")

LOCK_TIMEOUT_MS = 1000
MARGIN_S = 2.0  # a 2-core CI machine runs PostgreSQL, the migration and eight clients at once
WRITERS, READERS = 4, 2


@dataclass
class Traffic:
    dsn: str
    pairs: list[tuple[uuid.UUID, uuid.UUID]]  # (conversation, its user)
    use_send: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)
    acked: list[uuid.UUID] = field(default_factory=list)
    writes: list[tuple[float, float]] = field(default_factory=list)  # (started, seconds)
    reads: list[tuple[float, float]] = field(default_factory=list)
    switched: list[threading.Event] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)

    def writer(self, n: int) -> None:
        rng = random.Random(n)
        switched = self.switched[n]
        try:
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                while not self.stop.is_set():
                    send = self.use_send.is_set()
                    if send:
                        switched.set()  # no plain insert of this writer is in flight any more
                    cid, uid = rng.choice(self.pairs)
                    params = {"mid": uuid.uuid4(), "cid": cid, "uid": uid, "role": rng.choice(("user", "assistant")),
                              "content": f"live message from writer {n} " * rng.randint(1, 8)}
                    started = time.perf_counter()
                    row = conn.execute(SEND if send else PLAIN_INSERT, params)
                    if send:
                        assert row.fetchone() is not None
                    self.writes.append((started, time.perf_counter() - started))
                    self.acked.append(params["mid"])
        except BaseException as exc:
            self.errors.append(exc)
            switched.set()

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


@pytest.mark.timeout(180)
def test_upgrade_under_traffic_loses_nothing_keeps_summaries_exact_and_never_stalls_writers(
    new_database, capsys: pytest.CaptureFixture[str]
):
    settings = replace(new_database("live"), lock_timeout_ms=LOCK_TIMEOUT_MS, retry_delay_ms=100,
                       backfill_batch_size=500)
    migrate.upgrade(settings, "0001")
    with psycopg.connect(settings.dsn) as conn:
        populate(conn)
        pairs = conn.execute("SELECT id, user_id FROM conversations").fetchall()
    traffic = Traffic(settings.dsn, pairs)
    traffic.switched = [threading.Event() for _ in range(WRITERS)]
    threads = [threading.Thread(target=traffic.writer, args=(n,)) for n in range(WRITERS)]
    threads += [threading.Thread(target=traffic.reader, args=(n,)) for n in range(READERS)]
    warnings: list[str] = []
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)
        began = time.perf_counter()
        migrate.upgrade(settings, "0003", on_warning=warnings.append)
        # the application's rollout: every writer switches to the send statement before 0004
        traffic.use_send.set()
        assert all(e.wait(10) for e in traffic.switched)
        applied = migrate.upgrade(settings, "head", on_warning=warnings.append)
        ended = time.perf_counter()
        time.sleep(0.5)
    finally:
        traffic.stop.set()
        for t in threads:
            t.join(30)
    assert traffic.errors == []
    assert [r.revision for r in applied] == ["0004", "0005", "0006", "0007"]

    with psycopg.connect(settings.dsn) as conn:
        present = conn.execute("SELECT count(*) FROM messages WHERE id = ANY(%s)", (traffic.acked,)).fetchone()[0]
        assert present == len(traffic.acked)
        assert summary_mismatches(conn) == 0
    assert check(settings)[2] == []

    during = [s for started, s in traffic.writes if began <= started <= ended]
    reads = [s for started, s in traffic.reads if began <= started <= ended]
    assert len(during) > 100 and reads
    bound = LOCK_TIMEOUT_MS / 1000 + MARGIN_S
    assert max(during) <= bound, f"a writer waited {max(during):.2f}s"
    assert max(reads) <= bound, f"a reader waited {max(reads):.2f}s"
    with capsys.disabled():
        print(f"\n[live migration 0001->head, {len(traffic.acked)} acknowledged writes, {WRITERS} writers, "
              f"{READERS} readers, {ended - began:.1f}s] writers p99 {p99(during) * 1000:.1f} ms, "
              f"max {max(during) * 1000:.0f} ms; readers p99 {p99(reads) * 1000:.1f} ms; "
              f"lock warnings/retries: {len(warnings)}")
