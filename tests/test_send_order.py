"""send_message keeps (created_at, id) growing per conversation in commit order, whatever the clock says.

A conversation's newest message can be later than the server's clock (imported data, a clock
stepped back, a failover to a host whose clock is behind). The send must still store a newer
created_at than the newest message, so the summary, the list and the view agree on which message
is the newest.
"""

from __future__ import annotations

import threading
import uuid

import psycopg
import pytest

from chatschema import api, migrate
from chatschema.queries import send_message

from .populate import summary_mismatches

SENDERS = 6
SENDS_EACH = 25


@pytest.fixture(scope="module")
def head(new_database):
    settings = new_database("send_order")
    migrate.upgrade(settings)
    return settings.dsn


def conversation(dsn: str, *, newest_in: str | None = None) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID | None]:
    """(user, conversation, newest message): a conversation whose one message is ``newest_in`` from now."""
    user, conv = uuid.uuid4(), uuid.uuid4()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO users (id, name) VALUES (%s, 'u')", (user,))
        conn.execute("INSERT INTO conversations (id, user_id, title) VALUES (%s, %s, 't')", (conv, user))
        if newest_in is None:
            return user, conv, None
        message = uuid.uuid4()
        with conn.transaction():
            conn.execute(
                "INSERT INTO messages (id, user_id, conversation_id, role, content, created_at) "
                "VALUES (%s, %s, %s, 'user', 'from the future', now() + %s::interval)", (message, user, conv, newest_in))
            conn.execute(
                "UPDATE conversations c SET message_count = 1, last_message_id = m.id, last_activity_at = m.created_at, "
                "last_message_preview = m.content FROM messages m WHERE m.id = %s AND c.id = %s", (message, conv))
        return user, conv, message


def newest(conn: psycopg.Connection, conv: uuid.UUID) -> uuid.UUID:
    return conn.execute("SELECT id FROM messages WHERE conversation_id = %s ORDER BY created_at DESC, id DESC LIMIT 1",
                        (conv,)).fetchone()[0]


@pytest.mark.parametrize("ahead", ["1 day", "1 second", "1 millisecond"])
def test_a_send_to_a_conversation_whose_newest_message_is_in_the_future(head, ahead):
    user, conv, future = conversation(head, newest_in=ahead)
    with psycopg.connect(head, autocommit=True) as conn:
        before = api.conversation_view(conn, user, conv)
        sent = api.send_message(conn, user, conv, "assistant", "after it")
        assert sent.created_at > before.last_activity_at
        view = api.conversation_view(conn, user, conv)
        assert [m.id for m in view.messages.items] == [sent.id, future]
        assert (view.last_activity_at, view.message_count) == (sent.created_at, 2)
        assert api.list_conversations(conn, user).items[0].last_message_id == sent.id
        assert newest(conn, conv) == sent.id
        assert summary_mismatches(conn) == 0


def test_a_send_to_an_ordinary_conversation_is_stamped_with_the_statement_time(head):
    """The twin: with no message ahead of the clock the stored time is the statement's, not moved."""
    user, conv, _ = conversation(head)
    with psycopg.connect(head, autocommit=True) as conn:
        sent = api.send_message(conn, user, conv, "user", "now")
        gap = conn.execute("SELECT clock_timestamp() - %s AS gap", (sent.created_at,)).fetchone()[0]
    assert gap.total_seconds() < 60 and gap.total_seconds() >= 0


def test_the_send_uses_no_volatile_function():
    """A distributed UPDATE refuses VOLATILE functions (Citus): the send's time is STABLE."""
    assert "clock_timestamp()" not in send_message.OPTIMIZED.sql
    assert "statement_timestamp()" in send_message.OPTIMIZED.sql


def test_concurrent_senders_keep_the_newest_message_the_summary_points_at(head):
    user, conv, future = conversation(head, newest_in="200 milliseconds")
    errors: list[BaseException] = []
    start = threading.Barrier(SENDERS)
    ticks = iter(range(10**9))  # next() on it is atomic under the GIL: a global order of events
    calls: list[tuple[int, int, api.SentMessage]] = []  # (started, returned, sent)

    def sender(n: int) -> None:
        try:
            with psycopg.connect(head, autocommit=True) as conn:
                start.wait()
                for i in range(SENDS_EACH):
                    began = next(ticks)
                    sent = api.send_message(conn, user, conv, "user", f"{n}/{i}")
                    calls.append((began, next(ticks), sent))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(SENDERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    with psycopg.connect(head) as conn:
        row = conn.execute(
            "SELECT count(*) AS n, count(DISTINCT created_at) AS times, min(created_at) AS first FROM messages "
            "WHERE conversation_id = %s", (conv,)).fetchone()
        assert row[0] == row[1] == SENDERS * SENDS_EACH + 1  # no two messages share a time
        summary = conn.execute("SELECT last_message_id, last_activity_at, message_count FROM conversations "
                               "WHERE id = %s", (conv,)).fetchone()
        newest_at = conn.execute("SELECT max(created_at) FROM messages WHERE conversation_id = %s", (conv,)).fetchone()[0]
        assert summary == (newest(conn, conv), newest_at, SENDERS * SENDS_EACH + 1)
        # every send came after the message from the future, however far the clock was behind
        first = conn.execute("SELECT id FROM messages WHERE conversation_id = %s ORDER BY created_at, id LIMIT 1",
                             (conv,)).fetchone()[0]
        assert first == future
        assert summary_mismatches(conn) == 0
    # commit order: a send that returned (committed) before another began is older than it
    for began, _, later in calls:
        for _, returned, earlier in calls:
            if returned < began:
                assert (earlier.created_at, earlier.id) < (later.created_at, later.id)
