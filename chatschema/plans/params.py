"""Parameters taken from the data: the rows whose plans differ most.

Each operation runs with the heaviest user (most conversations), a typical user (the median), a
user with nothing, the longest conversation, a typical one and an empty one, and a deep page: the
cursor of the row in the middle of the heaviest user's list and of the longest conversation (an
OFFSET of the same depth for the variants that page with OFFSET). An analytics case reads the 30
days up to its own subject's newest message (the user's; of all messages for the totals), so it
has data to read; the cases meant to be empty (the idle user, the empty conversation) say so
(``Case.expects_rows``), and any other case that returns nothing is the finding case-without-rows.
The first case of an operation is its primary case: the capability probe, growth and the demo's
table use it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

import psycopg
from psycopg.rows import dict_row

from ..queries import FIRST_PAGE_AT, FIRST_PAGE_ID, START_AT, START_ID, Query
from ..seed import InterestingRows, has_summaries, interesting_ids

__all__ = ["Case", "DataPoints", "data_points", "cases_for", "deep_cursor", "newest_days"]

SEND_MESSAGE_ID = uuid.uuid5(uuid.NAMESPACE_URL, "https://chatschema/plans/send")
SEND_CONTENT = "Plan check: " + "the quick brown fox jumps over the lazy dog " * 5
# The values a delegated send's function holds between its statements (send_message.citus): the
# conversation's newest message time it read, the stored message's time it wrote. Any instant plans alike.
SEND_AT = datetime(2026, 1, 1, tzinfo=timezone.utc)
RANGE_DAYS = 30


@dataclass(frozen=True)
class Case:
    """One set of parameter values, named for what it exercises."""

    name: str
    values: tuple[tuple[str, Any], ...]
    primary: bool = False
    expects_rows: bool = True  # False for the cases meant to be empty (an idle user, an empty conversation)

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.values)


@dataclass(frozen=True)
class DataPoints:
    """The interesting rows of one database, and the deep-page cursors at its revision."""

    ids: InterestingRows
    whale_middle: int  # OFFSET of the middle of the heaviest user's list
    longest_middle: int  # OFFSET of the middle of the longest conversation
    whale_cursor: tuple[Any, uuid.UUID] | None  # (last_activity_at, id) at that depth; None before head
    longest_cursor: tuple[Any, uuid.UUID] | None  # (created_at, id) at that depth
    until: date  # analytics: the day after the newest message of all
    table_rows: Mapping[str, float]
    user_until: Mapping[uuid.UUID, date] = field(default_factory=dict)  # the day after each user's newest message

    @property
    def since(self) -> date:
        return self.until - timedelta(days=RANGE_DAYS)

    def window(self, user_id: uuid.UUID | None = None) -> dict[str, date]:
        """``since``/``until``: the RANGE_DAYS days up to the user's newest message (of all messages without a
        user, or for a user with none), so an analytics case reads days that have data."""
        until = self.user_until.get(user_id, self.until) if user_id else self.until
        return {"since": until - timedelta(days=RANGE_DAYS), "until": until}


# The cursor the API hands out after ``depth`` rows of a list: the (sort key, id) of row ``depth``.
_DEEP_CURSORS = {
    "list_conversations": """
SELECT last_activity_at AS at, id FROM conversations WHERE user_id = %(owner)s
ORDER BY last_activity_at DESC, id DESC OFFSET %(depth)s LIMIT 1
""",
    "load_messages": """
SELECT created_at AS at, id FROM messages WHERE conversation_id = %(owner)s
ORDER BY created_at DESC, id DESC OFFSET %(depth)s LIMIT 1
""",
}


def deep_cursor(conn: psycopg.Connection, operation: str, owner: uuid.UUID, depth: int) -> tuple[Any, uuid.UUID] | None:
    """(sort key, id) of the row at ``depth`` (0-based) of a user's conversations (``list_conversations``,
    ``owner`` the user) or of a conversation's messages (``load_messages``, ``owner`` the conversation),
    newest first; None when the list is shorter. Needs the schema at head for the conversations."""
    with conn.cursor(row_factory=dict_row) as cur:
        found = cur.execute(_DEEP_CURSORS[operation], {"owner": owner, "depth": depth}).fetchone()
    return (found["at"], found["id"]) if found else None
# A window ending at the longest conversation's newest message held no message of the heaviest user
# in some data: each window ends at its own subject's newest message instead.
_NEWEST = "SELECT max(created_at) FROM messages"
_USER_NEWEST = {  # from the summary column when the schema has it (0003 on), else from the messages
    True: "SELECT max(last_activity_at) FROM conversations WHERE user_id = %(user)s AND message_count > 0",
    False: "SELECT max(m.created_at) FROM messages m JOIN conversations c ON c.id = m.conversation_id "
           "WHERE c.user_id = %(user)s",
}
_TABLE_ROWS = """
SELECT c.relname, greatest(c.reltuples, 0) FROM pg_class c
WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'm')
"""
_HAS_ACTIVITY = """
SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('conversations')
               AND attname = 'last_activity_at' AND NOT attisdropped)
"""


def data_points(conn: psycopg.Connection) -> DataPoints:
    """Find the interesting rows and deep cursors of the database ``conn`` is connected to."""
    ids = interesting_ids(conn)
    whale_middle = ids.heaviest_user_conversations // 2
    longest_middle = ids.longest_conversation_messages // 2
    whale_cursor = longest_cursor = None
    row = conn.execute(_HAS_ACTIVITY).fetchone()
    if row and row[0]:
        whale_cursor = deep_cursor(conn, "list_conversations", ids.heaviest_user_id, whale_middle)
        longest_cursor = deep_cursor(conn, "load_messages", ids.longest_conversation_id, longest_middle)
    until = _day_after(conn.execute(_NEWEST).fetchone()) or date.today() + timedelta(days=1)
    user_until = newest_days(conn, (ids.heaviest_user_id, ids.typical_user_id))
    table_rows = {name: float(n) for name, n in conn.execute(_TABLE_ROWS)}
    conn.rollback()
    return DataPoints(ids, whale_middle, longest_middle, whale_cursor, longest_cursor, until, table_rows, user_until)


def newest_days(conn: psycopg.Connection, users: Iterable[uuid.UUID]) -> dict[uuid.UUID, date]:
    """The UTC day after each user's newest message, for the users that have any: where the user's
    analytics window ends (``DataPoints.window``)."""
    per_user = _USER_NEWEST[has_summaries(conn)]
    return {user: day for user in users if (day := _day_after(conn.execute(per_user, {"user": user}).fetchone()))}


def _day_after(row: Any) -> date | None:
    # Days are cut in UTC, as the analytics queries cut them.
    return row[0].astimezone(timezone.utc).date() + timedelta(days=1) if row and row[0] else None


def _page_limit(query: Query) -> int:
    # The API asks for a page + 1 (has_more); today's code and the proposal ask for the page.
    return 21 if query.variant == "optimized" else 20


def cases_for(query: Query, data: DataPoints) -> list[Case]:
    """The parameter cases of ``query``'s operation, with values for exactly its parameters."""
    ids = data.ids
    first = {"before_at": FIRST_PAGE_AT, "before_id": FIRST_PAGE_ID, "offset": 0, "limit": _page_limit(query)}
    common = {"message_id": SEND_MESSAGE_ID, "role": "user", "content": SEND_CONTENT, "last_at": SEND_AT,
              "stored_at": SEND_AT, **data.window()}
    raw: list[tuple[str, dict[str, Any]]] = []
    empty: set[str] = set()  # the cases meant to return nothing
    op = query.operation
    if op == "list_conversations":
        deep = {**first, "offset": data.whale_middle}
        if data.whale_cursor:
            deep.update(before_at=data.whale_cursor[0], before_id=data.whale_cursor[1])
        raw = [
            ("heaviest user, first page", {**first, "user_id": ids.heaviest_user_id}),
            (f"heaviest user, page at row {data.whale_middle:,}", {**deep, "user_id": ids.heaviest_user_id}),
            ("typical user", {**first, "user_id": ids.typical_user_id}),
        ]
        if ids.idle_user_id:
            raw.append(("user with no conversations", {**first, "user_id": ids.idle_user_id}))
            empty.add("user with no conversations")
    elif op in ("load_messages", "conversation_view"):
        longest = {"conversation_id": ids.longest_conversation_id, "user_id": ids.longest_conversation_user_id}
        raw = [("longest conversation" + (", first page" if op == "load_messages" else ""), {**first, **longest})]
        if op == "load_messages":
            deep = {**first, **longest, "offset": data.longest_middle}
            if data.longest_cursor:
                deep.update(before_at=data.longest_cursor[0], before_id=data.longest_cursor[1])
            raw.append((f"longest conversation, page at message {data.longest_middle:,}", deep))
        if ids.typical_conversation_id:
            raw.append(("typical conversation", {**first, "conversation_id": ids.typical_conversation_id,
                                                 "user_id": ids.typical_conversation_user_id}))
        if ids.empty_conversation_id:
            empty.add("empty conversation")
            raw.append(("empty conversation", {**first, "conversation_id": ids.empty_conversation_id,
                                               "user_id": ids.empty_conversation_user_id}))
    elif op == "send_message":
        raw = [("into the longest conversation", {"conversation_id": ids.longest_conversation_id,
                                                  "user_id": ids.longest_conversation_user_id})]
        if ids.typical_conversation_id:
            raw.append(("into a typical conversation", {"conversation_id": ids.typical_conversation_id,
                                                        "user_id": ids.typical_conversation_user_id}))
    elif op == "catch_up":
        # A client that saw the longest conversation up to its middle, one that saw nothing yet, and the
        # typical and empty conversations from the start. The naive variant's cursor is the time alone.
        longest = {"conversation_id": ids.longest_conversation_id, "user_id": ids.longest_conversation_user_id}
        start = {**first, "after_at": START_AT, "after_id": START_ID}
        middle = dict(start)
        if data.longest_cursor:
            middle.update(after_at=data.longest_cursor[0], after_id=data.longest_cursor[1])
        raw = [(f"longest conversation, after message {data.longest_middle:,}", {**middle, **longest}),
               ("longest conversation, from the start", {**start, **longest})]
        if ids.typical_conversation_id:
            raw.append(("typical conversation, from the start", {
                **start, "conversation_id": ids.typical_conversation_id, "user_id": ids.typical_conversation_user_id}))
        if ids.empty_conversation_id:
            empty.add("empty conversation")
            raw.append(("empty conversation", {**start, "conversation_id": ids.empty_conversation_id,
                                               "user_id": ids.empty_conversation_user_id}))
    elif op == "changed_conversations":
        # The heaviest user's sidebar refreshed after half its conversations' activity (a page changed),
        # and with nothing changed since the newest activity.
        changed = {**first, "after_at": "-infinity", "after_id": FIRST_PAGE_ID, "since": "-infinity"}
        if data.whale_cursor:
            changed.update(after_at=data.whale_cursor[0], since=data.whale_cursor[0])
        quiet = {**first, "after_at": FIRST_PAGE_AT, "after_id": FIRST_PAGE_ID, "since": FIRST_PAGE_AT}
        empty.add("heaviest user, nothing changed")
        raw = [(f"heaviest user, changed after conversation {data.whale_middle:,}",
                {**changed, "user_id": ids.heaviest_user_id}),
               ("heaviest user, nothing changed", {**quiet, "user_id": ids.heaviest_user_id}),
               ("typical user, since the start", {**changed, "after_at": "-infinity", "since": "-infinity",
                                                  "user_id": ids.typical_user_id})]
    elif op == "export_messages":
        raw = [("longest conversation", {"conversation_id": ids.longest_conversation_id,
                                          "user_id": ids.longest_conversation_user_id})]
        if ids.typical_conversation_id:
            raw.append(("typical conversation", {"conversation_id": ids.typical_conversation_id,
                                                 "user_id": ids.typical_conversation_user_id}))
    elif op == "user_daily_counts":
        raw = [("heaviest user, 30 days", {"user_id": ids.heaviest_user_id, **data.window(ids.heaviest_user_id)}),
               ("typical user, 30 days", {"user_id": ids.typical_user_id, **data.window(ids.typical_user_id)})]
        if ids.idle_user_id:
            raw.append(("user with no conversations, 30 days", {"user_id": ids.idle_user_id}))
            empty.add("user with no conversations, 30 days")
    elif op == "daily_totals":
        raw = [("last 30 days", {})]
    else:  # pragma: no cover - the catalog's operations are all above
        raise KeyError(f"no parameter cases for operation {op!r}")
    wanted = query.plan_params
    cases = []
    for i, (name, values) in enumerate(raw):
        merged = {**common, **values}
        cases.append(Case(name, tuple((p, merged[p]) for p in wanted), primary=(i == 0),
                          expects_rows=name not in empty))
    return cases
