"""Backfill of the conversation summary columns, in committed keyset batches with a checkpoint.

Exactness under concurrent sends: a batch first locks its conversations FOR UPDATE (in a
statement of its own), then recomputes their summaries in a second statement. Under READ
COMMITTED the second statement takes a new snapshot after the locks are held, so it sees every
message committed by a sender the lock waited for; and no new message can be inserted into a
locked conversation meanwhile (the send statement locks the row first, and a plain INSERT's
foreign-key check takes FOR KEY SHARE, which conflicts with FOR UPDATE). Recomputing (not adding)
makes each batch idempotent, so a re-run after a crash is harmless and the checkpoint only saves work.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg

__all__ = ["summary_mismatches", "SUMMARY_MISMATCHES", "run", "status", "Checkpoint", "offline_statements", "CHECKPOINT_TABLE", "DEFAULT_BATCH", "NAME"]

NAME = "conversation_summaries"
CHECKPOINT_TABLE = "chatschema_backfill"
DEFAULT_BATCH = 2000
Progress = Callable[[str, int, int], None]

CREATE_CHECKPOINT = f"""
CREATE TABLE IF NOT EXISTS {CHECKPOINT_TABLE} (
    name        text PRIMARY KEY,
    last_id     uuid,
    rows_done   bigint NOT NULL DEFAULT 0,
    finished_at timestamptz,
    updated_at  timestamptz NOT NULL DEFAULT now()
)"""

# Two texts rather than "$after IS NULL OR id > $after": a prepared statement's generic plan
# would turn that OR into a filter over the whole table.
LOCK_FIRST_BATCH = "SELECT id FROM conversations ORDER BY id LIMIT %(n)s FOR UPDATE"
LOCK_NEXT_BATCH = "SELECT id FROM conversations WHERE id > %(after)s ORDER BY id LIMIT %(n)s FOR UPDATE"

RECOMPUTE = """
UPDATE conversations AS c
   SET message_count        = s.n,
       last_activity_at     = COALESCE(l.created_at, c.created_at),
       last_message_id      = l.id,
       last_message_preview = left(l.content, 100)
  FROM unnest(%(ids)s::uuid[]) AS b(id)
  CROSS JOIN LATERAL (
        SELECT count(*)::int AS n FROM messages m WHERE m.conversation_id = b.id
  ) AS s
  LEFT JOIN LATERAL (
        SELECT m.id, m.created_at, m.content
          FROM messages m
         WHERE m.conversation_id = b.id
         ORDER BY m.created_at DESC, m.id DESC
         LIMIT 1
  ) AS l ON true
 WHERE c.id = b.id
"""

SAVE_CHECKPOINT = f"""
INSERT INTO {CHECKPOINT_TABLE} (name, last_id, rows_done, updated_at)
VALUES (%(name)s, %(last)s, %(n)s, now())
ON CONFLICT (name) DO UPDATE
   SET last_id = EXCLUDED.last_id,
       rows_done = {CHECKPOINT_TABLE}.rows_done + EXCLUDED.rows_done,
       updated_at = now()
"""


@dataclass(frozen=True)
class Checkpoint:
    rows_done: int
    last_id: object | None
    finished: bool


def status(conn: psycopg.Connection) -> Checkpoint | None:
    """Where the backfill stands (None before it first ran): what a re-run resumes from."""
    exists = conn.execute("SELECT to_regclass(%s)", (CHECKPOINT_TABLE,)).fetchone()
    if not exists or exists[0] is None:
        return None
    row = conn.execute(
        f"SELECT rows_done, last_id, finished_at IS NOT NULL FROM {CHECKPOINT_TABLE} WHERE name = %s", (NAME,)
    ).fetchone()
    return Checkpoint(int(row[0]), row[1], bool(row[2])) if row else None


def _estimate(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = 'conversations'::regclass").fetchone()
    if row and row[0] > 0:
        return int(row[0])
    row = conn.execute("SELECT count(*) FROM conversations").fetchone()
    return int(row[0]) if row else 0


def run(
    conn: psycopg.Connection,
    *,
    batch_size: int = DEFAULT_BATCH,
    pause_s: float = 0.0,
    progress: Progress | None = None,
    stop_after_batches: int | None = None,
) -> int:
    """Run (or resume) the backfill on an autocommit connection; returns conversations updated this run.

    ``stop_after_batches`` stops early, as an interrupted run would (used by tests).
    """
    if not conn.autocommit:
        raise RuntimeError("the backfill commits per batch: pass an autocommit connection")
    conn.execute(CREATE_CHECKPOINT)
    state = conn.execute(
        f"SELECT last_id, rows_done, finished_at FROM {CHECKPOINT_TABLE} WHERE name = %s", (NAME,)
    ).fetchone()
    if state and state[2] is not None:
        return 0
    last_id, done = (state[0], int(state[1])) if state else (None, 0)
    total = max(_estimate(conn), done)
    updated = batches = 0
    while True:
        with conn.transaction():
            if last_id is None:
                rows = conn.execute(LOCK_FIRST_BATCH, {"n": batch_size}).fetchall()
            else:
                rows = conn.execute(LOCK_NEXT_BATCH, {"after": last_id, "n": batch_size}).fetchall()
            ids = [r[0] for r in rows]
            if ids:
                conn.execute(RECOMPUTE, {"ids": ids})
                last_id = ids[-1]
                conn.execute(SAVE_CHECKPOINT, {"name": NAME, "last": last_id, "n": len(ids)})
            else:
                conn.execute(
                    f"UPDATE {CHECKPOINT_TABLE} SET finished_at = now(), updated_at = now() WHERE name = %s", (NAME,)
                )
                conn.execute(
                    f"INSERT INTO {CHECKPOINT_TABLE} (name, finished_at) VALUES (%s, now()) ON CONFLICT (name) DO NOTHING",
                    (NAME,),
                )
        if not ids:
            break
        updated += len(ids)
        done += len(ids)
        batches += 1
        if progress:
            progress(NAME, done, max(total, done))
        if stop_after_batches is not None and batches >= stop_after_batches:
            break
        if pause_s:
            time.sleep(pause_s)
    return updated


def offline_statements(batch_size: int = DEFAULT_BATCH, pause_s: float = 0.0) -> list[str]:
    """The same backfill as SQL for `chatschema sql`: a DO block that commits after every batch.

    psql runs it outside a transaction block (Alembic's autocommit block renders COMMIT first),
    which is what lets a DO block COMMIT (PostgreSQL 11+). ``pause_s`` throttles it as
    ``--backfill-pause`` throttles the online run: a pg_sleep after each commit, holding no locks.
    """
    recompute = RECOMPUTE.replace("%(ids)s", "ids")
    throttle = f"\n        PERFORM pg_sleep({pause_s:g});" if pause_s > 0 else ""
    loop = f"""DO $$
DECLARE
    after uuid;
    ids uuid[];
    finished timestamptz;
BEGIN
    SELECT last_id, finished_at INTO after, finished FROM {CHECKPOINT_TABLE} WHERE name = '{NAME}';
    IF finished IS NOT NULL THEN
        RETURN;
    END IF;
    LOOP
        IF after IS NULL THEN
            SELECT array_agg(id) INTO ids FROM (
                SELECT id FROM conversations ORDER BY id LIMIT {batch_size} FOR UPDATE) AS batch;
        ELSE
            SELECT array_agg(id) INTO ids FROM (
                SELECT id FROM conversations WHERE id > after ORDER BY id LIMIT {batch_size} FOR UPDATE) AS batch;
        END IF;
        EXIT WHEN ids IS NULL;
        {recompute.strip()};
        after := ids[array_upper(ids, 1)];
        INSERT INTO {CHECKPOINT_TABLE} (name, last_id, rows_done, updated_at)
        VALUES ('{NAME}', after, array_length(ids, 1), now())
        ON CONFLICT (name) DO UPDATE SET last_id = EXCLUDED.last_id,
            rows_done = {CHECKPOINT_TABLE}.rows_done + EXCLUDED.rows_done, updated_at = now();
        COMMIT;{throttle}
    END LOOP;
    INSERT INTO {CHECKPOINT_TABLE} (name, finished_at) VALUES ('{NAME}', now())
    ON CONFLICT (name) DO UPDATE SET finished_at = now(), updated_at = now();
    COMMIT;
END $$"""
    return [CREATE_CHECKPOINT.strip(), loop]


# What "exact" means, written independently of RECOMPUTE: the stored summary of every
# conversation against what its messages say now. Used by the tests and the benchmark.
SUMMARY_MISMATCHES = """
SELECT count(*) FROM conversations c
LEFT JOIN LATERAL (SELECT count(*)::int AS n FROM messages m WHERE m.conversation_id = c.id) s ON true
LEFT JOIN LATERAL (
    SELECT m.id, m.created_at, m.content FROM messages m WHERE m.conversation_id = c.id
    ORDER BY m.created_at DESC, m.id DESC LIMIT 1) l ON true
WHERE c.message_count IS DISTINCT FROM s.n
   OR c.last_message_id IS DISTINCT FROM l.id
   OR c.last_activity_at IS DISTINCT FROM COALESCE(l.created_at, c.created_at)
   OR c.last_message_preview IS DISTINCT FROM left(l.content, 100)
"""


def summary_mismatches(conn: psycopg.Connection) -> int:
    """How many conversations' stored summaries differ from a recomputation from their messages."""
    row = conn.execute(SUMMARY_MISMATCHES).fetchone()
    return int(row[0]) if row else 0
