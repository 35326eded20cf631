"""The batched backfills of the chain as data: what each locks, writes and checkpoints.

Frozen with the revisions that run them (0004, 0010): ``chatschema.migrations.ops`` re-exports every
name here, so a revision still imports only ops.
"""

from __future__ import annotations

from dataclasses import dataclass

from chatschema.migrations import CHECKPOINT_TABLE

__all__ = [
    "BatchedBackfill",
    "CREATE_CHECKPOINT",
    "SAVE_CHECKPOINT",
    "FINISH_CHECKPOINT",
    "SUMMARY_BACKFILL",
    "MESSAGE_USER_ID_BACKFILL",
]


@dataclass(frozen=True)
class BatchedBackfill:
    """A backfill as committed keyset batches: what to lock, what to write, where the checkpoint is.

    ``lock_first``/``lock_next`` select the next ``%(n)s`` keys (after ``%(after)s``) FOR UPDATE, in
    a statement of their own; ``apply`` then writes the rows of those keys (``%(ids)s``) in a second
    one. Under READ COMMITTED that second statement takes a new snapshot after the locks are held, so
    it sees every row a writer the lock waited for committed. ``apply`` recomputes rather than adds,
    so a batch is idempotent and a re-run after a crash is harmless. Two lock texts rather than
    "$after IS NULL OR id > $after": a generic plan would turn that OR into a filter over the table.
    """

    name: str
    table: str
    lock_first: str
    lock_next: str
    apply: str


CREATE_CHECKPOINT = f"""
CREATE TABLE IF NOT EXISTS {CHECKPOINT_TABLE} (
    name        text PRIMARY KEY,
    last_id     uuid,
    rows_done   bigint NOT NULL DEFAULT 0,
    finished_at timestamptz,
    updated_at  timestamptz NOT NULL DEFAULT now()
)"""

SAVE_CHECKPOINT = f"""
INSERT INTO {CHECKPOINT_TABLE} (name, last_id, rows_done, updated_at)
VALUES (%(name)s, %(last)s, %(n)s, now())
ON CONFLICT (name) DO UPDATE
   SET last_id = EXCLUDED.last_id,
       rows_done = {CHECKPOINT_TABLE}.rows_done + EXCLUDED.rows_done,
       updated_at = now()
"""

FINISH_CHECKPOINT = (
    f"UPDATE {CHECKPOINT_TABLE} SET finished_at = now(), updated_at = now() WHERE name = %(name)s",
    f"INSERT INTO {CHECKPOINT_TABLE} (name, finished_at) VALUES (%(name)s, now()) ON CONFLICT (name) DO NOTHING",
)

# Revision 0004: each conversation's summary recomputed from its messages. The preview length is
# the one 0003's CHECK allows, written out: this is the SQL of 0004 as it was.
SUMMARY_BACKFILL = BatchedBackfill(
    name="conversation_summaries",
    table="conversations",
    lock_first="SELECT id FROM conversations ORDER BY id LIMIT %(n)s FOR UPDATE",
    lock_next="SELECT id FROM conversations WHERE id > %(after)s ORDER BY id LIMIT %(n)s FOR UPDATE",
    apply="""
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
""",
)

# Revision 0010: each message's owner copied from its conversation. No row locks, unlike the summary
# backfill: the application never updates a message, a conversation's owner never changes, and every
# row inserted since 0009 already has its user_id (the send writes it, the fill trigger covers the
# older send), so there is no concurrent writer to wait for. Rows already right are not rewritten.
MESSAGE_USER_ID_BACKFILL = BatchedBackfill(
    name="message_user_ids",
    table="messages",
    lock_first="SELECT id FROM messages ORDER BY id LIMIT %(n)s",
    lock_next="SELECT id FROM messages WHERE id > %(after)s ORDER BY id LIMIT %(n)s",
    apply="""
UPDATE messages AS m
   SET user_id = c.user_id
  FROM unnest(%(ids)s::uuid[]) AS b(id), conversations AS c
 WHERE m.id = b.id
   AND c.id = m.conversation_id
   AND m.user_id IS DISTINCT FROM c.user_id
""",
)
