"""Deleting at scale: a conversation in committed batches, and retention of messages older than a cut-off.

Both commit a bounded batch at a time on an autocommit connection, wait before each batch on the
backfill's health gates (``chatschema.migrate.gates``: replica lag, slots' WAL, vacuum on messages,
the archiver) and keep every conversation summary exact at every commit:

- ``delete_conversation``: a conversation of at most one batch goes in one statement (the foreign
  key's cascade). A larger one loses its messages oldest first, a batch per transaction, never the
  newest (the one its summary points at), ``message_count`` decreased in the same statement; then the
  conversation goes, taking the newest message and anything sent meanwhile with it. A re-run after an
  interruption continues: what is left is the state.
- ``run_retention``: conversations are visited in key order; each batch locks the ones that hold
  messages older than the cut-off (``FOR UPDATE``, as the send statement and the backfill do, so no
  send interleaves), deletes up to a batch of those messages oldest first, and updates the summaries
  of the conversations it touched in the same transaction: the count decreased, and the newest
  message read again from the index, so a conversation whose newest message went gets its summary
  recomputed (an emptied one: no last message, activity back to its creation, as the backfill defines).
  ``retention_counts`` is the dry run: what would go, read only.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

import psycopg

from ._api_input import check_uuid
from .errors import ConfigError, NotFound, Stopped
from .migrate import control
from .migrate.gates import DatabaseMeasure, GatePolicy, Gates
from .progress import Progress, Warn
from .queries.contract import Contract, IndexUse
from .vocabulary import PREVIEW_CHARS

__all__ = [
    "CONTRACTS",
    "STATEMENTS",
    "DeleteReport",
    "RetentionCounts",
    "RetentionReport",
    "parse_cutoff",
    "delete_conversation",
    "retention_counts",
    "run_retention",
]

DEFAULT_BATCH = 5000
"""Messages deleted per committed batch."""
_CONVERSATIONS_PER_BATCH = 500

_COUNT = "SELECT message_count FROM conversations WHERE id = %(cid)s"
_DELETE_WHOLE = "DELETE FROM conversations WHERE id = %(cid)s"
# Oldest first and never the newest: the summary keeps pointing at a message that exists.
_DELETE_BATCH = """
WITH conv AS (
    SELECT id, last_message_id FROM conversations WHERE id = %(cid)s FOR UPDATE
),
gone AS (
    DELETE FROM messages WHERE id IN (
        SELECT m.id
        FROM conv
        CROSS JOIN LATERAL (
            SELECT id FROM messages
            WHERE conversation_id = conv.id AND id IS DISTINCT FROM conv.last_message_id
            ORDER BY created_at, id
            LIMIT %(n)s
        ) AS m)
    RETURNING id
)
UPDATE conversations SET message_count = message_count - (SELECT count(*) FROM gone)
WHERE id = %(cid)s
RETURNING (SELECT count(*) FROM gone)
"""

# Conversations after the checkpoint holding a message older than the cut-off: an index probe each.
# A LATERAL ... LIMIT 1, not EXISTS: the planner turned the EXISTS into a merge semi join over the
# message index, which reads every old message of every conversation it passes (from the index's first
# entry at the first batch), measured; a LATERAL with a LIMIT can only be probed, once per conversation.
_CANDIDATES = """
SELECT c.id FROM conversations c
CROSS JOIN LATERAL (
    SELECT FROM messages m WHERE m.conversation_id = c.id AND m.created_at < %(cutoff)s LIMIT 1
) AS old
WHERE c.id > %(after)s
ORDER BY c.id
LIMIT %(k)s
"""
_LOCK = "SELECT id FROM conversations WHERE id = ANY(%(ids)s) ORDER BY id FOR UPDATE"
# The batch's conversations are named by key in every join (= ANY(ids)), so the planner reads them by
# their primary key whatever it estimates the batch to be, never all of conversations (a hash join of
# the whole table was measured, plans in tests/test_retention_plans.py).
_DELETE_OLD = """
WITH gone AS (
    DELETE FROM messages WHERE id IN (
        SELECT m.id
        FROM unnest(%(ids)s::uuid[]) AS b(id)
        CROSS JOIN LATERAL (
            SELECT id FROM messages
            WHERE conversation_id = b.id AND created_at < %(cutoff)s
            ORDER BY created_at, id
            LIMIT %(n)s
        ) AS m
        LIMIT %(n)s)
    RETURNING conversation_id, id
)
SELECT g.conversation_id, count(*)::int, bool_or(g.id = c.last_message_id)
FROM gone g JOIN conversations c ON c.id = g.conversation_id AND c.id = ANY(%(ids)s::uuid[])
GROUP BY g.conversation_id
"""
_RESUMMARIZE = f"""
UPDATE conversations AS c
   SET message_count        = c.message_count - d.n,
       last_activity_at     = COALESCE(l.created_at, c.created_at),
       last_message_id      = l.id,
       last_message_preview = left(l.content, {PREVIEW_CHARS})
  FROM unnest(%(ids)s::uuid[], %(ns)s::int[]) AS d(id, n)
  LEFT JOIN LATERAL (
        SELECT id, created_at, content FROM messages m
        WHERE m.conversation_id = d.id
        ORDER BY created_at DESC, id DESC
        LIMIT 1
  ) AS l ON true
 WHERE c.id = d.id
   AND c.id = ANY(%(ids)s::uuid[])
RETURNING c.id
"""
_COUNTS = """
SELECT (SELECT count(*) FROM messages WHERE created_at < %(cutoff)s),
       (SELECT count(DISTINCT conversation_id) FROM messages WHERE created_at < %(cutoff)s),
       (SELECT count(*) FROM conversations WHERE message_count > 0 AND last_activity_at < %(cutoff)s),
       (SELECT count(*) FROM messages)
"""

# Each statement's plan contract for one batch: ``n`` messages, ``k`` conversations (the batch's
# conversations a small share of the table, as in production). Every cost is O(batch), read through
# the indexes in batch order, whatever the table or the conversation's length; the candidates'
# keyset scan visits each conversation once per run. A batch's `id = ANY(ids)` is an array walk of the
# key, up to k descents (PostgreSQL 18 counts them), which is the access meant: max_index_searches=k.
# Checked by tests/test_retention_plans.py.
_MESSAGES_BY_AGE = IndexUse("ix_messages_conversation_recent", "messages", cond=("conversation_id",))
_MESSAGE_KEY = IndexUse("messages_pkey", "messages", cond=("id",))
_CONVERSATION_KEY = IndexUse("conversations_pkey", "conversations", cond=("id",))
STATEMENTS = {"delete_batch": _DELETE_BATCH, "candidates": _CANDIDATES, "delete_old": _DELETE_OLD,
              "resummarize": _RESUMMARIZE}
CONTRACTS: dict[str, Callable[[int, int], Contract]] = {
    "delete_batch": lambda n, k: Contract(
        page_rows=1, uses=(_MESSAGES_BY_AGE, _MESSAGE_KEY, _CONVERSATION_KEY), max_rows_read=2 * n + 10,
        max_buffers=8 * n, summary="one conversation's oldest n messages, its count in the same statement"),
    "candidates": lambda n, k: Contract(
        page_rows=k, uses=(_CONVERSATION_KEY, IndexUse("ix_messages_conversation_recent", "messages",
                                                       cond=("conversation_id", "created_at"))),
        max_rows_read=6 * k, max_buffers=12 * k, max_subplan_loops=6 * k,
        summary="the next k conversations in key order holding an old message: one index probe each"),
    "delete_old": lambda n, k: Contract(
        page_rows=k, uses=(IndexUse("ix_messages_conversation_recent", "messages",
                                    cond=("conversation_id", "created_at")), _MESSAGE_KEY, _CONVERSATION_KEY),
        max_sort_rows=n, max_rows_read=3 * n, max_buffers=10 * n, max_index_searches=k,
        summary="up to n old messages of k locked conversations, oldest first, grouped per conversation"),
    "resummarize": lambda n, k: Contract(
        page_rows=k, uses=(_CONVERSATION_KEY, _MESSAGES_BY_AGE), max_rows_read=3 * k, max_buffers=20 * k,
        max_index_searches=k,
        summary="k summaries: the count decreased, the newest message read from the index"),
}


@dataclass(frozen=True)
class DeleteReport:
    conversation_id: uuid.UUID
    messages: int  # deleted, the cascade's included
    batches: int  # committed message batches before the conversation went (0: one statement)
    seconds: float


@dataclass(frozen=True)
class RetentionCounts:
    """What a retention run would delete (the dry run), read in one snapshot."""

    cutoff: datetime
    messages: int  # older than the cut-off
    conversations: int  # that hold such messages
    summaries: int  # whose newest message is older: their summary is recomputed (they become empty)
    total_messages: int


@dataclass(frozen=True)
class RetentionReport:
    cutoff: datetime
    messages: int
    conversations: int
    summaries_recomputed: int
    batches: int
    seconds: float


_RELATIVE = re.compile(r"^\s*(\d+)\s*(d|h|min)\s*$")
_UNIT = {"d": timedelta(days=1), "h": timedelta(hours=1), "min": timedelta(minutes=1)}


def parse_cutoff(text: str, now: datetime) -> datetime:
    """'90d', '12h', '30min' before ``now``; or an ISO date (UTC midnight) or an ISO datetime with an offset."""
    match = _RELATIVE.match(text)
    if match:
        return now - int(match.group(1)) * _UNIT[match.group(2)]
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(f"--older-than: expected an age such as 90d, 12h or 30min, or an ISO date or "
                          f"datetime, got {text!r}") from None
    if len(text.strip()) == 10:  # a date: its UTC midnight
        return datetime.combine(date.fromisoformat(text.strip()), datetime.min.time(), timezone.utc)
    if at.utcoffset() is None:
        raise ConfigError(f"--older-than: a datetime needs a UTC offset (2026-01-01T00:00:00+00:00), got {text!r}")
    return at


def _require_autocommit(conn: psycopg.Connection[Any]) -> None:
    if not conn.autocommit:
        raise ConfigError("deleting in batches commits each batch: pass an autocommit connection")


def _gates(conn: psycopg.Connection[Any], policy: GatePolicy | None, batch: int, report: Warn | None,
           job: str) -> Gates | None:
    if policy is None:
        return None
    return Gates(policy, DatabaseMeasure(conn), "messages", batch, report=report, waits=f"{job} waits: ",
                 continues=f"{job} continues: ")


def _batch(conn: psycopg.Connection[Any], gates: Gates | None, size: int, work: Callable[[int], int],
           stopped: Callable[[], str]) -> int:
    """One committed batch of at most ``size`` rows after the gates open; its row count. A stop asked
    for (``control.request_stop``: SIGTERM, Ctrl-C in the CLI) before the batch, or while a gate is
    closed, raises Stopped with ``stopped()``, the message saying what was done."""
    if control.stop_requested():
        raise Stopped(stopped())
    if gates is not None:
        size = gates.wait_until_clear(should_stop=control.stop_requested)
        if control.stop_requested():
            raise Stopped(stopped())
        wal, started = gates.measure.wal_lsn(), time.monotonic()
    with conn.transaction():
        rows = work(size)
    if gates is not None:
        gates.after_batch(time.monotonic() - started, gates.measure.wal_lsn() - wal, rows)
    return rows


def delete_conversation(
    conn: psycopg.Connection[Any],
    conversation_id: uuid.UUID | str,
    *,
    batch: int = DEFAULT_BATCH,
    gates: GatePolicy | None = None,
    report: Warn | None = None,
    progress: Progress | None = None,
    stop_after_batches: int | None = None,
) -> DeleteReport:
    """Delete a conversation and its messages: one statement when small, committed batches when large."""
    _require_autocommit(conn)
    cid = check_uuid("conversation_id", conversation_id)
    started = time.monotonic()
    row = conn.execute(_COUNT, {"cid": cid}).fetchone()
    if row is None:
        raise NotFound(f"conversation {cid} does not exist")
    total = int(row[0])
    gate = _gates(conn, gates, batch, report, "delete-conversation")
    done = batches = 0
    if total > batch:
        def work(size: int) -> int:
            found = conn.execute(_DELETE_BATCH, {"cid": cid, "n": size}).fetchone()
            return int(found[0]) if found else 0

        def stopped() -> str:
            return (f"delete-conversation {cid} stopped after {done:,} messages in {batches:,} committed batches; "
                    f"its summary is exact; re-run the same command to continue")

        with control.Running():
            while deleted := _batch(conn, gate, batch, work, stopped):  # 0: only the newest message is left
                done, batches = done + deleted, batches + 1
                if progress:
                    progress("delete conversation", done, total)
                if stop_after_batches is not None and batches >= stop_after_batches:
                    return DeleteReport(cid, done, batches, time.monotonic() - started)  # interrupted, as a crash would
    with conn.transaction():
        left = conn.execute(_COUNT, {"cid": cid}).fetchone()
        conn.execute(_DELETE_WHOLE, {"cid": cid})
    done += int(left[0]) if left else 0
    if progress:
        progress("delete conversation", done, max(total, done))
    return DeleteReport(cid, done, batches, time.monotonic() - started)


def retention_counts(conn: psycopg.Connection[Any], cutoff: datetime) -> RetentionCounts:
    """The dry run: what ``run_retention`` would delete, in one READ ONLY snapshot (reads all of messages)."""
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        row = conn.execute(_COUNTS, {"cutoff": cutoff}).fetchone()
    assert row is not None
    return RetentionCounts(cutoff, int(row[0]), int(row[1]), int(row[2]), int(row[3]))


def run_retention(
    conn: psycopg.Connection[Any],
    cutoff: datetime,
    *,
    batch: int = DEFAULT_BATCH,
    gates: GatePolicy | None = None,
    report: Warn | None = None,
    progress: Progress | None = None,
    expected: int | None = None,
) -> RetentionReport:
    """Delete every message older than ``cutoff`` in committed batches, keeping every summary exact.

    A stop asked for between batches (``control.request_stop``; the CLI's SIGTERM and Ctrl-C) raises
    ``Stopped`` saying what was deleted: every committed batch stays, and a re-run continues."""
    _require_autocommit(conn)
    if cutoff.utcoffset() is None:
        raise ConfigError("the retention cut-off needs a time zone")
    started = time.monotonic()
    gate = _gates(conn, gates, batch, report, "retention")
    after = uuid.UUID(int=0)
    deleted = batches = recomputed = 0
    touched: set[uuid.UUID] = set()

    def stopped() -> str:
        return (f"retention stopped after {deleted:,} messages in {batches:,} committed batches; every summary is "
                f"exact; re-run the same command to continue")

    with control.Running():
        while True:
            candidates = [r[0] for r in conn.execute(
                _CANDIDATES, {"after": after, "cutoff": cutoff, "k": _CONVERSATIONS_PER_BATCH}).fetchall()]
            if not candidates:
                break
            outcome: dict[str, Any] = {}

            def work(size: int) -> int:
                conn.execute(_LOCK, {"ids": candidates})
                rows = conn.execute(_DELETE_OLD, {"ids": candidates, "cutoff": cutoff, "n": size}).fetchall()
                if rows:
                    conn.execute(_RESUMMARIZE, {"ids": [r[0] for r in rows], "ns": [r[1] for r in rows]})
                outcome.update(rows=rows, size=size)
                return sum(r[1] for r in rows)

            n = _batch(conn, gate, batch, work, stopped)
            batches += 1
            deleted += n
            recomputed += sum(1 for r in outcome["rows"] if r[2])
            touched.update(r[0] for r in outcome["rows"])
            if progress:
                progress("retention", deleted, max(expected or 0, deleted))
            # A full batch may have left old messages in these conversations: look at them again (the
            # EXISTS skips the finished ones). Otherwise continue after the last one.
            if n < outcome["size"]:
                after = candidates[-1]
    return RetentionReport(cutoff, deleted, len(touched), recomputed, batches, time.monotonic() - started)
