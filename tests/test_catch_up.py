"""Catch-up and the sidebar's changes: what a reconnecting client missed, a page at a time, O(page)."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from chatschema import api, api_async
from chatschema import queries as catalog
from chatschema.errors import InvalidInput, NotFound

from .skewed import Cases


@pytest.fixture(scope="module")
def data(skewed_databases, new_database) -> tuple[str, Cases]:
    """The skewed data at head, a copy: these tests send."""
    return new_database("catch_up", template=skewed_databases.at_head).dsn, skewed_databases.cases


@pytest.fixture
def conn(data) -> Iterator[psycopg.Connection]:
    with psycopg.connect(data[0], autocommit=True) as c:
        yield c


def oldest_first(conn, conv) -> list[uuid.UUID]:
    return [r[0] for r in conn.execute(
        "SELECT id FROM messages WHERE conversation_id = %s ORDER BY created_at, id", (conv,))]


def walk(conn, owner, conv, page, after=None) -> tuple[list[uuid.UUID], str | None]:
    seen: list[uuid.UUID] = []
    while True:
        got = api.catch_up(conn, owner, conv, after=after, limit=page)
        assert len(got.items) <= page
        seen += [m.id for m in got.items]
        after = got.next_cursor
        if not got.has_more:
            return seen, after


# --- catch-up ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", [1, 5, 7, 100])
def test_catching_up_from_the_start_returns_every_message_once_oldest_first_across_ties(conn, data, page):
    _, cases = data
    for owner, conv in (cases.ties, cases.twenty, cases.days, cases.longest[0]):
        assert walk(conn, owner, conv, page)[0] == oldest_first(conn, conv), conv


def test_the_twin_a_timestamp_cursor_skips_the_rest_of_a_tie(conn, data):
    """The naive variant pages by created_at alone: a page that ends inside a group of five equal times
    loses the rest of the group."""
    owner, conv = data[1].ties
    naive = catalog.get("catch_up", "today").sql
    seen: list[uuid.UUID] = []
    after = "-infinity"
    while True:
        rows = conn.execute(naive, {"conversation_id": conv, "user_id": owner, "after_at": after, "limit": 7}).fetchall()
        seen += [r[0] for r in rows]
        if len(rows) < 7:
            break
        after = rows[-1][4]
    truth = oldest_first(conn, conv)
    assert set(seen) < set(truth) and len(seen) < len(truth)
    assert walk(conn, owner, conv, 7)[0] == truth  # ours, same page size


def test_a_client_that_saw_the_view_catches_up_with_exactly_what_arrived(conn, data):
    owner, conv = data[1].twenty
    view = api.conversation_view(conn, owner, conv)
    assert view.messages.newest_cursor is not None
    assert api.catch_up(conn, owner, conv, after=view.messages.newest_cursor).items == ()
    sent = [api.send_message(conn, owner, conv, "user", f"while away {i}") for i in range(3)]
    got = api.catch_up(conn, owner, conv, after=view.messages.newest_cursor, limit=2)
    assert [m.id for m in got.items] == [s.id for s in sent[:2]] and got.has_more
    rest = api.catch_up(conn, owner, conv, after=got.next_cursor, limit=2)
    assert [m.id for m in rest.items] == [sent[2].id] and not rest.has_more
    quiet = api.catch_up(conn, owner, conv, after=rest.next_cursor)
    assert quiet.items == () and quiet.next_cursor == rest.next_cursor  # keep polling from the same place


def test_catching_up_while_messages_arrive_misses_none_and_repeats_none(data):
    """A writer sends 150 messages; a client polls catch-up meanwhile. Every message arrives once, in order."""
    dsn, cases = data
    owner, conv = cases.typical[0]
    with psycopg.connect(dsn, autocommit=True) as conn:
        start = api.conversation_view(conn, owner, conv).messages.newest_cursor
    done = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            with psycopg.connect(dsn, autocommit=True) as w:
                for i in range(150):
                    api.send_message(w, owner, conv, "assistant", f"streamed {i}")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            done.set()

    seen: list[uuid.UUID] = []
    t = threading.Thread(target=writer)
    t.start()
    with psycopg.connect(dsn, autocommit=True) as conn:
        after = start
        while True:
            finished = done.is_set()
            got, after = walk(conn, owner, conv, 4, after)
            seen += got
            if finished:
                break
        t.join()
        assert not errors
        streamed = [r[0] for r in conn.execute(
            "SELECT id FROM messages WHERE conversation_id = %s AND content LIKE 'streamed %%'"
            " ORDER BY created_at, id", (conv,))]
    assert seen == streamed and len(seen) == 150


def test_catch_up_checks_ownership_and_its_cursor(conn, data):
    cases = data[1]
    owner, conv = cases.ties
    stranger = cases.heavy_users[0]
    with pytest.raises(NotFound, match=api.NOT_FOUND):
        api.catch_up(conn, stranger, conv)
    with pytest.raises(NotFound):
        api.catch_up(conn, owner, uuid.uuid4())
    other_owner, other = cases.twenty
    foreign = api.conversation_view(conn, other_owner, other).messages.newest_cursor
    with pytest.raises(InvalidInput, match="^after is malformed or was tampered with"):
        api.catch_up(conn, owner, conv, after=foreign)
    older = api.load_messages(conn, owner, conv, limit=5).next_cursor  # a cursor of the other direction
    with pytest.raises(InvalidInput, match="^after is malformed or was tampered with"):
        api.catch_up(conn, owner, conv, after=older)
    with pytest.raises(InvalidInput, match="^after must be a str"):
        api.catch_up(conn, owner, conv, after=5)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="^limit must be an integer from 1 to 100"):
        api.catch_up(conn, owner, conv, limit=0)
    empty_owner, empty = cases.empty[0]
    page = api.catch_up(conn, empty_owner, empty)
    assert (page.items, page.has_more, page.next_cursor) == ((), False, None)


# --- the sidebar's changes --------------------------------------------------------------------------------


def truth_changed(conn, user, since) -> list[uuid.UUID]:
    return [r[0] for r in conn.execute(
        "SELECT id FROM conversations WHERE user_id = %s AND last_activity_at > %s ORDER BY last_activity_at, id",
        (user, since))]


def walk_changes(conn, user, since, page) -> tuple[list[uuid.UUID], str]:
    seen: list[uuid.UUID] = []
    while True:
        got = api.changed_conversations(conn, user, since, limit=page)
        assert len(got.items) <= page
        seen += [c.id for c in got.items]
        since = got.next_cursor
        if not got.has_more:
            return seen, since


def test_changes_since_a_time_are_the_conversations_with_newer_activity_oldest_first(conn, data):
    cases = data[1]
    for user in (cases.heavy_users[0], cases.typical_users[0], cases.ties_user):
        times = sorted(r[0] for r in conn.execute(
            "SELECT last_activity_at FROM conversations WHERE user_id = %s", (user,)))
        for since in (times[0] - timedelta(seconds=1), times[len(times) // 2], times[-1]):
            assert walk_changes(conn, user, since, 7)[0] == truth_changed(conn, user, since), (user, since)


def test_a_refresh_after_sends_returns_just_the_conversations_that_moved(conn, data):
    cases = data[1]
    user = cases.heavy_users[0]
    _, cursor = walk_changes(conn, user, datetime(2000, 1, 1, tzinfo=timezone.utc), 100)
    assert api.changed_conversations(conn, user, cursor).items == ()
    convs = [r[0] for r in conn.execute(
        "SELECT id FROM conversations WHERE user_id = %s ORDER BY id LIMIT 3", (user,))]
    for conv in (convs[2], convs[0], convs[1], convs[2]):
        api.send_message(conn, user, conv, "user", "moved")
    got = api.changed_conversations(conn, user, cursor)
    assert [c.id for c in got.items] == [convs[0], convs[1], convs[2]]  # each once, oldest change first
    assert got.items[-1].last_message_preview == "moved" and not got.has_more
    again = api.changed_conversations(conn, user, got.next_cursor)
    assert again.items == () and again.next_cursor == got.next_cursor


def test_changes_refuse_a_naive_time_and_a_foreign_cursor(conn, data):
    cases = data[1]
    with pytest.raises(InvalidInput, match="^since must be a timezone-aware datetime or a next_cursor"):
        api.changed_conversations(conn, cases.ties_user, datetime(2026, 1, 1))
    with pytest.raises(InvalidInput, match="^since must be a timezone-aware datetime"):
        api.changed_conversations(conn, cases.ties_user, None)  # type: ignore[arg-type]
    theirs = api.changed_conversations(conn, cases.heavy_users[0], datetime(2000, 1, 1, tzinfo=timezone.utc))
    with pytest.raises(InvalidInput, match="^since is malformed or was tampered with"):
        api.changed_conversations(conn, cases.ties_user, theirs.next_cursor)


def test_the_async_api_returns_what_the_sync_api_returns(data):
    dsn, cases = data
    owner, conv = cases.ties
    since = datetime(2026, 1, 1, tzinfo=timezone.utc)

    async def run() -> tuple[object, object]:
        async with await psycopg.AsyncConnection.connect(dsn) as aconn:
            return (await api_async.catch_up(aconn, owner, conv, limit=9),
                    await api_async.changed_conversations(aconn, cases.heavy_users[0], since, limit=9))

    with psycopg.connect(dsn) as conn:
        assert asyncio.run(run()) == (api.catch_up(conn, owner, conv, limit=9),
                                      api.changed_conversations(conn, cases.heavy_users[0], since, limit=9))
