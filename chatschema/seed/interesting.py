"""The rows whose plans and timings differ most: the heaviest, a typical and an idle user; the
longest, a typical and an empty conversation.

The plan validator binds its query parameters to them and the benchmarks time their reads with
them, so they are found the same way in any database with chatschema's tables, seeded or not: from
the summary columns when the schema has them (revision 0003 on), else by counting messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.rows import class_row, dict_row

from ..errors import ConfigError
from .statements import read

__all__ = ["InterestingRows", "SUMMARY_COLUMNS", "has_message_owner", "has_summaries", "interesting_ids"]

SUMMARY_COLUMNS = ("last_activity_at", "message_count", "last_message_id", "last_message_preview")
"""The conversation summary columns revision 0003 adds: the seed writes them when they exist."""

PER_USER = read("interesting_users")
PER_CONVERSATION = read("interesting_conversations")
SIZES_FROM_SUMMARIES = read("conversation_sizes_from_summaries")
SIZES_FROM_MESSAGES = read("conversation_sizes_from_messages")

HAS_SUMMARIES = """
SELECT count(*) AS present FROM pg_attribute
WHERE attrelid = to_regclass('conversations') AND attname = ANY(%s) AND NOT attisdropped
"""


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
class _User:
    """A row of sql/interesting_users.sql."""

    kind: str  # heaviest, typical, idle
    user_id: UUID
    n: int  # conversations


@dataclass(frozen=True)
class _Conversation:
    """A row of sql/interesting_conversations.sql."""

    kind: str  # longest, typical, empty
    id: UUID
    user_id: UUID
    n: int  # messages


def has_summaries(conn: psycopg.Connection) -> bool:
    """Whether ``conversations`` has every one of SUMMARY_COLUMNS."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(HAS_SUMMARIES, (list(SUMMARY_COLUMNS),)).fetchone()
    return row is not None and int(row["present"]) == len(SUMMARY_COLUMNS)


def has_message_owner(conn: psycopg.Connection) -> bool:
    """Whether ``messages`` has user_id (revision 0009 on)."""
    row = conn.execute(
        "SELECT 1 FROM pg_attribute WHERE attrelid = 'messages'::regclass AND attname = 'user_id' AND NOT attisdropped"
    ).fetchone()
    return row is not None


def interesting_ids(conn: psycopg.Connection) -> InterestingRows:
    """The heaviest, a typical and an idle user; the longest, a typical and an empty conversation.

    Works on any database with chatschema's tables, seeded or not: reads ``message_count`` when the
    schema has it, else counts messages. Ties go to the smallest id, so the answer is stable.
    """
    source = SIZES_FROM_SUMMARIES if has_summaries(conn) else SIZES_FROM_MESSAGES
    query = sql.SQL(PER_CONVERSATION).format(source=sql.SQL(source))
    with conn.cursor(row_factory=class_row(_User)) as per_user:
        users = {row.kind: row for row in per_user.execute(PER_USER)}
    with conn.cursor(row_factory=class_row(_Conversation)) as per_conversation:
        convs = {row.kind: row for row in per_conversation.execute(query)}
    if "heaviest" not in users or "longest" not in convs:
        raise ConfigError("the database has no conversations; run `chatschema seed` first")
    heaviest, typical, idle = users["heaviest"], users["typical"], users.get("idle")
    longest, typical_conv, empty = convs["longest"], convs.get("typical"), convs.get("empty")
    return InterestingRows(
        heaviest_user_id=heaviest.user_id,
        heaviest_user_conversations=int(heaviest.n),
        typical_user_id=typical.user_id,
        typical_user_conversations=int(typical.n),
        idle_user_id=idle.user_id if idle else None,
        longest_conversation_id=longest.id,
        longest_conversation_user_id=longest.user_id,
        longest_conversation_messages=int(longest.n),
        typical_conversation_id=typical_conv.id if typical_conv else None,
        typical_conversation_user_id=typical_conv.user_id if typical_conv else None,
        typical_conversation_messages=int(typical_conv.n) if typical_conv else 0,
        empty_conversation_id=empty.id if empty else None,
        empty_conversation_user_id=empty.user_id if empty else None,
    )
