"""Idempotent send: a client-supplied message id stores one message whatever the retries and races."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Iterator

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from chatschema import api, api_async, api_citus, migrate
from chatschema import queries as catalog
from chatschema.errors import MessageIdConflict, NotFound
from chatschema.migrate.backfill import summary_mismatches

from .test_api import round_trips

CONVERSATIONS = 10


@pytest.fixture(scope="module")
def empty_head(new_database):
    """Head with users and empty conversations; each test takes a clone."""
    settings = new_database("idem_template")
    migrate.upgrade(settings, "head")
    owner, other = uuid.UUID(int=1), uuid.UUID(int=2)
    with psycopg.connect(settings.dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO users (id, name) VALUES (%s, 'owner'), (%s, 'other')", (owner, other))
        for i in range(CONVERSATIONS):
            conn.execute("INSERT INTO conversations (id, user_id, title) VALUES (%s, %s, 't')",
                         (uuid.UUID(int=100 + i), owner))
        conn.execute("INSERT INTO conversations (id, user_id, title) VALUES (%s, %s, 'theirs')",
                     (uuid.UUID(int=999), other))
        # The send Citus delegates (send_message.citus) is plain PL/pgSQL: on one node it must give the
        # statement's answers, which the tests marked SENDS check side by side.
        conn.execute(api_citus.CREATE_FUNCTION)
    return settings


@pytest.fixture
def dsn(empty_head, new_database) -> str:
    return new_database("idem", template=empty_head).dsn


OWNER = uuid.UUID(int=1)
CONV = uuid.UUID(int=100)
SENDS = pytest.mark.parametrize("send", [api.send_message, api_citus.send_message],
                                ids=["one statement", "delegated function"])


def state(conn: psycopg.Connection) -> tuple:
    return conn.execute(
        "SELECT (SELECT count(*) FROM messages),"
        " (SELECT array_agg((id, message_count, last_activity_at, last_message_id, last_message_preview) ORDER BY id)"
        "    FROM conversations),"
        " (SELECT array_agg((id, created_at, content) ORDER BY id) FROM messages)").fetchone()


@SENDS
def test_a_retry_returns_the_stored_message_and_changes_nothing(send, dsn):
    mid = uuid.uuid4()
    with psycopg.connect(dsn, autocommit=True) as conn:
        first = send(conn, OWNER, CONV, "user", "hello", message_id=mid)
        before = state(conn)
        with round_trips(conn) as trips:
            again = send(conn, OWNER, CONV, "user", "hello", message_id=str(mid))
        assert trips == [1]  # no race: the retry is one round trip too
        assert state(conn) == before
        assert (first.replayed, again.replayed) == (False, True)
        assert (again.id, again.conversation_id, again.role, again.created_at) == (
            first.id, first.conversation_id, first.role, first.created_at)
        assert before[0] == 1 and summary_mismatches(conn) == 0


@SENDS
def test_a_retry_after_newer_messages_keeps_the_summary_on_the_newest(send, dsn):
    mid = uuid.uuid4()
    with psycopg.connect(dsn, autocommit=True) as conn:
        send(conn, OWNER, CONV, "user", "first", message_id=mid)
        newer = send(conn, OWNER, CONV, "assistant", "second")
        before = state(conn)
        assert send(conn, OWNER, CONV, "user", "first", message_id=mid).replayed
        assert state(conn) == before
        row = conn.execute("SELECT last_message_id, message_count FROM conversations WHERE id = %s",
                           (CONV,)).fetchone()
        assert row == (newer.id, 2)


def test_without_a_message_id_every_send_stores_a_new_message(dsn):
    with psycopg.connect(dsn, autocommit=True) as conn:
        a = api.send_message(conn, OWNER, CONV, "user", "same")
        b = api.send_message(conn, OWNER, CONV, "user", "same")
        assert a.id != b.id and not a.replayed and not b.replayed
        assert state(conn)[0] == 2


@SENDS
@pytest.mark.parametrize(("change", "said"), [
    ({"conversation_id": uuid.UUID(int=101)}, "in another conversation"),
    ({"role": "assistant"}, "with a different role"),
    ({"content": "hello!"}, "with a different content"),
])
def test_the_same_id_with_other_fields_is_refused_and_writes_nothing(send, dsn, change, said):
    mid = uuid.uuid4()
    with psycopg.connect(dsn, autocommit=True) as conn:
        send(conn, OWNER, CONV, "user", "hello", message_id=mid)
        before = state(conn)
        args = {"user_id": OWNER, "conversation_id": CONV, "role": "user", "content": "hello", **change}
        with pytest.raises(MessageIdConflict) as raised:
            send(conn, message_id=mid, **args)
        assert str(raised.value) == (
            f"message_id {mid} is already stored {said}; a retry must repeat the original conversation, "
            f"role and content, and a new message needs a new id")
        assert "\n" not in str(raised.value)
        assert state(conn) == before


@SENDS
def test_a_retry_into_someone_elses_conversation_is_not_found(send, dsn):
    mid = uuid.uuid4()
    with psycopg.connect(dsn, autocommit=True) as conn:
        send(conn, OWNER, CONV, "user", "hello", message_id=mid)
        before = state(conn)
        with pytest.raises(NotFound):
            send(conn, OWNER, uuid.UUID(int=999), "user", "hello", message_id=mid)
        assert state(conn) == before


def test_a_bad_message_id_is_rejected_before_any_sql():
    from chatschema.errors import InvalidInput

    with pytest.raises(InvalidInput, match="^message_id must be a UUID, got 'nope'$"):
        api.send_message(None, OWNER, CONV, "user", "hello", message_id="nope")  # type: ignore[arg-type]


def test_the_async_api_replays_the_same_way(dsn):
    import asyncio

    mid = uuid.uuid4()

    async def run() -> tuple[api.SentMessage, api.SentMessage]:
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as aconn:
            first = await api_async.send_message(aconn, OWNER, CONV, "user", "hello", message_id=mid)
            again = await api_async.send_message(aconn, OWNER, CONV, "user", "hello", message_id=mid)
            return first, again

    first, again = asyncio.run(run())
    assert (first.replayed, again.replayed) == (False, True) and first.created_at == again.created_at
    with psycopg.connect(dsn) as conn:
        assert state(conn)[0] == 1 and summary_mismatches(conn) == 0


# --- retries racing each other ------------------------------------------------------------------------


def stored_counted_mismatched(dsn: str) -> tuple[int, int, int]:
    """Messages stored, messages the summaries count, and conversations whose summary is off."""
    with psycopg.connect(dsn) as conn:
        stored, counted = conn.execute(
            "SELECT (SELECT count(*) FROM messages), (SELECT sum(message_count) FROM conversations)").fetchone()
        return stored, counted, summary_mismatches(conn)


def _race(dsn: str, ids: list[uuid.UUID], threads: int, send) -> tuple[list[BaseException], Counter]:
    """``threads`` clients send the same ``ids`` in the same order (message i into conversation i % 10),
    starting together; returns their errors and how often each statement ran."""
    errors: list[BaseException] = []
    executed: Counter = Counter()
    start = threading.Barrier(threads)

    class Counting(psycopg.Cursor):
        def execute(self, query, params=None, **kwargs):  # type: ignore[no-untyped-def, override]
            executed[query] += 1
            return super().execute(query, params, **kwargs)

    def client(pool: ConnectionPool) -> None:
        try:
            start.wait()
            for i, mid in enumerate(ids):
                with pool.connection() as conn:
                    send(conn, uuid.UUID(int=100 + i % CONVERSATIONS), mid, i)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    with ConnectionPool(dsn, min_size=threads, max_size=threads, open=True,
                        kwargs={"autocommit": True, "cursor_factory": Counting}) as pool:
        workers = [threading.Thread(target=client, args=(pool,)) for _ in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    return errors, executed


def test_eight_clients_retrying_the_same_thousand_ids_store_a_thousand_messages(dsn):
    ids = [uuid.uuid4() for _ in range(1000)]
    outcomes: Counter = Counter()
    lock = threading.Lock()
    created: dict[uuid.UUID, set] = {}

    def send(conn, conv, mid, i):
        sent = api.send_message(conn, OWNER, conv, "user", f"message {i}", message_id=mid)
        with lock:
            outcomes[sent.replayed] += 1
            created.setdefault(mid, set()).add(sent.created_at)

    errors, executed = _race(dsn, ids, 8, send)
    assert not errors, errors[:3]
    assert stored_counted_mismatched(dsn) == (1000, 1000, 0)
    assert outcomes == {False: 1000, True: 7000}
    assert [t for t in created.values() if len(t) != 1] == []  # every client was told the same created_at
    lost = executed[catalog.send_message.RACE_LOSER.sql]
    print(f"\nidempotent send, 8 clients x 1,000 ids: 1,000 stored, 7,000 replayed, "
          f"{lost:,} of 8,000 sends lost the race and needed a second round trip")
    assert executed[catalog.get("send_message").sql] == 8000


def test_eight_clients_retrying_through_the_delegated_function_store_each_id_once_in_one_call(dsn):
    ids = [uuid.uuid4() for _ in range(300)]
    outcomes: Counter = Counter()
    lock = threading.Lock()

    def send(conn, conv, mid, i):
        sent = api_citus.send_message(conn, OWNER, conv, "user", f"message {i}", message_id=mid)
        with lock:
            outcomes[sent.replayed] += 1

    errors, executed = _race(dsn, ids, 8, send)
    assert not errors, errors[:3]
    assert stored_counted_mismatched(dsn) == (300, 300, 0)
    assert outcomes == {False: 300, True: 2100}
    # a lost race is read by the function's own next statement, in its new snapshot: one call each
    assert executed == {api_citus.CALL: 2400}


# The check that only sees its own snapshot: correct for a retry that comes later, wrong for one that races.
NAIVE_SEND = """
WITH conv AS (
    UPDATE conversations
       SET message_count        = message_count + 1,
           last_activity_at     = greatest(statement_timestamp(), last_activity_at + interval '1 microsecond'),
           last_message_id      = %(message_id)s,
           last_message_preview = left(%(content)s, 100)
     WHERE id = %(conversation_id)s
       AND user_id = %(user_id)s
       AND NOT EXISTS (SELECT FROM messages WHERE id = %(message_id)s)
    RETURNING id, user_id, last_activity_at
)
INSERT INTO messages (id, user_id, conversation_id, role, content, created_at)
SELECT %(message_id)s, conv.user_id, conv.id, %(role)s, %(content)s, conv.last_activity_at
FROM conv
ON CONFLICT DO NOTHING
"""


def test_the_twin_a_snapshot_existence_check_counts_racing_retries_twice(dsn):
    ids = [uuid.uuid4() for _ in range(200)]

    def send(conn, conv, mid, i):
        conn.execute(NAIVE_SEND, {"message_id": mid, "content": f"message {i}", "conversation_id": conv,
                                  "user_id": OWNER, "role": "user"})

    # a later retry is caught by it ...
    with psycopg.connect(dsn, autocommit=True) as conn:
        send(conn, CONV, ids[0], 0)
        send(conn, CONV, ids[0], 0)
        assert summary_mismatches(conn) == 0
    # ... a racing one is not: no second row (the key), but the summary counted it
    errors, _ = _race(dsn, ids, 8, send)
    assert not errors, errors[:3]
    with psycopg.connect(dsn) as conn:
        stored, counted = conn.execute(
            "SELECT (SELECT count(*) FROM messages), (SELECT sum(message_count) FROM conversations)").fetchone()
        assert stored == 200
        assert counted > 200 and summary_mismatches(conn) > 0


@pytest.fixture
def blocked(dsn) -> Iterator[tuple[psycopg.Connection, uuid.UUID]]:
    """An uncommitted send of a fresh id in CONV (its transaction holds the row lock)."""
    mid = uuid.uuid4()
    with psycopg.connect(dsn) as holder:
        api.send_message(holder, OWNER, CONV, "user", "raced", message_id=mid)
        yield holder, mid
        holder.rollback()


def test_a_retry_that_waits_for_the_original_returns_it_after_it_commits(dsn, blocked):
    holder, mid = blocked
    result: list[object] = []

    def retry() -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            try:
                result.append(api.send_message(conn, OWNER, CONV, "user", "raced", message_id=mid))
            except BaseException as exc:  # noqa: BLE001
                result.append(exc)

    t = threading.Thread(target=retry)
    t.start()
    t.join(0.5)
    assert t.is_alive()  # waiting on the conversation's row lock
    original = holder.execute("SELECT created_at FROM messages WHERE id = %s", (mid,)).fetchone()[0]
    holder.commit()
    t.join(10)
    (sent,) = result
    assert isinstance(sent, api.SentMessage) and sent.replayed and sent.created_at == original
    with psycopg.connect(dsn) as conn:
        assert state(conn)[0] == 1 and summary_mismatches(conn) == 0
