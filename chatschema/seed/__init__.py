"""Representative data: users, conversations and messages with the skew production has, made inside PostgreSQL.

Every value is a pure function of ``(seed, row number)``: ids are ``md5`` of both, every other
choice comes from ``hashint8extended``. So the same seed gives byte-identical rows whatever the
chunking, the number of generating sessions or the plan (checked on PostgreSQL 15, 16 and 18). No
row is made in Python: rows cross it only as opaque chunks of COPY data.

The shape (see ``Scale``): user 1 is a whale owning a fixed share of all conversations, users 2-4
are heavy, the last 5% of users own nothing, everybody else a few dozen. Conversation 1 holds a
fixed share of all messages and conversations 2-5 a smaller one; 6% of the others are empty; the
rest hold a handful. Ties everywhere: a user message and its reply share a timestamp (the
application stores both in one transaction), and 1 in 20 conversations was imported in bulk with
every message at one instant, so every ordering needs its ``id`` tie-breaker. Content runs from two
characters to about 9 kB; long bodies repeat phrases, so TOAST compresses them well.

How it loads, as pg_restore does: in one transaction, on one session (the loader), the tables are
locked, emptied, and stripped of the indexes and foreign keys the load would otherwise maintain row
by row (their definitions read from the catalog first); users, conversations and messages then go
in with one ``COPY ... FREEZE`` each; the indexes are built again by sorting, the foreign keys
re-added and checked by one join; then it commits. A failure anywhere rolls it all back: the
schema, and any rows ``replace`` was about to delete, stay as they were. The rows come from two
other sessions, each holding the same plan (one row per conversation: owner, start, message count,
first message number) in a temporary table, which generate them window by window in time order and
already in the binary COPY format, a chunk of rows per result row. Messages go in time order, so a
conversation's messages lie scattered over the heap as in production. The conversation summaries
(revision 0003 on) come from the same generator as the messages, so each conversation row is
written once. Frozen rows leave VACUUM nothing to do; ANALYZE and the views' refresh then run side
by side.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql

from .. import migrate, server
from ..errors import ChatSchemaError, ConfigError, InvalidInput, LockTimeout, UnknownRevision

__all__ = [
    "Scale",
    "SCALES",
    "InterestingRows",
    "SeedReport",
    "seed_database",
    "interesting_ids",
]

Progress = Callable[[str, int, int], None]

HEAVY_USERS = 3  # users 2..4
BIG_CONVERSATIONS = 4  # conversations 2..5, after the longest (conversation 1)
IDLE_USER_SHARE = 0.05  # the last users, who own no conversation
CHUNK_MESSAGES = 250_000  # messages per statement (a time window)
CHUNK_CONVERSATIONS = 100_000
# A window is sorted whole before its first chunk goes out: with at least this many, the loader
# starts while most of the data is still to be generated.
MIN_WINDOWS = 4
# Sessions generating rows, beside the one loading them. The load is one transaction, so one session
# writes every row (a COPY FROM per table); generating a message costs more than writing it, so two
# sessions generate, taking the time windows in turn.
LOAD_SESSIONS = 2
MIN_MESSAGES = 100
MAX_SEED = 2**40  # the seed is scaled into hashint8extended's bigint salt


@dataclass(frozen=True)
class Scale:
    """How much to generate, and how skewed."""

    name: str
    users: int
    conversations: int
    messages: int
    whale_share: float  # of all conversations, owned by user 1
    heavy_share: float  # of all conversations, owned by users 2..4 together
    longest_share: float  # of all messages, in conversation 1
    big_share: float  # of all messages, in each of conversations 2..5

    def resized(self, messages: int) -> "Scale":
        """The same shape with ``messages`` messages; users and conversations scale in proportion."""
        factor = messages / self.messages
        return replace(
            self,
            users=max(20, round(self.users * factor)),
            conversations=max(40, round(self.conversations * factor)),
            messages=messages,
        )


# Most users own a few dozen conversations and most conversations hold a handful of messages; the
# shares make the outliers. The research's plans only look like production with a whale of >= 10k
# conversations and a conversation of >= 50k messages: 'ci' has 12,000 and 54,000.
SCALES: dict[str, Scale] = {
    scale.name: scale
    for scale in (
        Scale("tiny", users=40, conversations=400, messages=5_000, whale_share=0.30, heavy_share=0.06,
              longest_share=0.20, big_share=0.03),
        Scale("ci", users=600, conversations=30_000, messages=200_000, whale_share=0.40, heavy_share=0.06,
              longest_share=0.27, big_share=0.02),
        Scale("bench", users=6_000, conversations=300_000, messages=2_000_000, whale_share=0.10,
              heavy_share=0.03, longest_share=0.10, big_share=0.02),
        Scale("large", users=30_000, conversations=1_500_000, messages=10_000_000, whale_share=0.03,
              heavy_share=0.02, longest_share=0.04, big_share=0.01),
    )
}


@dataclass(frozen=True)
class InterestingRows:
    """Rows whose plans and timings differ most, for the plan validator and the benchmarks."""

    heaviest_user_id: UUID  # the user with the most conversations
    heaviest_user_conversations: int
    typical_user_id: UUID  # the user with the median number of conversations (among users with any)
    typical_user_conversations: int
    idle_user_id: UUID | None  # a user with no conversations
    longest_conversation_id: UUID  # the conversation with the most messages
    longest_conversation_user_id: UUID
    longest_conversation_messages: int
    typical_conversation_id: UUID | None  # a conversation with the median number of messages (among non-empty ones)
    typical_conversation_user_id: UUID | None
    typical_conversation_messages: int
    empty_conversation_id: UUID | None  # a conversation with no messages
    empty_conversation_user_id: UUID | None


@dataclass(frozen=True)
class SeedReport:
    """What ``seed_database`` made, how long it took (``phases`` in order) and where the outliers are."""

    scale: str
    seed: int
    revision: str  # the schema revision the data was generated at
    users: int
    conversations: int
    messages: int
    seconds: float  # wall time of the whole run, VACUUM (ANALYZE) included
    messages_per_second: float
    interesting: InterestingRows
    phases: tuple[tuple[str, float], ...] = ()  # (phase, seconds), in order


# --------------------------------------------------------------------------------------------------
# The SQL. Times are whole seconds after 2025-01-01 00:00 UTC until seed_time() makes them
# timestamptz. Salts keep independent choices independent: seed * 16 + k, one k per choice.
# --------------------------------------------------------------------------------------------------

# A uniform number in [0, 1) from a row number and a salt. Every function here is IMMUTABLE SQL with
# a single SELECT, so the planner inlines it and a call costs what its expression costs. That holds
# only while the body calls nothing merely STABLE: hence ::text before every || (text || bigint is STABLE).
CREATE_UNIT = """
CREATE FUNCTION pg_temp.seed_unit(n bigint, salt bigint) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT (hashint8extended(n, salt) & 4503599627370495)::float8 / 4503599627370496 $$
"""

CREATE_TIME = """
CREATE FUNCTION pg_temp.seed_time(s bigint) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT to_timestamp(1735689600 + s) $$  -- 2025-01-01 00:00:00 UTC
"""

# Messages k_from..k_to (1-based) of one conversation: id, global number g, place j in the
# user/assistant alternation (0 is the system prompt) and time (s in seconds, created_at). A user
# message and the reply to it share a turn, hence a timestamp, as when the application stores both
# in one transaction.
CREATE_MESSAGE_KEYS = """
CREATE FUNCTION pg_temp.seed_message_keys(
    seed bigint, start_s bigint, gap_s integer, system_first boolean, first_message bigint,
    k_from bigint, k_to bigint)
RETURNS TABLE (id bytea, g bigint, j bigint, s bigint, created_at timestamptz)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
SELECT decode(md5(seed::text || '/m/' || (first_message + k)::text), 'hex'),
       first_message + k,
       k - system_first::int,
       start_s + (k - system_first::int + 1) / 2 * gap_s,
       pg_temp.seed_time(start_s + (k - system_first::int + 1) / 2 * gap_s)
FROM generate_series(k_from, k_to) AS k
$$
"""

# Mostly user and assistant in turn; 4% of replies are tool output.
CREATE_ROLE = """
CREATE FUNCTION pg_temp.seed_role(seed bigint, g bigint, j bigint) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
SELECT CASE
           WHEN j = 0 THEN 'system'
           WHEN j % 2 = 1 THEN 'user'
           WHEN pg_temp.seed_unit(g, seed * 16 + 5) < 0.04 THEN 'tool'
           ELSE 'assistant'
       END
$$
"""

# An opener for the role, then 0..124 filler sentences: from two characters ("ok") to about 9 kB.
# 1% of user messages (pastes) and 3% of replies are long, past the ~2.7 kB a B-tree entry can hold.
CREATE_CONTENT = """
CREATE FUNCTION pg_temp.seed_content(seed bigint, g bigint, role text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
SELECT CASE role
           WHEN 'user' THEN (ARRAY[
               'ok', 'thanks!', 'yes', 'go on', 'why?', 'Can you explain this?', 'Summarize the thread above.',
               'Write a SQL query that lists the top customers by revenue.', 'What does this error mean?',
               'Translate this into French, please.', 'Make it shorter.', 'Here is my draft:',
               'How do I paginate without OFFSET?', 'Compare these two options for me.', 'hmm, not quite',
               'Give me three alternatives.'])[1 + floor(pg_temp.seed_unit(g, seed * 16 + 3) * 16)::int]
           WHEN 'assistant' THEN (ARRAY[
               'Sure.', 'Here is a summary:', 'Good question.', 'Let us go through it step by step.',
               'The short answer is no.', 'There are three options.', 'Here is the query:',
               'That error means the lock could not be taken in time.'])[1 + floor(pg_temp.seed_unit(g, seed * 16 + 3) * 8)::int]
           WHEN 'tool' THEN '{"status": "ok", "rows": ' || floor(pg_temp.seed_unit(g, seed * 16 + 3) * 500)::int::text || '}'
           ELSE 'You are a helpful assistant for a database team.'
       END
       || repeat(' ' || (ARRAY[
               'The index serves the query when its leading column is compared with equality.',
               'A keyset cursor remembers the last row seen and continues strictly after it.',
               'Vacuum marks pages all-visible so that index-only scans can skip the heap.',
               'Statistics come from a sample, so a skewed column needs a larger target.',
               'Each migration takes the weakest lock that still makes the change safe.',
               'Long text is compressed and moved out of line once a row passes two kilobytes.',
               'Reading the plan from the inside out shows where the rows come from.',
               'Short transactions hold their locks briefly and keep the queue moving.'
           ])[1 + floor(pg_temp.seed_unit(g, seed * 16 + 4) * 8)::int],
           CASE
               WHEN role IN ('user', 'assistant')
                    AND pg_temp.seed_unit(g, seed * 16 + 7) < CASE role WHEN 'user' THEN 0.01::float8 ELSE 0.03::float8 END
                   THEN 45 + floor(pg_temp.seed_unit(g, seed * 16 + 6) * 80)::int
               WHEN role = 'user' THEN floor(-ln(1 - pg_temp.seed_unit(g, seed * 16 + 6)) * 1.2)::int
               WHEN role = 'assistant' THEN 1 + floor(-ln(1 - pg_temp.seed_unit(g, seed * 16 + 6)) * 4)::int
               WHEN role = 'tool' THEN floor(-ln(1 - pg_temp.seed_unit(g, seed * 16 + 6)) * 3)::int
               ELSE 1 + floor(pg_temp.seed_unit(g, seed * 16 + 6) * 5)::int
           END)
$$
"""

CREATE_PLAN = """
CREATE TEMP TABLE seed_plan (
    n             bigint NOT NULL,     -- 1: the longest conversation; 2..5: the next biggest
    id            bytea NOT NULL,      -- a uuid's 16 bytes (see COPY_FIELDS)
    user_id       bytea NOT NULL,
    start_s       bigint NOT NULL,     -- created_at, seconds after the epoch
    gap_s         integer NOT NULL,    -- seconds between turns; 0 when imported (every message at start_s)
    system_first  boolean NOT NULL,
    messages      integer NOT NULL,
    first_message bigint NOT NULL,     -- global number of its first message, minus one
    turns         integer NOT NULL,
    last_s        bigint NOT NULL      -- its last message's time; start_s when empty
)
"""

# One row per conversation: who owns it, when it starts, how many messages it holds.
#   owner: user 1 (the whale), users 2..4 (heavy), else a normal user drawn with a power law, so
#          some have several times the median; the last idle users own nothing.
#   time: created uniformly over 180 days, 1 in 10 on the hour; turns 5 s to 1 h apart, squeezed
#         so that no conversation lasts more than 30 days. 1 in 20 was imported in bulk: created,
#         and every message stamped, at its owner's import instant, as a migration relying on
#         DEFAULT now() leaves them. Those tie everywhere: only the id orders them.
#   messages: conversation 1 and 2..5 take fixed shares; of the rest 6% are empty, each other one
#             gets one message plus a share by weight (geometric, x30 for 1 in 100). Floor
#             differences of the running sum make the total exactly the scale's count.
FILL_PLAN = """
WITH draws AS MATERIALIZED (
    SELECT n, user_no, imported, system_first, u_gap, weight,
           CASE
               WHEN imported THEN floor(pg_temp.seed_unit(user_no, %(seed)s * 16 + 11) * 180)::bigint * 86400
               WHEN u_hour < 0.1 THEN s - s %% 3600
               ELSE s
           END AS start_s
    FROM (
        SELECT n, s, u_hour, u_gap,
               CASE
                   WHEN n = 1 THEN 2
                   WHEN n <= 1 + %(big_count)s THEN n - 1
                   WHEN u_owner < %(whale_share)s THEN 1
                   WHEN u_owner < %(whale_share)s + %(heavy_share)s
                       THEN 2 + floor((u_owner - %(whale_share)s) / %(heavy_share)s * %(heavy_users)s)::int
                   ELSE 2 + %(heavy_users)s + floor(%(normal_users)s * power(u_pick, 1.5))::int
               END AS user_no,
               n > 1 + %(big_count)s AND u_import < 0.05 AS imported,
               u_system < 0.3 AS system_first,
               CASE
                   WHEN n <= 1 + %(big_count)s OR u_empty < 0.06 THEN 0
                   ELSE (1 + floor(-ln(1 - u_size) * 6)::int) * CASE WHEN u_long < 0.01 THEN 30 ELSE 1 END
               END AS weight
        FROM (
            SELECT n,
                   floor(pg_temp.seed_unit(n, %(seed)s * 16 + 1) * 15552000)::bigint AS s,
                   pg_temp.seed_unit(n, %(seed)s * 16 + 2) AS u_owner,
                   pg_temp.seed_unit(n, %(seed)s * 16 + 3) AS u_pick,
                   pg_temp.seed_unit(n, %(seed)s * 16 + 4) AS u_hour,
                   pg_temp.seed_unit(n, %(seed)s * 16 + 5) AS u_system,
                   pg_temp.seed_unit(n, %(seed)s * 16 + 6) AS u_gap,
                   pg_temp.seed_unit(n, %(seed)s * 16 + 7) AS u_empty,
                   pg_temp.seed_unit(n, %(seed)s * 16 + 8) AS u_size,
                   pg_temp.seed_unit(n, %(seed)s * 16 + 9) AS u_long,
                   pg_temp.seed_unit(n, %(seed)s * 16 + 12) AS u_import
            FROM generate_series(1, %(conversations)s) AS n
            OFFSET 0  -- draw each number once, not once per reference
        ) AS u
    ) AS owned
),
sized AS (
    SELECT d.n, d.user_no, d.start_s, d.system_first, d.u_gap, d.imported,
           CASE
               WHEN d.n = 1 THEN %(longest)s
               WHEN d.n <= 1 + %(big_count)s THEN %(big)s
               WHEN d.weight = 0 THEN 0
               ELSE 1 + (t.extra * d.cum / t.total - t.extra * (d.cum - d.weight) / t.total)::int
           END AS messages
    FROM (SELECT *, sum(weight) OVER (ORDER BY n) AS cum FROM draws) AS d
    CROSS JOIN (
        SELECT sum(weight) AS total, %(rest)s - count(*) FILTER (WHERE weight > 0) AS extra FROM draws
    ) AS t
),
numbered AS (
    SELECT *,
           sum(messages) OVER (ORDER BY n) - messages AS first_message,
           greatest(0, messages - system_first::int + 1) / 2 AS turns
    FROM sized
)
INSERT INTO seed_plan (n, id, user_id, start_s, gap_s, system_first, messages, first_message, turns, last_s)
SELECT n,
       decode(md5(%(seed)s::text || '/c/' || n::text), 'hex'),
       decode(md5(%(seed)s::text || '/u/' || user_no::text), 'hex'),
       start_s, gap_s, system_first, messages, first_message, turns,
       start_s + turns * gap_s
FROM (
    SELECT *,
           CASE
               WHEN imported THEN 0
               ELSE greatest(1, least(floor(5 * power(720, u_gap)), 2592000 / greatest(turns, 1)))::int
           END AS gap_s
    FROM numbered
) AS timed
"""

INDEX_PLAN = "CREATE INDEX ON seed_plan (start_s, n)"
ANALYZE_PLAN = "ANALYZE seed_plan"

# The rows to load come out of these SELECTs in the order they are written, and in chunks of
# consecutive rows (see CHUNK_ROWS): every row has its chunk number, bucket, and the SELECT sorts by
# it first, then by the load order (its columns named in LOAD_ORDER).

# Users sign up over the year before the first conversation. Few enough for one chunk.
SELECT_USERS = """
SELECT decode(md5(%(seed)s::text || '/u/' || u::text), 'hex') AS id,
       'user ' || u AS name,
       pg_temp.seed_time(floor((pg_temp.seed_unit(u, %(seed)s * 16 + 10) - 1) * 31536000)::bigint) AS created_at,
       0 AS bucket
FROM generate_series(1, %(users)s) AS u
ORDER BY bucket, created_at, id
"""

# Conversations created in [%(a)s, %(b)s), in creation order, each with its summary taken from its
# last message as the generator makes it: the greatest (created_at, id) of its last two messages
# (a turn holds at most two, and turns are at least a second apart), or of all of them when
# imported (all at one instant).
SELECT_CONVERSATIONS = """
SELECT p.id,
       p.user_id,
       'conversation ' || p.n AS title,
       pg_temp.seed_time(p.start_s) AS created_at,
       coalesce(lm.created_at, pg_temp.seed_time(p.start_s)) AS updated_at,
       coalesce(lm.created_at, pg_temp.seed_time(p.start_s)) AS last_activity_at,
       p.messages AS message_count,
       lm.id AS last_message_id,
       CASE WHEN lm.id IS NOT NULL THEN left(pg_temp.seed_content(%(seed)s, lm.g, lm.role), 100) END
           AS last_message_preview,
       p.start_s,
       p.n,
       p.bucket
FROM (
    SELECT *, (start_s - %(a)s) / %(step)s AS bucket
    FROM seed_plan WHERE start_s >= %(a)s AND start_s < %(b)s
    ORDER BY bucket, start_s, n
) AS p
LEFT JOIN LATERAL (
    SELECT k.id, k.g, k.created_at, pg_temp.seed_role(%(seed)s, k.g, k.j) AS role
    FROM pg_temp.seed_message_keys(%(seed)s, p.start_s, p.gap_s, p.system_first, p.first_message,
                                   CASE WHEN p.gap_s = 0 THEN 1 ELSE greatest(p.messages - 1, 1) END,
                                   p.messages) AS k
    ORDER BY k.created_at DESC, k.id DESC
    LIMIT 1
) AS lm ON true
ORDER BY p.bucket, p.start_s, p.n
"""

# Messages whose time falls in [%(a)s, %(b)s), in time order, so that a conversation's messages lie
# scattered over the heap as in production. For each conversation alive in the window: its first
# and last turn inside it (all of them for an imported one: greatest/least skip the NULLs), then
# those turns' messages. Sorting narrow keys first and writing the content after keeps the sort small.
SELECT_MESSAGES = """
SELECT m.id, m.conversation_id, m.role, pg_temp.seed_content(%(seed)s, m.g, m.role) AS content, m.created_at,
       m.g, m.bucket
FROM (
    SELECT k.id, p.id AS conversation_id, k.g, k.created_at, pg_temp.seed_role(%(seed)s, k.g, k.j) AS role,
           (k.s - %(a)s) / %(step)s AS bucket
    FROM seed_plan AS p
    CROSS JOIN LATERAL (
        SELECT greatest(1 - p.system_first::int, (%(a)s - p.start_s + p.gap_s - 1) / nullif(p.gap_s, 0)) AS first_turn,
               least(p.turns, (%(b)s - 1 - p.start_s) / nullif(p.gap_s, 0)) AS last_turn
    ) AS t
    CROSS JOIN LATERAL pg_temp.seed_message_keys(
        %(seed)s, p.start_s, p.gap_s, p.system_first, p.first_message,
        CASE WHEN t.first_turn = 0 THEN 1 ELSE 2 * t.first_turn - 1 + p.system_first::int END,
        least(p.messages, 2 * t.last_turn + p.system_first::int)) AS k
    WHERE p.start_s >= %(a)s - %(max_span)s
      AND p.start_s < %(b)s
      AND p.last_s >= %(a)s
      AND p.messages > 0
    ORDER BY bucket, k.created_at, k.g
) AS m
ORDER BY m.bucket, m.created_at, m.g
"""

SPAN = "SELECT coalesce(max(last_s), 0) + 1, coalesce(max(last_s - start_s), 0) FROM seed_plan"

LOCK = "LOCK TABLE users, conversations, messages IN ACCESS EXCLUSIVE MODE"
TRUNCATE = "TRUNCATE users, conversations, messages"
TRUNCATE_CASCADE = "TRUNCATE users, conversations, messages CASCADE"

# --------------------------------------------------------------------------------------------------
# What the load builds afterwards instead of maintaining row by row: the indexes and foreign keys of
# conversations and messages, read back from the catalog before they are dropped and re-executed
# verbatim after. Only what its definition recreates exactly: a valid index in the default
# tablespace, neither the clustering nor the replica-identity index, with no comment and no
# statistics target; of the constraints behind indexes only a primary key (no unique or exclusion
# constraint, nothing deferrable). A drop PostgreSQL refuses (another table's foreign key needs the
# key, the role does not own the table) is rolled back to its savepoint and that object stays.
# --------------------------------------------------------------------------------------------------

DEFERRED_INDEXES = """
SELECT n.nspname, t.relname, i.relname, k.conname, pg_get_indexdef(x.indexrelid)
  FROM pg_index x
  JOIN pg_class i ON i.oid = x.indexrelid
  JOIN pg_class t ON t.oid = x.indrelid
  JOIN pg_namespace n ON n.oid = t.relnamespace
  LEFT JOIN pg_constraint k
         ON k.conindid = x.indexrelid AND k.conrelid = x.indrelid AND k.contype IN ('p', 'u', 'x')
 WHERE x.indrelid = ANY(%(tables)s::text[]::regclass[])
   AND x.indisvalid AND x.indisready AND x.indislive AND NOT x.indisclustered AND NOT x.indisreplident
   AND i.reltablespace = 0
   AND obj_description(x.indexrelid, 'pg_class') IS NULL
   AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = x.indexrelid AND a.attstattarget >= 0)
   AND (k.oid IS NULL
        OR k.contype = 'p' AND NOT k.condeferrable AND obj_description(k.oid, 'pg_constraint') IS NULL)
 ORDER BY t.relname, i.relname
"""

DEFERRED_FOREIGN_KEYS = """
SELECT n.nspname, t.relname, k.conname, pg_get_constraintdef(k.oid)
  FROM pg_constraint k
  JOIN pg_class t ON t.oid = k.conrelid
  JOIN pg_namespace n ON n.oid = t.relnamespace
 WHERE k.conrelid = ANY(%(tables)s::text[]::regclass[]) AND k.contype = 'f' AND k.conparentid = 0
   AND obj_description(k.oid, 'pg_constraint') IS NULL
 ORDER BY t.relname, k.conname
"""

# Index builds sort in memory (shared by the parallel workers), and a foreign key's validation joins
# with this as its work_mem. Never lowered: the server's own setting stands if it is larger.
RAISE_MAINTENANCE_WORK_MEM = """
SELECT set_config('maintenance_work_mem',
                  greatest(pg_size_bytes(current_setting('maintenance_work_mem')), pg_size_bytes('1GB')) / 1024 || 'kB',
                  true)
"""

SUMMARY_COLUMNS = ("last_activity_at", "message_count", "last_message_id", "last_message_preview")


# --------------------------------------------------------------------------------------------------
# Finding the interesting rows in any seeded database (summary columns used when present).
# --------------------------------------------------------------------------------------------------

PER_USER = """
WITH per_user AS MATERIALIZED (SELECT user_id, count(*) AS n FROM conversations GROUP BY user_id)
(SELECT 'heaviest', user_id, n FROM per_user ORDER BY n DESC, user_id LIMIT 1)
UNION ALL
(SELECT 'typical', user_id, n FROM per_user
  WHERE n >= (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY n) FROM per_user)
  ORDER BY n, user_id LIMIT 1)
UNION ALL
(SELECT 'idle', u.id, 0 FROM users u
  WHERE NOT EXISTS (SELECT 1 FROM conversations c WHERE c.user_id = u.id)
  ORDER BY u.id LIMIT 1)
"""

PER_CONVERSATION_FROM_SUMMARIES = "SELECT id, user_id, message_count AS n FROM conversations"

PER_CONVERSATION_FROM_MESSAGES = """
SELECT c.id, c.user_id, coalesce(m.n, 0) AS n
FROM conversations c
LEFT JOIN (SELECT conversation_id, count(*) AS n FROM messages GROUP BY conversation_id) m
       ON m.conversation_id = c.id
"""

# {source} is one of the two queries above, chosen by whether the schema has the summary columns.
PER_CONVERSATION = """
WITH per_conv AS MATERIALIZED ({source})
(SELECT 'longest', id, user_id, n FROM per_conv ORDER BY n DESC, id LIMIT 1)
UNION ALL
(SELECT 'typical', id, user_id, n FROM per_conv
  WHERE n >= (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY n) FROM per_conv WHERE n > 0)
  ORDER BY n, id LIMIT 1)
UNION ALL
(SELECT 'empty', id, user_id, n FROM per_conv WHERE n = 0 ORDER BY id LIMIT 1)
"""


def _has_summaries(conn: psycopg.Connection) -> bool:
    row = conn.execute(
        """
        SELECT count(*) FROM pg_attribute
        WHERE attrelid = to_regclass('conversations') AND attname = ANY(%s) AND NOT attisdropped
        """,
        (list(SUMMARY_COLUMNS),),
    ).fetchone()
    return bool(row) and int(row[0]) == len(SUMMARY_COLUMNS)


def interesting_ids(conn: psycopg.Connection) -> InterestingRows:
    """The heaviest, a typical and an idle user; the longest, a typical and an empty conversation.

    Works on any database with chatschema's tables, seeded or not: reads ``message_count`` when the
    schema has it, else counts messages. Ties go to the smallest id, so the answer is stable.
    """
    users = {kind: (uid, int(n)) for kind, uid, n in conn.execute(PER_USER)}
    source = PER_CONVERSATION_FROM_SUMMARIES if _has_summaries(conn) else PER_CONVERSATION_FROM_MESSAGES
    query = sql.SQL(PER_CONVERSATION).format(source=sql.SQL(source))  # type: ignore[arg-type]
    convs = {kind: (cid, uid, int(n)) for kind, cid, uid, n in conn.execute(query)}
    if "heaviest" not in users or "longest" not in convs:
        raise ConfigError("the database has no conversations; run `chatschema seed` first")
    typical_conv = convs.get("typical", (None, None, 0))
    empty = convs.get("empty", (None, None, 0))
    return InterestingRows(
        heaviest_user_id=users["heaviest"][0],
        heaviest_user_conversations=users["heaviest"][1],
        typical_user_id=users["typical"][0],
        typical_user_conversations=users["typical"][1],
        idle_user_id=users.get("idle", (None, 0))[0],
        longest_conversation_id=convs["longest"][0],
        longest_conversation_user_id=convs["longest"][1],
        longest_conversation_messages=convs["longest"][2],
        typical_conversation_id=typical_conv[0],
        typical_conversation_user_id=typical_conv[1],
        typical_conversation_messages=typical_conv[2],
        empty_conversation_id=empty[0],
        empty_conversation_user_id=empty[1],
    )


# --------------------------------------------------------------------------------------------------
# Seeding
# --------------------------------------------------------------------------------------------------


def _resolve_scale(scale: str, messages: int | None) -> Scale:
    if scale not in SCALES:
        raise InvalidInput(f"--scale: expected one of {', '.join(SCALES)}, got {scale!r}")
    chosen = SCALES[scale]
    if messages is None:
        return chosen
    if isinstance(messages, bool) or not isinstance(messages, int) or messages < MIN_MESSAGES:
        raise InvalidInput(f"--messages: expected a whole number of at least {MIN_MESSAGES}, got {messages!r}")
    return chosen.resized(messages)


def _check_seed(seed: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < MAX_SEED:
        raise InvalidInput(f"--seed: expected a whole number from 0 to {MAX_SEED - 1}, got {seed!r}")


def _revision(conn: psycopg.Connection, target: str) -> str:
    """The database's revision; refuses a database without chatschema's tables or at an unknown revision."""
    row = conn.execute(
        "SELECT to_regclass('alembic_version') IS NOT NULL, to_regclass('users') IS NOT NULL "
        "AND to_regclass('conversations') IS NOT NULL AND to_regclass('messages') IS NOT NULL"
    ).fetchone()
    has_version, has_tables = bool(row and row[0]), bool(row and row[1])
    rev = None
    if has_version:
        found = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        rev = found[0] if found else None
    if rev is not None and rev not in {r.revision for r in migrate.history()}:
        raise UnknownRevision(
            f"the database is at revision {rev!r}, which this version of chatschema does not know "
            f"(migrated by a newer chatschema or another tool); nothing was seeded"
        )
    if rev is None or not has_tables:
        raise ConfigError(
            f"{target} has no chatschema tables to seed; run `chatschema upgrade` first "
            f"(any revision from 0001 on)"
        )
    return rev


def _existing_rows(conn: psycopg.Connection) -> tuple[int, int, int]:
    # EXISTS-style probes: counting a big table just to refuse would take as long as seeding it.
    row = conn.execute(
        "SELECT (SELECT count(*) FROM (SELECT 1 FROM users LIMIT 1000) u), "
        "(SELECT count(*) FROM (SELECT 1 FROM conversations LIMIT 1000) c), "
        "(SELECT count(*) FROM (SELECT 1 FROM messages LIMIT 1000) m)"
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


def _plan_params(scale: Scale, seed: int) -> dict[str, Any]:
    longest = round(scale.messages * scale.longest_share)
    big = round(scale.messages * scale.big_share)
    rest = scale.messages - longest - BIG_CONVERSATIONS * big
    if rest < scale.conversations:
        # Every conversation that is not empty gets at least one message.
        raise InvalidInput(
            f"--messages: {scale.messages:,} messages are too few to give each of the "
            f"{scale.conversations:,} conversations of scale {scale.name!r} one"
        )
    idle_users = max(1, round(scale.users * IDLE_USER_SHARE))
    return {
        "seed": seed,
        "users": scale.users,
        "conversations": scale.conversations,
        "longest": longest,
        "big": big,
        "big_count": BIG_CONVERSATIONS,
        "rest": rest,
        "whale_share": scale.whale_share,
        "heavy_share": scale.heavy_share,
        "heavy_users": HEAVY_USERS,
        "normal_users": scale.users - 1 - HEAVY_USERS - idle_users,
    }


def _translate(exc: psycopg.Error, target: str) -> ChatSchemaError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, pg_errors.LockNotAvailable):
        return LockTimeout(
            f"lock_timeout expired while seeding {target}: another session holds a lock on users, conversations "
            f"or messages. Nothing was seeded. Re-run when it ends, or raise --lock-timeout."
        )
    if isinstance(exc, pg_errors.QueryCanceled):
        return ChatSchemaError(
            f"a statement of the seed was cancelled ({first}); nothing was seeded. A statement_timeout "
            f"set for the role or the database does this: seeding runs statements of many seconds."
        )
    return ChatSchemaError(f"seeding {target} failed: {first}; nothing was seeded")


def _prepare(conn: psycopg.Connection, params: dict[str, Any]) -> None:
    """Session settings, the generator functions and this session's copy of the plan."""
    # The plan is a temporary table, private to its session: every generating session builds the
    # same one (it is deterministic) rather than leaving a shared table in the user's schema.
    conn.execute("SET temp_buffers = '512MB'")  # the plan of 'large' stays in memory
    conn.execute("SET work_mem = '256MB'")  # the plan's window sums and each chunk's sort stay in memory
    conn.execute("SET jit = off")  # compiling each chunk's expressions costs more than it saves here
    for statement in (CREATE_UNIT, CREATE_TIME, CREATE_MESSAGE_KEYS, CREATE_ROLE, CREATE_CONTENT, CREATE_PLAN):
        conn.execute(statement)
    conn.execute(FILL_PLAN, params)
    conn.execute(INDEX_PLAN)
    conn.execute(ANALYZE_PLAN)
    conn.commit()
    conn.autocommit = True  # each window's COPY TO is a transaction of its own; none stays open


def _windows(end: int, count: int) -> list[tuple[int, int]]:
    return [(end * i // count, end * (i + 1) // count) for i in range(count)]


# Refusals that leave an optimisation out rather than fail the seed (see _attempt).
_REFUSED = (
    pg_errors.DependentObjectsStillExist,
    pg_errors.FeatureNotSupported,
    pg_errors.InsufficientPrivilege,
    pg_errors.ObjectNotInPrerequisiteState,
)


def _attempt(conn: psycopg.Connection, statement: str | sql.Composable) -> bool:
    """Run ``statement`` in a savepoint; False, with nothing changed, if PostgreSQL refuses it."""
    try:
        with conn.transaction():
            conn.execute(statement)  # type: ignore[arg-type]
    except _REFUSED:
        return False
    return True


@dataclass(frozen=True)
class _Deferred:
    """An index or foreign key dropped for the load, and the statements that build it again."""

    drop: sql.Composable
    rebuild: tuple[sql.Composable, ...]
    order: int  # primary keys first (a foreign key needs the key it refers to), indexes, foreign keys


def _defer(conn: psycopg.Connection) -> list[_Deferred]:
    """Drop what the load rebuilds afterwards (see DEFERRED_INDEXES); returns it in rebuild order."""
    tables = {"tables": ["conversations", "messages"]}
    found: list[_Deferred] = []
    for schema, table, name, definition in conn.execute(DEFERRED_FOREIGN_KEYS, tables).fetchall():
        on = sql.Identifier(schema, table)
        # Re-added as it was, the key is checked by one join of the two tables (the query VALIDATE
        # CONSTRAINT runs), not row by row; a key that was NOT VALID comes back NOT VALID.
        found.append(_Deferred(
            drop=sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(on, sql.Identifier(name)),
            rebuild=(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(on, sql.Identifier(name), sql.SQL(definition)),),
            order=2,
        ))
    for schema, table, index, constraint, definition in conn.execute(DEFERRED_INDEXES, tables).fetchall():
        on = sql.Identifier(schema, table)
        if constraint is None:
            found.append(_Deferred(
                drop=sql.SQL("DROP INDEX {}").format(sql.Identifier(schema, index)),
                rebuild=(sql.SQL(definition),),
                order=1,
            ))
        else:
            # The key's index is built on its own (in parallel, like any other) and then adopted.
            found.append(_Deferred(
                drop=sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(on, sql.Identifier(constraint)),
                rebuild=(
                    sql.SQL(definition),
                    sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} PRIMARY KEY USING INDEX {}").format(
                        on, sql.Identifier(constraint), sql.Identifier(index)),
                ),
                order=0,
            ))
    # Foreign keys go first, so that no key they refer to is still needed when its turn comes.
    dropped = [item for item in found if _attempt(conn, item.drop)]
    return sorted(dropped, key=lambda item: item.order)


def _empty(conn: psycopg.Connection, replace: bool) -> bool:
    """Empty the tables in the load's transaction; True if they were, so that COPY FREEZE may fill them.

    COPY FREEZE writes rows frozen and marks pages all-visible as they fill, so VACUUM has nothing
    left to rewrite. Empty tables that another table's foreign key refers to cannot be truncated
    without it (nor by a role that may not): without ``replace`` their rows then go in unfrozen.
    """
    if replace:
        conn.execute(TRUNCATE_CASCADE)
        return True
    return _attempt(conn, TRUNCATE)


def _rebuild(conn: psycopg.Connection, deferred: list[_Deferred], on_built: Callable[[int], None]) -> None:
    """Build again, in the load's transaction, what ``_defer`` dropped: B-trees sorted in bulk (by
    parallel workers as max_parallel_maintenance_workers allows), foreign keys checked by one join."""
    conn.execute(RAISE_MAINTENANCE_WORK_MEM)
    for item in deferred:
        for statement in item.rebuild:
            conn.execute(statement)
        on_built(1)


# Rows reach the loader as the binary COPY format, built by the generating session itself: one
# string_agg of a chunk's rows per result row, so the rows cross this process a chunk at a time,
# never one by one. A field is its length, then what the type's send function gives; NULL is length
# -1. Ids are generated as the 16 bytes uuid_send gives (decode(md5(...), 'hex') is
# uuid_send(md5(...)::uuid), without parsing hex text into a uuid first). The generated text is
# ASCII, which every server and client encoding writes alike, so octet_length is what textsend sends.
COPY_FIELDS = {
    "uuid": "'\\x00000010'::bytea || {0}",
    "timestamptz": "'\\x00000008'::bytea || timestamptz_send({0})",
    "int4": "'\\x00000004'::bytea || int4send({0})",
    "text": "int4send(octet_length({0})) || textsend({0})",
}
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, no flags, no header extension
COPY_TRAILER = b"\xff\xff"

# One result row per chunk. The SELECT ends with ORDER BY bucket, then the load order: PostgreSQL
# never flattens a sorted subquery, so a column the row names twice (a text's length and its bytes)
# is computed once, and its order is what grouping and string_agg's ORDER BY ask for, so nothing
# sorts again (on PostgreSQL 15 string_agg still sorts each chunk's rows: the order stays certain).
CHUNKS = """
SELECT string_agg({row}, ''::bytea ORDER BY {order}), count(*)
FROM ({select}) AS r
GROUP BY r.bucket
ORDER BY r.bucket
"""
CHUNK_ROWS = 1_000  # rows per chunk, on average
QUEUE_CHUNKS = 64  # chunks a generating session may run ahead of the loader


@dataclass(frozen=True)
class _Rows:
    """What a table loads: its columns in the order the rows carry them, with their kinds (COPY_FIELDS)."""

    table: str
    columns: tuple[tuple[str, str], ...]
    order: tuple[str, ...]  # the load order within a chunk: the SELECT's ORDER BY after bucket

    def without(self, names: tuple[str, ...]) -> "_Rows":
        return replace(self, columns=tuple(column for column in self.columns if column[0] not in names))

    def copy_in(self, freeze: bool) -> sql.Composed:
        return sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary{})").format(
            sql.Identifier(self.table), sql.SQL(", ").join(sql.Identifier(name) for name, _ in self.columns),
            sql.SQL(", FREEZE") if freeze else sql.SQL(""))

    def chunks(self, select: str | sql.Composable) -> sql.Composed:
        fields = [
            sql.SQL("coalesce({}, '\\xffffffff'::bytea)").format(sql.SQL(COPY_FIELDS[kind]).format(sql.Identifier("r", name)))
            for name, kind in self.columns
        ]
        row = sql.SQL(" || ").join([sql.Literal(len(fields).to_bytes(2, "big")), *fields])
        return sql.SQL(CHUNKS).format(  # type: ignore[arg-type]
            row=row,
            order=sql.SQL(", ").join(sql.Identifier("r", name) for name in self.order),
            select=sql.SQL(select) if isinstance(select, str) else select,  # type: ignore[arg-type]
        )


USER_ROWS = _Rows("users", (("id", "uuid"), ("name", "text"), ("created_at", "timestamptz")), ("created_at", "id"))
CONVERSATION_ROWS = _Rows(
    "conversations",
    (("id", "uuid"), ("user_id", "uuid"), ("title", "text"), ("created_at", "timestamptz"), ("updated_at", "timestamptz"),
     ("last_activity_at", "timestamptz"), ("message_count", "int4"), ("last_message_id", "uuid"),
     ("last_message_preview", "text")),
    ("start_s", "n"),
)
MESSAGE_ROWS = _Rows(
    "messages",
    (("id", "uuid"), ("conversation_id", "uuid"), ("role", "text"), ("created_at", "timestamptz"), ("content", "text")),
    ("created_at", "g"),
)


def _step(seconds: int, rows: float) -> int:
    """The width in seconds of a chunk's bucket, for CHUNK_ROWS rows when ``rows`` are spread over ``seconds``."""
    return max(1, int(seconds * CHUNK_ROWS / max(rows, 1.0)))


class _Stopped(Exception):
    """The load failed elsewhere: a generating session gives up its share."""


def _generate(conn: psycopg.Connection, jobs: list[tuple[sql.Composable, dict[str, Any]]],
              out: queue.Queue[object], stop: threading.Event) -> None:
    """A generating session's share of the windows onto ``out``: (chunk, rows) for each chunk, None
    at the end of each window; an error goes onto ``out`` too, for the loader's thread to raise."""

    def put(item: object) -> None:
        while True:
            try:
                out.put(item, timeout=0.1)
                return
            except queue.Full:
                if stop.is_set():
                    raise _Stopped from None

    try:
        with conn.cursor(binary=True) as cur:
            for statement, params in jobs:
                for chunk, rows in cur.stream(statement, params):  # type: ignore[arg-type]
                    put((chunk, rows))
                put(None)
    except _Stopped:
        pass
    except BaseException as exc:  # noqa: BLE001 - handed to the loader's thread, which raises it
        try:
            put(exc)
        except _Stopped:
            pass


def _load(
    pool: ThreadPoolExecutor,
    loader: psycopg.Connection,
    generators: list[psycopg.Connection],
    copy_in: sql.Composable,
    jobs: list[tuple[sql.Composable, dict[str, Any]]],
    on_done: Callable[[int], None],
) -> None:
    """One COPY FROM on the loader, fed with the windows ``jobs`` in order.

    The generating sessions take the windows in turn and run ahead of the loader by up to
    QUEUE_CHUNKS chunks each; ``on_done`` gets each chunk's row count, in this thread. On any error
    (or Ctrl-C) the generating sessions' statements are cancelled before it propagates.
    """
    stop = threading.Event()
    queues: list[queue.Queue[object]] = [queue.Queue(QUEUE_CHUNKS) for _ in generators]
    futures = [
        pool.submit(_generate, conn, jobs[i :: len(generators)], queues[i], stop) for i, conn in enumerate(generators)
    ]
    try:
        with loader.cursor() as cur, cur.copy(copy_in) as copy:
            copy.write(COPY_HEADER)
            for i in range(len(jobs)):
                source = queues[i % len(queues)]
                while isinstance(item := source.get(), tuple):
                    copy.write(item[0])
                    on_done(item[1])
                if isinstance(item, BaseException):
                    raise item
            copy.write(COPY_TRAILER)
    except BaseException:
        stop.set()
        for conn in generators:
            conn.cancel_safe()
        wait(futures)
        raise
    wait(futures)


Unit = Callable[[psycopg.Connection], int]


def _dispatch(
    pool: ThreadPoolExecutor,
    sessions: list[psycopg.Connection],
    next_unit: Callable[[int], Unit | None],
    on_done: Callable[[int], None],
) -> None:
    """Keep every session busy with ``next_unit(session index)`` until it returns None for all.

    ``on_done`` gets each unit's row count, in this thread. On any error (or Ctrl-C) the
    statements still running are cancelled before the error propagates.
    """
    running: dict[Future[int], int] = {}

    def start(i: int) -> None:
        unit = next_unit(i)
        if unit is not None:
            running[pool.submit(unit, sessions[i])] = i

    try:
        for i in range(len(sessions)):
            start(i)
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                i = running.pop(future)
                on_done(future.result())
                start(i)
    except BaseException:
        for i in running.values():
            sessions[i].cancel_safe()
        wait(running)
        raise


def seed_database(
    conninfo: str,
    *,
    scale: str = "ci",
    messages: int | None = None,
    seed: int = 42,
    progress: Progress | None = None,
    replace: bool = False,
) -> SeedReport:
    """Fill an empty chatschema database (at any revision) with skewed, deterministic data.

    ``scale`` is one of ``SCALES``; ``messages`` resizes it (users and conversations follow in
    proportion). A database that already has rows is refused unless ``replace``, which empties the
    tables first (``TRUNCATE users CASCADE``). The load is one transaction: if it fails, the
    database is left as it was, indexes, constraints and (with ``replace``) the old rows included.
    At revision 0007 the materialized views are refreshed; then every table is ``VACUUM
    (ANALYZE)``d so plans see a settled database. ``progress(phase, done, total)`` is called, from
    the calling thread, as the load goes: phases ``conversations``, ``messages``, ``indexes`` and
    ``settle``.
    """
    chosen = _resolve_scale(scale, messages)
    _check_seed(seed)
    params = _plan_params(chosen, seed)
    target = server.describe_target(conninfo)
    started = mark = time.perf_counter()
    phases: list[tuple[str, float]] = []

    def phase(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        phases.append((name, now - mark))
        mark = now

    counts = {"conversations": 0, "messages": 0, "indexes": 0, "settle": 0}

    def counter(name: str, total: int) -> Callable[[int], None]:
        def on_done(rows: int) -> None:
            counts[name] += rows
            if progress:
                progress(name, counts[name], total)

        return on_done

    sessions: list[psycopg.Connection] = []
    try:
        for _ in range(1 + LOAD_SESSIONS):
            sessions.append(server.connect(conninfo))
        loader, generators = sessions[0], sessions[1:]
        with ThreadPoolExecutor(max(2, len(generators)), thread_name_prefix="chatschema-seed") as pool:
            try:
                revision = _revision(loader, target)
                summaries = _has_summaries(loader)
                # Locked before they are looked at, so that no row arrives between the look and the load.
                loader.execute(LOCK)
                existing = _existing_rows(loader)
                if any(existing) and not replace:
                    users, convs, msgs = (f"{n:,}" if n < 1000 else "1,000+" for n in existing)
                    raise ConfigError(
                        f"{target} already has data ({users} users, {convs} conversations, {msgs} messages); "
                        f"seeding needs empty tables. Pass --replace to delete every row first "
                        f"(TRUNCATE users CASCADE)."
                    )
                list(pool.map(lambda conn: _prepare(conn, params), generators))
                row = generators[0].execute(SPAN).fetchone()
                assert row is not None
                span, max_span = int(row[0]), int(row[1])
                phase("plan")

                freeze = _empty(loader, replace)
                deferred = _defer(loader)
                _load(pool, loader, generators, USER_ROWS.copy_in(freeze),
                      [(USER_ROWS.chunks(SELECT_USERS), params)], lambda _: None)
                conversations = CONVERSATION_ROWS if summaries else CONVERSATION_ROWS.without(SUMMARY_COLUMNS)
                windows = _windows(span, max(len(generators), math.ceil(chosen.conversations / CHUNK_CONVERSATIONS)))
                _load(pool, loader, generators, conversations.copy_in(freeze),
                      [(conversations.chunks(SELECT_CONVERSATIONS),
                        {**params, "a": a, "b": b, "step": _step(b - a, chosen.conversations / len(windows))})
                       for a, b in windows],
                      counter("conversations", chosen.conversations))
                phase("users and conversations")

                windows = _windows(span, max(MIN_WINDOWS, len(generators), math.ceil(chosen.messages / CHUNK_MESSAGES)))
                _load(pool, loader, generators, MESSAGE_ROWS.copy_in(freeze),
                      [(MESSAGE_ROWS.chunks(SELECT_MESSAGES),
                        {**params, "max_span": max_span, "a": a, "b": b,
                         "step": _step(b - a, chosen.messages / len(windows))})
                       for a, b in windows],
                      counter("messages", chosen.messages))
                phase("messages")

                _rebuild(loader, deferred, counter("indexes", len(deferred)))
                loader.commit()
                phase("indexes and constraints")
            except psycopg.Error as exc:
                raise _translate(exc, target) from exc

            try:
                for conn in sessions:
                    conn.autocommit = True
                rounds = _settle_rounds(loader)
                steps = sum(len(lane) for lanes in rounds for lane in lanes)
                on_settled = counter("settle", steps)
                if progress:
                    progress("settle", 0, steps)
                for lanes in rounds:
                    queues = [iter(lane) for lane in lanes]
                    _dispatch(pool, sessions[: len(lanes)], lambda i, q=queues: next(q[i], None),  # type: ignore[misc]
                              lambda _: on_settled(1))
                phase("settle")
                interesting = interesting_ids(loader)
            except psycopg.Error as exc:
                raise ChatSchemaError(
                    f"the data is seeded, but settling {target} failed ({exc}); run VACUUM (ANALYZE) yourself"
                ) from exc
    finally:
        for conn in sessions:
            conn.close()  # an open transaction is rolled back: a failed load leaves nothing behind
    seconds = time.perf_counter() - started
    return SeedReport(
        scale=chosen.name,
        seed=seed,
        revision=revision,
        users=chosen.users,
        conversations=counts["conversations"],
        messages=counts["messages"],
        seconds=seconds,
        messages_per_second=counts["messages"] / seconds if seconds > 0 else 0.0,
        interesting=interesting,
        phases=tuple(phases),
    )


def _settle_rounds(conn: psycopg.Connection) -> list[list[list[Unit]]]:
    """Rounds of lanes (one session each) for autocommit sessions: first VACUUM messages beside the
    other tables, then ANALYZE messages beside the other tables' ANALYZE and (at revision 0007) the
    views' refresh and their VACUUM (ANALYZE).

    Nothing else reads a table while it is vacuumed: a page another scan has pinned cannot be
    cleaned, so VACUUM would leave it out of the visibility map and index-only scans would miss it.
    ANALYZE only samples, so the refresh may read messages meanwhile: the two longest steps overlap.
    """
    from ..views import VIEWS, refresh_views

    existing = {
        row[0]
        for row in conn.execute(
            "SELECT matviewname FROM pg_matviews WHERE schemaname = current_schema() AND matviewname = ANY(%s)",
            ([v.name for v in VIEWS],),
        )
    }

    def maintain(command: str, table: str) -> Unit:
        def run(conn: psycopg.Connection) -> int:
            # VACUUM's and ANALYZE's lock lets reads and writes through, so it may wait as long as it
            # takes (an autovacuum of the fresh rows is cancelled for it, after deadlock_timeout).
            conn.execute("SET lock_timeout = 0")
            conn.execute(sql.SQL("{} {}").format(sql.SQL(command), sql.Identifier(table)))
            conn.execute("RESET lock_timeout")
            return 0

        return run

    def refresh(conn: psycopg.Connection) -> int:
        refresh_views(conn, concurrently=False)
        return 0

    views: list[Unit] = []
    if len(existing) == len(VIEWS):
        views = [refresh, *(maintain("VACUUM (ANALYZE)", v.name) for v in VIEWS)]
    return [
        [[maintain("VACUUM", "messages")], [maintain("VACUUM", "conversations"), maintain("VACUUM", "users")]],
        [[maintain("ANALYZE", "messages")], [maintain("ANALYZE", "conversations"), maintain("ANALYZE", "users"), *views]],
    ]
