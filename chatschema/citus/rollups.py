"""Analytics on the distributed path: rollup tables kept by an incremental, idempotent refresh.

On one node the analytics read the materialized views (``chatschema.views``), which a refresh
recomputes whole. On Citus ``chatschema distribute`` adds two tables of chatschema's own beside
them, the rollups Citus documents for this: ``user_daily_rollup`` (the views' per-user day rows,
distributed by ``user_id`` and co-located with messages, so a user's analytics are one task and
each shard rolls up its own messages) and ``daily_totals_rollup`` (one row per day, a reference
table: small and global). The catalog's ``citus`` variants of the analytics read them.

A refresh recomputes whole UTC days of a window ``[since, until)``, so it is exact and idempotent:
run it twice, or over an overlapping window, and the rows are the same. Per user-day it is
``INSERT ... SELECT ... ON CONFLICT DO UPDATE`` (writing only rows whose counts changed), pushed down
to every shard, plus a DELETE of user-days whose messages are gone (retention); the day totals are
rebuilt from the user rows for the window in one transaction (Citus refuses a reference table's
DELETE joined to a distributed one, and a window holds at most a few hundred days). The window's
messages are found through their conversations: a message sent at ``t`` leaves its conversation's
``last_activity_at >= t`` (the summary the send keeps exact), so ``ix_conversations_user_activity``
and ``ix_messages_conversation_recent`` read only what the window holds, not every message.

The default window starts the day before the newest rolled-up day (a send is stamped with its
statement's time, so nothing older arrives later) and runs on without end; an empty rollup covers
all history. Deletes older than that (retention) need ``--since`` to be counted out.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date

import psycopg

from . import Distributed

__all__ = ["USER_ROLLUP", "TOTALS_ROLLUP", "TABLES", "CREATE", "DISTRIBUTED", "REFERENCE", "ALL_DAYS",
           "RollupRefresh", "exists", "default_since", "refresh_rollups"]

USER_ROLLUP = "user_daily_rollup"
TOTALS_ROLLUP = "daily_totals_rollup"
TABLES = (USER_ROLLUP, TOTALS_ROLLUP)

CREATE = (
    f"""CREATE TABLE IF NOT EXISTS {USER_ROLLUP} (
    user_id              uuid   NOT NULL,
    day                  date   NOT NULL,
    messages             bigint NOT NULL,
    user_messages        bigint NOT NULL,
    assistant_messages   bigint NOT NULL,
    active_conversations bigint NOT NULL,
    PRIMARY KEY (user_id, day)
)""",
    f"""CREATE TABLE IF NOT EXISTS {TOTALS_ROLLUP} (
    day                  date   PRIMARY KEY,
    messages             bigint NOT NULL,
    active_users         bigint NOT NULL,
    active_conversations bigint NOT NULL
)""",
)

DISTRIBUTED = Distributed(USER_ROLLUP, "user_id", "messages")
"""The user rollup as Citus holds it: with its users' messages (recorded like LAYOUT's tables)."""
REFERENCE = TOTALS_ROLLUP
"""The totals rollup: a reference table, one row per day on every node."""

ALL_DAYS = date.min
"""``since`` for a refresh of all history (after a seed, or to rebuild)."""

_START = "(%(since)s::date)::timestamp AT TIME ZONE 'UTC'"
_END = "(%(until)s::date)::timestamp AT TIME ZONE 'UTC'"
_DAY = "(m.created_at AT TIME ZONE 'UTC')::date"

UPSERT_USER_DAYS = f"""
INSERT INTO {USER_ROLLUP} AS r (user_id, day, messages, user_messages, assistant_messages, active_conversations)
SELECT m.user_id, {_DAY} AS day, count(*), count(*) FILTER (WHERE m.role = 'user'),
       count(*) FILTER (WHERE m.role = 'assistant'), count(DISTINCT m.conversation_id)
  FROM conversations AS c
  JOIN messages AS m ON m.user_id = c.user_id AND m.conversation_id = c.id
 WHERE c.last_activity_at >= {_START}
   AND m.created_at >= {_START}
   AND m.created_at < {_END}
 GROUP BY m.user_id, {_DAY}
ON CONFLICT (user_id, day) DO UPDATE
   SET messages = excluded.messages, user_messages = excluded.user_messages,
       assistant_messages = excluded.assistant_messages, active_conversations = excluded.active_conversations
 WHERE (r.messages, r.user_messages, r.assistant_messages, r.active_conversations)
       IS DISTINCT FROM (excluded.messages, excluded.user_messages, excluded.assistant_messages,
                         excluded.active_conversations)
"""

DELETE_EMPTY_USER_DAYS = f"""
DELETE FROM {USER_ROLLUP} AS r
 WHERE r.day >= %(since)s::date
   AND r.day < %(until)s::date
   AND NOT EXISTS (SELECT FROM conversations AS c
                     JOIN messages AS m ON m.user_id = c.user_id AND m.conversation_id = c.id
                    WHERE c.user_id = r.user_id
                      AND c.last_activity_at >= r.day::timestamp AT TIME ZONE 'UTC'
                      AND m.created_at >= r.day::timestamp AT TIME ZONE 'UTC'
                      AND m.created_at < (r.day + 1)::timestamp AT TIME ZONE 'UTC')
"""

CLEAR_TOTAL_DAYS = f"DELETE FROM {TOTALS_ROLLUP} WHERE day >= %(since)s::date AND day < %(until)s::date"

# A conversation belongs to one user, so a day's distinct conversations are the sum of its users'.
INSERT_TOTAL_DAYS = f"""
INSERT INTO {TOTALS_ROLLUP} (day, messages, active_users, active_conversations)
SELECT day, sum(messages), count(*), sum(active_conversations)
  FROM {USER_ROLLUP}
 WHERE day >= %(since)s::date
   AND day < %(until)s::date
 GROUP BY day
"""


@dataclass(frozen=True)
class RollupRefresh:
    """One refresh: its window, what it wrote, how long it took."""

    since: date | None  # None: from the first message
    until: date | None  # None: without end
    user_days_written: int  # inserted or changed
    user_days_deleted: int
    total_days: int
    seconds: float

    @property
    def window(self) -> str:
        start = "the first message" if self.since in (None, ALL_DAYS) else self.since.isoformat()
        return f"{start} .. {self.until.isoformat() if self.until else 'now'}"

    @property
    def summary(self) -> str:
        """'over <window>: N user-days written, M deleted, K days of totals in S s'."""
        return (f"over {self.window}: {self.user_days_written:,} user-days written, {self.user_days_deleted:,} "
                f"deleted, {self.total_days:,} day{'s' * (self.total_days != 1)} of totals in {self.seconds:.2f} s")


def exists(conn: psycopg.Connection) -> bool:
    """Whether ``distribute`` created both rollup tables in the session's schema."""
    row = conn.execute("SELECT count(*) FROM unnest(%s::text[]) AS t WHERE to_regclass(t) IS NOT NULL",
                       (list(TABLES),)).fetchone()
    return bool(row and row[0] == len(TABLES))


def default_since(conn: psycopg.Connection) -> date | None:
    """The day before the newest rolled-up day; None (all history) when nothing is rolled up yet."""
    row = conn.execute(f"SELECT max(day) - 1 FROM {USER_ROLLUP}").fetchone()
    return row[0] if row else None


def refresh_rollups(conn: psycopg.Connection, since: date | None = None, until: date | None = None,
                    ) -> RollupRefresh:
    """Recompute the whole UTC days ``since <= day < until`` of both rollups (default: see the module).

    ``conn`` must be autocommit; the user rows and the totals each commit in their own transaction,
    so a refresh stopped between them leaves exact user rows and totals one refresh old, which the
    next refresh over the same window corrects.
    """
    started = time.perf_counter()
    since = since if since is not None else default_since(conn)
    window = {"since": since if since is not None else "-infinity", "until": until if until is not None else "infinity"}
    with conn.transaction():
        written = conn.execute(UPSERT_USER_DAYS, window).rowcount
        deleted = conn.execute(DELETE_EMPTY_USER_DAYS, window).rowcount
    with conn.transaction():
        conn.execute(CLEAR_TOTAL_DAYS, window)
        totals = conn.execute(INSERT_TOTAL_DAYS, window).rowcount
    return RollupRefresh(since, until, max(written, 0), max(deleted, 0), max(totals, 0),
                         time.perf_counter() - started)
