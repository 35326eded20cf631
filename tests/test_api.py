"""The data-access API: pages, ownership, bad input, one round trip, concurrency, async, prepared plans."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import re
import subprocess
import sys
import tempfile
import threading
import typing
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from chatschema import api, api_async, migrate
from chatschema import queries as catalog
from chatschema.errors import InvalidInput, NotFound
from chatschema.views import refresh_views

from .populate import summary_mismatches
from .skewed import Cases

# --- fixtures --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def data(skewed_databases, new_database) -> tuple[str, Cases]:
    """The skewed data of test_catalog, migrated from 0001 to head: a copy, since these tests write."""
    settings = new_database("api", template=skewed_databases.at_head)
    return settings.dsn, skewed_databases.cases


@pytest.fixture
def conn(data) -> Iterator[psycopg.Connection]:
    """A connection whose transaction is rolled back after the test: sends leave no trace."""
    with psycopg.connect(data[0]) as c:
        yield c
        c.rollback()


@contextmanager
def round_trips(conn: psycopg.Connection) -> Iterator[list[int]]:
    """Count the server round trips made inside the block (libpq's protocol trace: one
    ReadyForQuery per round trip); the count is appended to the yielded list at the end."""
    with tempfile.TemporaryFile() as trace:
        conn.pgconn.trace(trace.fileno())
        conn.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
        counted: list[int] = []
        try:
            yield counted
        finally:
            conn.pgconn.untrace()
            trace.seek(0)
            counted.append(sum(1 for line in trace if b"\tReadyForQuery" in line))


def truth_conversations(conn, user) -> list[uuid.UUID]:
    return [r[0] for r in conn.execute(
        "SELECT id FROM conversations WHERE user_id = %s ORDER BY last_activity_at DESC, id DESC", (user,))]


def truth_messages(conn, conv) -> list[uuid.UUID]:
    return [r[0] for r in conn.execute(
        "SELECT id FROM messages WHERE conversation_id = %s ORDER BY created_at DESC, id DESC", (conv,))]


def walk_conversations(conn, user, page, between: Callable[[list[uuid.UUID]], None] = lambda seen: None):
    seen: list[uuid.UUID] = []
    cursor = None
    while True:
        got = api.list_conversations(conn, user, limit=page, cursor=cursor)
        assert len(got.items) <= page and (got.next_cursor is not None) == got.has_more
        seen += [c.id for c in got.items]
        if not got.has_more:
            return seen
        between(seen)
        cursor = got.next_cursor


def walk_messages(conn, user, conv, page, between: Callable[[list[uuid.UUID]], None] = lambda seen: None):
    seen: list[uuid.UUID] = []
    before = None
    while True:
        got = api.load_messages(conn, user, conv, limit=page, before=before)
        assert len(got.items) <= page and (got.next_cursor is not None) == got.has_more
        seen += [m.id for m in got.items]
        if not got.has_more:
            return seen
        between(seen)
        before = got.next_cursor


def counts(conn) -> tuple[int, int, int]:
    return conn.execute(
        "SELECT (SELECT count(*) FROM messages), (SELECT sum(message_count) FROM conversations),"
        " (SELECT count(*) FROM conversations WHERE updated_at > created_at)").fetchone()


# --- pages ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", [1, 7, 20, 100], ids=lambda n: f"page{n}")
def test_walking_a_list_returns_each_conversation_once_in_order(conn, data, page):
    cases = data[1]
    for user in (cases.ties_user, cases.heavy_users[0], *cases.typical_users[:3], *cases.empty_users):
        if page == 1 and user == cases.heavy_users[0]:
            continue  # 600 round trips prove nothing more than page 7 does
        assert walk_conversations(conn, user, page) == truth_conversations(conn, user)


@pytest.mark.parametrize("page", [1, 5, 7, 100], ids=lambda n: f"page{n}")
def test_walking_messages_returns_each_message_once_across_timestamp_ties(conn, data, page):
    cases = data[1]
    for owner, conv in (cases.ties, cases.twenty, cases.days, *cases.typical[:2], *cases.empty):
        assert walk_messages(conn, owner, conv, page) == truth_messages(conn, conv)
    if page == 100:
        owner, conv = cases.longest[0]
        assert walk_messages(conn, owner, conv, page) == truth_messages(conn, conv)


def test_a_list_walk_while_messages_arrive_never_repeats_a_conversation(conn, data):
    """A conversation with new activity moves to the top: if it was already seen it is not seen again;
    if it was still ahead it is skipped by this walk and is first on the next first page. Every
    conversation without new activity is returned exactly once."""
    user = data[1].ties_user
    before = truth_conversations(conn, user)
    ahead = before[-1]

    def send(seen: list[uuid.UUID]) -> None:
        if len(seen) == 7:
            api.send_message(conn, user, seen[0], "user", "to one already seen")
            api.send_message(conn, user, ahead, "user", "to one still ahead")

    seen = walk_conversations(conn, user, 7, between=send)
    assert len(seen) == len(set(seen))
    assert seen == [c for c in before if c != ahead]
    first = api.list_conversations(conn, user, limit=2).items
    assert [c.id for c in first] == [ahead, before[0]]
    assert first[0].last_message_preview == "to one still ahead"


def test_a_message_walk_while_messages_arrive_returns_each_older_message_once(conn, data):
    owner, conv = data[1].ties
    before = truth_messages(conn, conv)
    new: list[uuid.UUID] = []

    def send(seen: list[uuid.UUID]) -> None:
        new.append(api.send_message(conn, owner, conv, "assistant", f"arrived after {len(seen)}").id)

    assert walk_messages(conn, owner, conv, 7, between=send) == before
    assert [m.id for m in api.load_messages(conn, owner, conv, limit=len(new)).items] == new[::-1]


def test_the_api_notes_say_what_a_walk_with_a_send_in_the_middle_returns(conn, data):
    """What docs/queries.md states, walked: the list walk skips the conversation that got a message before
    the walk reached it, returns every other one once, and the next fresh walk has it at the top; the
    message walk returns every message the conversation had at the start, once, in order."""
    notes = " ".join((api.__doc__ or "").split())
    assert "Walking all pages returns each row once, also while messages arrive" not in notes
    assert ("a conversation that gets a message during the walk moves to the top; if the walk had not reached it "
            "yet, the rest of the walk skips it, and it reappears at the top of the next fresh walk") in notes
    user = data[1].ties_user
    before = truth_conversations(conn, user)
    ahead = before[len(before) // 2]  # on a page the walk has not reached after its first

    def send(seen: list[uuid.UUID]) -> None:
        if len(seen) == 5:
            api.send_message(conn, user, ahead, "user", "during the walk")

    walked = walk_conversations(conn, user, 5, between=send)
    assert ahead not in walked and walked == [c for c in before if c != ahead]
    assert walk_conversations(conn, user, 5) == [ahead] + walked  # the next fresh walk
    owner, conv = data[1].ties
    messages = truth_messages(conn, conv)
    walked = walk_messages(conn, owner, conv, 5, between=lambda seen: api.send_message(conn, owner, conv, "user", "x"))
    assert walked == messages  # each once, in order; the new ones sort above the walk


# --- ownership: not found, foreign, empty ---------------------------------------------------------------


def test_missing_and_foreign_conversations_give_the_same_not_found(conn, data):
    cases = data[1]
    owner, conv = cases.ties
    stranger = cases.typical_users[0]
    missing = uuid.uuid4()
    before = counts(conn)
    calls = {
        "load": lambda u, c: api.load_messages(conn, u, c),
        "view": lambda u, c: api.conversation_view(conn, u, c),
        "send": lambda u, c: api.send_message(conn, u, c, "user", "hello"),
    }
    for name, call in calls.items():
        messages = set()
        for user, target in ((stranger, conv), (owner, missing), (stranger, missing)):
            with pytest.raises(NotFound) as exc:
                call(user, target)
            messages.add(str(exc.value))
        assert messages == {api.NOT_FOUND}, name
    assert counts(conn) == before


def test_an_empty_conversation_gives_an_empty_page(conn, data):
    owner, conv = data[1].empty[0]
    page = api.load_messages(conn, owner, conv)
    assert (page.conversation_id, page.message_count, page.items, page.has_more, page.next_cursor) == (conv, 0, (), False, None)
    view = api.conversation_view(conn, owner, conv)
    assert view.id == conv and view.message_count == 0 and view.messages.items == ()


def test_conversation_view_continues_with_load_messages(conn, data):
    owner, conv = data[1].ties
    view = api.conversation_view(conn, owner, conv)
    assert len(view.messages.items) == api.VIEW_MESSAGES and view.messages.has_more
    rest = api.load_messages(conn, owner, conv, limit=100, before=view.messages.next_cursor)
    assert [m.id for m in (*view.messages.items, *rest.items)] == truth_messages(conn, conv)[:120]


# --- sending --------------------------------------------------------------------------------------------


def test_send_updates_the_summary_in_the_same_statement(conn, data):
    owner, conv = data[1].days
    content = "é🙂" * 80  # 160 characters, 480 bytes: the preview is cut by characters
    before = api.conversation_view(conn, owner, conv)
    sent = api.send_message(conn, owner, conv, "assistant", content)
    assert (sent.conversation_id, sent.role) == (conv, "assistant") and sent.created_at > before.last_activity_at
    top = api.list_conversations(conn, owner, limit=1).items[0]
    assert (top.id, top.message_count, top.last_message_id, top.last_activity_at) == (
        conv, before.message_count + 1, sent.id, sent.created_at)
    assert top.last_message_preview == content[:100]
    newest = api.load_messages(conn, owner, conv, limit=1).items[0]
    assert (newest.id, newest.content, newest.created_at) == (sent.id, content, sent.created_at)
    assert summary_mismatches(conn) == 0


def test_content_of_exactly_the_limit_is_stored_intact(conn, data):
    owner, conv = data[1].twenty
    content = ("ß" * 99 + "\n") * (api.MAX_CONTENT_CHARS // 100)
    assert len(content) == api.MAX_CONTENT_CHARS
    sent = api.send_message(conn, owner, conv, "tool", content)
    assert api.load_messages(conn, owner, conv, limit=1).items[0] == api.MessageItem(sent.id, "tool", content, sent.created_at)


def test_analytics_see_sends_after_a_refresh(conn, data):
    owner, conv = data[1].days
    today = conn.execute("SELECT (clock_timestamp() AT TIME ZONE 'UTC')::date").fetchone()[0]
    tomorrow = today + timedelta(days=1)
    def now() -> tuple[api.UserDailyCount, api.DailyTotal]:
        user = api.user_daily_counts(conn, owner, today, tomorrow) or (api.UserDailyCount(today, 0, 0, 0, 0),)
        totals = api.daily_totals(conn, today, tomorrow) or (api.DailyTotal(today, 0, 0, 0),)
        return user[0], totals[0]

    before = now()
    api.send_message(conn, owner, conv, "user", "today")
    api.send_message(conn, owner, conv, "assistant", "today too")
    assert now() == before  # the views are as fresh as their last refresh
    refresh_views(conn, concurrently=False)
    user, totals = now()
    new_user = before[0].messages == 0
    new_conv = not conn.execute(  # the conversation had no message today before these two
        "SELECT count(*) > 2 FROM messages WHERE conversation_id = %s AND (created_at AT TIME ZONE 'UTC')::date = %s",
        (conv, today)).fetchone()[0]
    assert user == api.UserDailyCount(today, before[0].messages + 2, before[0].user_messages + 1,
                                      before[0].assistant_messages + 1, before[0].active_conversations + new_conv)
    assert totals == api.DailyTotal(today, before[1].messages + 2, before[1].active_users + new_user,
                                    before[1].active_conversations + new_conv)


# --- bad input: rejected before any SQL, nothing written ---------------------------------------------------

U = uuid.UUID("00000000-0000-4000-8000-000000000001")
C = uuid.UUID("00000000-0000-4000-8000-000000000002")
MALFORMED = "is malformed or was tampered with: pass back a next_cursor of the same list unchanged, or None for the first page"

BAD_INPUT: list[tuple[str, Callable[[Any], object], str]] = [
    ("list-limit-0", lambda c: api.list_conversations(c, U, limit=0), "limit must be an integer from 1 to 100, got 0"),
    ("list-limit-101", lambda c: api.list_conversations(c, U, limit=101), "limit must be an integer from 1 to 100, got 101"),
    ("list-limit-bool", lambda c: api.list_conversations(c, U, limit=True), "limit must be an integer from 1 to 100, got True"),
    ("list-limit-str", lambda c: api.list_conversations(c, U, limit="20"), "limit must be an integer from 1 to 100, got '20'"),
    ("list-user-text", lambda c: api.list_conversations(c, "alice"), "user_id must be a UUID, got 'alice'"),
    ("list-user-int", lambda c: api.list_conversations(c, 42), "user_id must be a UUID, got 42"),
    ("list-user-none", lambda c: api.list_conversations(c, None), "user_id must be a UUID, got None"),
    ("list-cursor-garbage", lambda c: api.list_conversations(c, U, cursor="not-a-cursor"), f"cursor {MALFORMED}"),
    ("list-cursor-empty", lambda c: api.list_conversations(c, U, cursor=""), f"cursor {MALFORMED}"),
    ("list-cursor-bytes", lambda c: api.list_conversations(c, U, cursor=b"x"), "cursor must be a str (a next_cursor) or None, got bytes"),
    ("load-conversation-text", lambda c: api.load_messages(c, U, "c-1"), "conversation_id must be a UUID, got 'c-1'"),
    ("load-limit-0", lambda c: api.load_messages(c, U, C, limit=0), "limit must be an integer from 1 to 100, got 0"),
    ("load-before-garbage", lambda c: api.load_messages(c, U, C, before="A" * 46), f"before {MALFORMED}"),
    ("view-user-text", lambda c: api.conversation_view(c, "u", C), "user_id must be a UUID, got 'u'"),
    ("send-role", lambda c: api.send_message(c, U, C, "admin", "hi"), "role must be one of system, user, assistant, tool; got 'admin'"),
    ("send-role-case", lambda c: api.send_message(c, U, C, "User", "hi"), "role must be one of system, user, assistant, tool; got 'User'"),
    ("send-empty", lambda c: api.send_message(c, U, C, "user", ""), "content is empty; a message needs at least one character"),
    ("send-too-long", lambda c: api.send_message(c, U, C, "user", "x" * (api.MAX_CONTENT_CHARS + 1)),
     "content is 100,001 characters; the limit is 100,000"),
    ("send-nul", lambda c: api.send_message(c, U, C, "user", "hello\x00world"),
     "content contains a NUL character (\\x00) at index 5; PostgreSQL text cannot store it"),
    ("send-surrogate", lambda c: api.send_message(c, U, C, "user", "ok \ud800"),
     "content is not valid Unicode: a lone surrogate at index 3 cannot be encoded as UTF-8"),
    ("send-bytes", lambda c: api.send_message(c, U, C, "user", b"hi"), "content must be a str, got bytes"),
    ("send-conversation-text", lambda c: api.send_message(c, U, "nope", "user", "hi"), "conversation_id must be a UUID, got 'nope'"),
    ("daily-since-datetime", lambda c: api.user_daily_counts(c, U, datetime(2026, 4, 1), date(2026, 5, 1)),
     "since must be a datetime.date (a UTC day), got datetime"),
    ("daily-reversed", lambda c: api.user_daily_counts(c, U, date(2026, 5, 1), date(2026, 4, 1)),
     "since (2026-05-01) is after until (2026-04-01); the range is since <= day < until"),
    ("totals-until-str", lambda c: api.daily_totals(c, date(2026, 4, 1), "2026-05-01"),
     "until must be a datetime.date (a UTC day), got str"),
]


@pytest.mark.parametrize("call, message", [b[1:] for b in BAD_INPUT], ids=[b[0] for b in BAD_INPUT])
def test_bad_input_is_rejected_before_any_sql(conn, call, message):
    before = counts(conn)
    with round_trips(conn) as trips, pytest.raises(InvalidInput) as exc:
        call(conn)
    assert str(exc.value) == message
    assert trips == [0]
    assert counts(conn) == before


def test_bad_input_is_rejected_by_the_async_api_too():
    async def send() -> None:
        await api_async.send_message(None, U, C, "user", "")  # type: ignore[arg-type]  # never reaches the connection

    with pytest.raises(InvalidInput, match="content is empty"):
        asyncio.run(send())


def test_a_tampered_cursor_is_rejected_wherever_it_is_changed(conn, data):
    cases = data[1]
    user = cases.ties_user
    cursor = api.list_conversations(conn, user, limit=5).next_cursor
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for i, char in enumerate(cursor):
        for other in (alphabet[(alphabet.index(char) + 1) % 64], alphabet[(alphabet.index(char) + 32) % 64]):
            tampered = cursor[:i] + other + cursor[i + 1:]
            with pytest.raises(InvalidInput, match="cursor is malformed or was tampered with"):
                api.list_conversations(conn, user, limit=5, cursor=tampered)
    for wrong in (cursor + "A", cursor[:-1], cursor + "==", " " + cursor[1:]):
        with pytest.raises(InvalidInput, match="cursor is malformed"):
            api.list_conversations(conn, user, limit=5, cursor=wrong)


def test_a_cursor_only_works_for_the_list_it_came_from(conn, data):
    cases = data[1]
    owner, conv = cases.ties
    list_cursor = api.list_conversations(conn, owner, limit=5).next_cursor
    message_cursor = api.load_messages(conn, owner, conv, limit=5).next_cursor
    with pytest.raises(InvalidInput, match="cursor is malformed"):  # another user's list
        api.list_conversations(conn, cases.heavy_users[0], limit=5, cursor=list_cursor)
    with pytest.raises(InvalidInput, match="before is malformed"):  # a list cursor for messages
        api.load_messages(conn, owner, conv, before=list_cursor)
    with pytest.raises(InvalidInput, match="before is malformed"):  # another conversation's messages
        api.load_messages(conn, owner, cases.twenty[1], before=message_cursor)
    with pytest.raises(InvalidInput, match="cursor is malformed"):  # a message cursor for the list
        api.list_conversations(conn, owner, cursor=message_cursor)
    assert api.load_messages(conn, owner, conv, limit=5, before=message_cursor).items  # and it does work here


# --- one statement, one round trip, the catalog's SQL ---------------------------------------------------------


def test_each_call_is_one_round_trip_running_the_catalog_sql(data):
    dsn, cases = data
    executed: list[str] = []

    class Recording(psycopg.Cursor):
        def execute(self, query, params=None, **kwargs):  # type: ignore[no-untyped-def, override]
            executed.append(query)
            return super().execute(query, params, **kwargs)

    owner, conv = cases.ties
    calls = {
        "list_conversations": lambda c: api.list_conversations(c, owner, limit=5),
        "load_messages": lambda c: api.load_messages(c, owner, conv, limit=5),
        "conversation_view": lambda c: api.conversation_view(c, owner, conv),
        "send_message": lambda c: api.send_message(c, owner, conv, "user", "one trip"),
        "user_daily_counts": lambda c: api.user_daily_counts(c, owner, date(2026, 1, 1), date(2027, 1, 1)),
        "daily_totals": lambda c: api.daily_totals(c, date(2026, 1, 1), date(2027, 1, 1)),
    }
    with psycopg.connect(dsn, autocommit=True, cursor_factory=Recording) as conn:
        for operation, call in calls.items():
            executed.clear()
            with round_trips(conn) as trips:
                call(conn)
            assert trips == [1], operation
            assert executed == [catalog.get(operation).sql], operation
        conn.execute("DELETE FROM messages WHERE content = 'one trip'")
        conn.execute(
            "UPDATE conversations c SET message_count = message_count - 1, last_activity_at = l.created_at,"
            " last_message_id = l.id, last_message_preview = left(l.content, 100)"
            " FROM (SELECT id, created_at, content FROM messages WHERE conversation_id = %(c)s"
            "       ORDER BY created_at DESC, id DESC LIMIT 1) l WHERE c.id = %(c)s", {"c": conv})
        assert summary_mismatches(conn) == 0


def test_the_callers_row_factory_does_not_matter(data):
    dsn, cases = data
    with psycopg.connect(dsn) as plain, psycopg.connect(dsn, row_factory=psycopg.rows.dict_row) as dicts:
        for name, args, kwargs in _reads(cases):
            assert getattr(api, name)(dicts, *args, **kwargs) == getattr(api, name)(plain, *args, **kwargs)


def _reversed_columns(sql: str) -> str:
    """The statement with its result columns in reverse order: the outermost SELECT list (from the
    first line starting SELECT to the first line starting FROM) or, for a data-modifying statement,
    its final RETURNING list; for a WITH statement, every SELECT list of its main query (each branch
    of a UNION)."""
    if sql.lstrip().startswith("WITH ") and "\n)\nSELECT " in sql:
        cut = sql.rindex("\n)\n") + 3

        def reverse(match: re.Match[str]) -> str:
            return "SELECT " + ", ".join(reversed([i.strip() for i in match.group(1).split(",")])) + "\nFROM "

        return sql[:cut] + re.sub(r"^SELECT (.*?)\nFROM ", reverse, sql[cut:], flags=re.M | re.S)
    head, returning, columns = sql.rpartition("RETURNING ")
    if head and "\n" not in columns.strip():
        return f"{head}{returning}{', '.join(reversed(columns.strip().split(', ')))}\n"
    start = sql.index("SELECT ")
    end = sql.index("\nFROM ", start)
    items = [item.strip() for item in sql[start + len("SELECT "):end].split(",\n")]
    return sql[:start] + "SELECT " + ",\n       ".join(reversed(items)) + sql[end:]


def _column_recorder(reverse: bool, seen: list[list[str]]) -> type[psycopg.Cursor]:
    class Recorder(psycopg.Cursor):  # type: ignore[type-arg]
        def execute(self, query, params=None, **kwargs):  # type: ignore[no-untyped-def, override]
            result = super().execute(_reversed_columns(query) if reverse else query, params, **kwargs)
            seen.append([c.name for c in self.description or ()])
            return result

    return Recorder


def test_results_are_built_by_column_name_not_position(data):
    """Every call gives the same result when its statement lists its columns in reverse order."""
    dsn, cases = data
    owner, conv = cases.ties
    plain_columns: list[list[str]] = []
    reversed_columns: list[list[str]] = []
    with psycopg.connect(dsn, cursor_factory=_column_recorder(False, plain_columns)) as plain, \
            psycopg.connect(dsn, cursor_factory=_column_recorder(True, reversed_columns)) as reversing:
        for name, args, kwargs in _reads(cases):
            assert getattr(api, name)(reversing, *args, **kwargs) == getattr(api, name)(plain, *args, **kwargs), name
        for conn in (reversing, plain):  # one after the other: a send holds the conversation's row lock
            sent = api.send_message(conn, owner, conv, "user", "columns reversed")
            newest = api.load_messages(conn, owner, conv, limit=1).items[0]
            conn.rollback()
            assert (sent.id, sent.conversation_id, sent.role, sent.created_at) == (
                newest.id, conv, "user", newest.created_at)
    # The twin: the positions really moved, so building by position would have swapped fields.
    assert len(reversed_columns) == len(plain_columns) == len(_reads(cases)) + 2
    for got, written in zip(reversed_columns, plain_columns):
        assert got == written[::-1] != written


# --- async ----------------------------------------------------------------------------------------------------


def _reads(cases: Cases) -> list[tuple[str, tuple[Any, ...], dict[str, Any]]]:
    owner, conv = cases.ties
    return [
        ("list_conversations", (cases.ties_user,), {"limit": 7}),
        ("list_conversations", (cases.heavy_users[0],), {"limit": 100}),
        ("list_conversations", (cases.empty_users[0],), {}),
        ("load_messages", (owner, conv), {"limit": 9}),
        ("load_messages", cases.longest[0], {"limit": 100}),
        ("load_messages", cases.empty[0], {}),
        ("conversation_view", (owner, conv), {}),
        ("conversation_view", cases.twenty, {}),
        ("user_daily_counts", (cases.ties_user, date(2026, 1, 1), date(2027, 1, 1)), {}),
        ("daily_totals", (date(2026, 1, 1), date(2027, 1, 1)), {}),
        ("catch_up", (owner, conv), {"limit": 9}),
        ("catch_up", cases.longest[0], {"limit": 100}),
        ("changed_conversations", (cases.heavy_users[0], datetime(2026, 1, 1, tzinfo=timezone.utc)), {"limit": 9}),
    ]


def test_the_async_api_returns_what_the_sync_api_returns(data):
    dsn, cases = data
    owner, conv = cases.ties

    async def run() -> list[object]:
        out: list[object] = []
        async with await psycopg.AsyncConnection.connect(dsn) as aconn:
            for name, args, kwargs in _reads(cases):
                out.append(await getattr(api_async, name)(aconn, *args, **kwargs))
            page = out[0]
            out.append(await api_async.list_conversations(aconn, cases.ties_user, limit=7, cursor=page.next_cursor))
            try:
                await api_async.load_messages(aconn, cases.typical_users[0], conv)
            except NotFound as exc:
                out.append(str(exc))
            sent = await api_async.send_message(aconn, owner, conv, "assistant", "async")
            newest = (await api_async.load_messages(aconn, owner, conv, limit=1)).items[0]
            out.append((newest.id == sent.id, newest.content, sent.conversation_id))
            await aconn.rollback()
        return out

    got = asyncio.run(run())
    with psycopg.connect(dsn) as conn:
        expected: list[object] = [getattr(api, name)(conn, *args, **kwargs) for name, args, kwargs in _reads(cases)]
        expected.append(api.list_conversations(conn, cases.ties_user, limit=7, cursor=expected[0].next_cursor))
        expected.append(api.NOT_FOUND)
        expected.append((True, "async", conv))
    assert got == expected


# --- what importing the API costs -----------------------------------------------------------------------------

_HEAVY = {"sqlmodel", "pydantic", "matplotlib"}


def _top_level_imports(module: str) -> set[str]:
    """The top-level packages a fresh interpreter has imported after ``import module``."""
    code = f"import sys, {module}; print(' '.join(sys.modules))"
    names = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.split()
    return {name.partition(".")[0] for name in names}


@pytest.mark.parametrize("module", ["chatschema.api", "chatschema.api_async"])
def test_importing_the_api_imports_no_orm_and_no_plotting(module):
    assert not _HEAVY & _top_level_imports(module)


def test_the_import_check_sees_the_orm_when_it_is_imported():
    """The twin: the models do import SQLModel and pydantic, and the check says so."""
    assert {"sqlmodel", "pydantic"} <= _HEAVY & _top_level_imports("chatschema.models")


def test_the_result_classes_annotations_resolve():
    """Callers may read the results' types (dataclasses.fields, typing.get_type_hints): they must name
    importable types, wherever the classes are defined."""
    classes = [getattr(api, name) for name in api.__all__ if isinstance(getattr(api, name), type)]
    assert len(classes) == 10
    for cls in classes:
        assert set(typing.get_type_hints(cls)) == {f.name for f in dataclasses.fields(cls)}, cls


# --- prepared statements and generic plans ------------------------------------------------------------------------


def _generic_plan(conn: psycopg.Connection, sql: str, values: dict[str, Any]) -> dict[str, Any]:
    """EXPLAIN of the generic plan, the way PostgreSQL 15 can show it: PREPARE, force_generic_plan,
    EXPLAIN EXECUTE (EXPLAIN (GENERIC_PLAN) exists only from 16)."""
    text, names = catalog.positional_sql(sql)
    conn.execute("DEALLOCATE ALL")
    conn.execute(f"PREPARE catalog_query AS {text}")
    cur = psycopg.ClientCursor(conn)
    placeholders = ", ".join(["%s"] * len(names))
    cur.execute(f"EXPLAIN (FORMAT JSON) EXECUTE catalog_query({placeholders})", [values[n] for n in names])
    plan = cur.fetchone()[0]
    return plan[0]["Plan"] if isinstance(plan, list) else json.loads(plan)[0]["Plan"]


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from _nodes(child)


def test_prepared_generic_plans_return_the_same_rows_and_keep_their_indexes(data):
    dsn, cases = data
    owner, conv = cases.ties
    with psycopg.connect(dsn, prepare_threshold=None) as plain, psycopg.connect(dsn, prepare_threshold=0) as prepared, \
            psycopg.connect(dsn, prepare_threshold=None) as explainer:
        prepared.execute("SET plan_cache_mode = force_generic_plan")
        for _ in range(6):
            for name, args, kwargs in _reads(cases):
                assert getattr(api, name)(prepared, *args, **kwargs) == getattr(api, name)(plain, *args, **kwargs)
            # later pages use the same statement as the first
            page = api.list_conversations(prepared, cases.ties_user, limit=7)
            assert api.list_conversations(prepared, cases.ties_user, limit=7, cursor=page.next_cursor) == \
                api.list_conversations(plain, cases.ties_user, limit=7, cursor=page.next_cursor)
        for _ in range(6):  # rolled back below
            api.send_message(prepared, owner, conv, "user", "prepared")
        assert summary_mismatches(prepared) == 0
        used = dict(prepared.execute("SELECT statement, generic_plans FROM pg_prepared_statements").fetchall())
        for query in catalog.all_queries():
            if query.variant == "optimized" and not query.cursor:  # a cursor's DECLARE is never prepared
                assert used.get(catalog.positional_sql(query.sql)[0], 0) >= 6, query.name
        prepared.rollback()

        values = {"user_id": owner, "conversation_id": conv, "limit": 21, "message_id": str(uuid.uuid4()),
                  "role": "user", "content": "x", "before_at": catalog.FIRST_PAGE_AT,
                  "before_id": str(catalog.FIRST_PAGE_ID), "after_at": "2026-01-01T00:00:00+00:00",
                  "after_id": str(catalog.START_ID)}
        expect = {
            "list_conversations": {"ix_conversations_user_activity"},
            "load_messages": {"conversations_pkey", "ix_messages_conversation_recent"},
            "conversation_view": {"conversations_pkey", "ix_messages_conversation_recent"},
            "send_message": {"conversations_pkey"},
            "catch_up": {"conversations_pkey", "ix_messages_conversation_recent"},
            "changed_conversations": {"ix_conversations_user_activity"},
        }
        explainer.execute("SET plan_cache_mode = force_generic_plan")
        for operation, indexes in expect.items():
            plan = _generic_plan(explainer, catalog.get(operation).sql, values)
            nodes = list(_nodes(plan))
            assert indexes <= {n.get("Index Name") for n in nodes}, operation
            assert not [n for n in nodes if n["Node Type"] == "Seq Scan"], operation
            if {"before_at", "after_at"} & set(catalog.get(operation).params):  # the cursor is an Index Cond
                assert any("ROW(" in n.get("Index Cond", "") for n in nodes), operation
        explainer.rollback()


# --- concurrent sends -------------------------------------------------------------------------------------------


def test_concurrent_sends_keep_every_summary_exact_and_time_order_is_commit_order(new_database):
    settings = new_database("concurrent")
    migrate.upgrade(settings, "head")
    users = [uuid.uuid4(), uuid.uuid4()]
    convs = [(users[0], uuid.uuid4()), (users[0], uuid.uuid4()), (users[1], uuid.uuid4())]
    with psycopg.connect(settings.dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO users (id, name) SELECT unnest(%s::uuid[]), 'u'", (users,))
        for owner, conv in convs:
            conn.execute("INSERT INTO conversations (id, user_id, title) VALUES (%s, %s, 't')", (conv, owner))

    threads, per_thread = 6, 60
    sent: dict[int, list[api.SentMessage]] = {}
    snapshots: list[dict[uuid.UUID, set[uuid.UUID]]] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def writer(n: int, pool: ConnectionPool) -> None:
        rng = random.Random(n)
        mine = sent.setdefault(n, [])
        try:
            for i in range(per_thread):
                owner, conv = rng.choice(convs)
                with pool.connection() as conn:
                    mine.append(api.send_message(conn, owner, conv, rng.choice(["user", "assistant"]), f"{n}-{i}"))
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    def reader() -> None:
        with psycopg.connect(settings.dsn, autocommit=True) as conn:
            while not done.is_set():
                rows = conn.execute(
                    "SELECT conversation_id, array_agg(id) FROM messages GROUP BY conversation_id").fetchall()
                snapshots.append({c: set(ids) for c, ids in rows})

    with ConnectionPool(settings.dsn, min_size=threads, max_size=threads, kwargs={"autocommit": True}, open=True) as pool:
        watcher = threading.Thread(target=reader)
        watcher.start()
        workers = [threading.Thread(target=writer, args=(n, pool)) for n in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        done.set()
        watcher.join()
    assert not errors, errors

    with psycopg.connect(settings.dsn) as conn:
        assert summary_mismatches(conn) == 0
        total = conn.execute(
            "SELECT (SELECT count(*) FROM messages), (SELECT sum(message_count) FROM conversations)").fetchone()
        assert total == (threads * per_thread, threads * per_thread)
        order = {conv: conn.execute(
            "SELECT id, created_at FROM messages WHERE conversation_id = %s ORDER BY created_at, id", (conv,)).fetchall()
            for _, conv in convs}
        for owner, conv in convs:
            times = [t for _, t in order[conv]]
            assert len(set(times)) == len(times), "two messages of one conversation share a created_at"
            assert walk_messages(conn, owner, conv, 50) == [m for m, _ in reversed(order[conv])]

    # each thread saw its own sends to a conversation in increasing time
    for mine in sent.values():
        for _, conv in convs:
            times = [s.created_at for s in mine if s.conversation_id == conv]
            assert times == sorted(times)
    # at every moment a reader looked, every message not yet visible sorts after every visible one:
    # time order is commit order, so keyset "newer than" and "older than" pages never miss a message
    position = {conv: {m: i for i, (m, _) in enumerate(order[conv])} for _, conv in convs}
    assert len(snapshots) > 3
    for snap in snapshots:
        for conv, visible in snap.items():
            assert max(position[conv][m] for m in visible) == len(visible) - 1
