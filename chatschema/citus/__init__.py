"""Can this database scale out? Citus readiness, distribution, and the record of what was distributed.

``readiness`` says, without Citus, what would stop ``create_distributed_table`` or a router query;
``distribute`` runs (or prints) the calls on a Citus coordinator and records them in chatschema's
bookkeeping (``chatschema_distribution``) so ``check`` knows the layout to expect.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

__all__ = ["Distributed", "LAYOUT", "HOT_OPERATIONS", "is_distributed"]


@dataclass(frozen=True)
class Distributed:
    """One table as Citus should hold it: hashed by ``column``, its shards placed with ``colocate_with``'s."""

    table: str
    column: str
    colocate_with: str | None = None


LAYOUT: tuple[Distributed, ...] = (
    Distributed("users", "id"),
    Distributed("conversations", "user_id", "users"),
    Distributed("messages", "user_id", "conversations"),
)
"""Every row of a user's conversations and messages on the shard of that user: each hot query is one task."""

HOT_OPERATIONS = ("list_conversations", "load_messages", "conversation_view", "send_message")
"""The catalog operations that must be router queries (one task, the owner's shard)."""


def is_distributed(conn: psycopg.Connection) -> bool:
    """Whether the database of ``conn`` is a Citus coordinator holding any of LAYOUT's tables."""
    if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'citus'").fetchone() is None:
        return False
    row = conn.execute("SELECT count(*) FROM pg_dist_partition WHERE logicalrelid::regclass::text = ANY(%s)",
                       ([d.table for d in LAYOUT],)).fetchone()
    return bool(row and row[0])
