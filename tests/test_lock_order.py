"""Lock order: a revision that locks both hot tables takes them in the order the deployed send does.

The send is one statement that locks its conversation, then inserts the message: conversations
first, then messages, whether PostgreSQL parses it or runs it prepared (psycopg prepares a
statement on its fifth execution, and a prepared statement locks its tables in the order of the
plan's range table, not of the text). A revision that held messages and then waited for
conversations, or let the send's row lock through on conversations and then waited for messages,
would wait on a sender that waits on it. PostgreSQL's deadlock detector then cancels one of the two,
whichever waited longer: the application's send as often as not.

Each case builds the worst interleaving on purpose: a session holds the revision's first table, the
revision's transaction queues behind it, a sender starts and takes what it can, then the session
lets go. In the chain's order both finish. The twin runs the same interleaving with the revision's
first two tables' statements swapped and sees the deadlock.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import replace

import psycopg
import pytest
from psycopg import errors as pg_errors

from chatschema import migrate
from chatschema import queries as catalog
from chatschema.migrate import offline
from chatschema.queries import send_message
from chatschema.settings import Settings

HEAD_SEND = catalog.get("send_message").sql

# (revision, the send the application runs while it is applied: docs/design.md, the rollout)
CASES = [
    ("0008", send_message.ROLLOUT_0003.sql),
    ("0013", HEAD_SEND),
    ("0015", HEAD_SEND),
]


def transactional_statements(revision: str, settings: Settings) -> list[tuple[str, str]]:
    """The revision's statements up to its first autocommit block, each with the table it locks."""
    previous = next(r.down_revision for r in migrate.history() if r.revision == revision)
    planned = offline.planned_statements(offline.render(f"{previous}:{revision}"), settings)
    out: list[tuple[str, str]] = []
    for p in planned:
        if not p.origin.endswith(".py") or f"/{revision}_" not in p.origin:
            continue
        if not p.in_transaction:
            break
        out.append((p.sql, p.lock.locks[0].relation if p.lock and p.lock.locks else ""))
    return out


def swap_first_tables(statements: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The same statements, the first statement on the second table moved to the front."""
    first = statements[0][1]
    other = next(i for i, (_, table) in enumerate(statements) if table and table != first)
    return [statements[other], *statements[:other], *statements[other + 1:]]


def wait_until_waiting(dsn: str, pid: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if conn.execute("SELECT EXISTS (SELECT FROM pg_locks WHERE pid = %s AND NOT granted)", (pid,)).fetchone()[0]:
                return
            time.sleep(0.01)
    raise AssertionError(f"backend {pid} never waited for a lock")


def interleave(dsn: str, statements: list[tuple[str, str]], send_sql: str, params: dict, *,
               prepared: bool) -> list[BaseException]:
    """Hold the first table, queue the revision behind it, start a send, let go; the errors seen."""
    errors: list[BaseException] = []

    def guarded(work: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                work()
            except BaseException as exc:  # noqa: BLE001 - the test reports whatever either side saw
                errors.append(exc)
        return run

    with psycopg.connect(dsn) as holder, psycopg.connect(dsn) as migrator, \
            psycopg.connect(dsn, autocommit=True) as sender:
        if prepared:  # the plan's range table decides the order from here on
            sender.execute(send_sql, {**params, "message_id": uuid.uuid4()}, prepare=True)
        holder.execute(f"LOCK TABLE {statements[0][1]} IN ACCESS EXCLUSIVE MODE")

        def migrate_() -> None:
            with migrator.transaction():
                for sql, _ in statements:
                    migrator.execute(sql)

        revision = threading.Thread(target=guarded(migrate_))
        revision.start()
        wait_until_waiting(dsn, migrator.info.backend_pid)
        send = threading.Thread(target=guarded(
            lambda: sender.execute(send_sql, {**params, "message_id": uuid.uuid4()}, prepare=prepared)))
        send.start()
        wait_until_waiting(dsn, sender.info.backend_pid)
        holder.rollback()
        revision.join(30)
        send.join(30)
        assert not revision.is_alive() and not send.is_alive(), "the revision or the send still waits"
    return errors


@pytest.fixture(scope="module")
def at_revision(new_database) -> Callable[[str], tuple[Settings, dict]]:
    """A database just below ``revision``, holding one user and one conversation to send to."""
    def make(revision: str) -> tuple[Settings, dict]:
        settings = new_database(f"lock_order_{revision}")
        previous = next(r.down_revision for r in migrate.history() if r.revision == revision)
        migrate.upgrade(settings, previous)
        user, conv = uuid.uuid4(), uuid.uuid4()
        with psycopg.connect(settings.dsn, autocommit=True) as conn:
            conn.execute("INSERT INTO users (id, name) VALUES (%s, 'u')", (user,))
            conn.execute("INSERT INTO conversations (id, user_id, title) VALUES (%s, %s, 't')", (conv, user))
        return settings, {"conversation_id": conv, "user_id": user, "role": "user", "content": "hi"}
    return make


@pytest.mark.parametrize("prepared", [False, True], ids=["parsed", "prepared"])
@pytest.mark.parametrize(("revision", "send_sql"), CASES, ids=[c[0] for c in CASES])
def test_a_revision_that_locks_both_tables_never_deadlocks_with_the_deployed_send(
        at_revision, revision: str, send_sql: str, prepared: bool):
    settings, params = at_revision(revision)
    statements = transactional_statements(revision, settings)
    assert statements[0][1] == "conversations", f"{revision} must lock conversations first"
    assert interleave(settings.dsn, statements, send_sql, params, prepared=prepared) == []
    with psycopg.connect(settings.dsn) as conn:
        assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 1 + prepared


@pytest.mark.parametrize(("revision", "send_sql"), CASES, ids=[c[0] for c in CASES])
def test_twin_the_same_revision_locking_messages_first_deadlocks_with_the_send(
        at_revision, revision: str, send_sql: str):
    settings, params = at_revision(revision)
    statements = swap_first_tables(transactional_statements(revision, settings))
    errors = interleave(settings.dsn, statements, send_sql, params, prepared=True)
    assert any(isinstance(e, pg_errors.DeadlockDetected) for e in errors), errors


def test_twin_a_send_that_joins_messages_in_its_final_select_locks_messages_first_when_prepared(at_revision):
    """The head send before its stored-row lookup moved into a CTE: the 0015 interleaving deadlocks."""
    settings, params = at_revision("0015")
    ctes = HEAD_SEND[:HEAD_SEND.index(",\nstored AS MATERIALIZED (")]
    old_shape = ctes + f"""
SELECT id, conversation_id, role, created_at, 'stored' AS outcome
FROM msg
UNION ALL
SELECT m.id, m.conversation_id, m.role, m.created_at, {send_message._COMPARED} AS outcome
FROM conv
LEFT JOIN messages AS m ON m.id = %(message_id)s AND m.user_id = %(user_id)s
WHERE NOT EXISTS (SELECT FROM msg)
"""
    errors = interleave(settings.dsn, transactional_statements("0015", settings), old_shape, params, prepared=True)
    assert any(isinstance(e, pg_errors.DeadlockDetected) for e in errors), errors


def _waiting_for(dsn: str, table: str, mode: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if conn.execute("SELECT EXISTS (SELECT FROM pg_locks WHERE relation = to_regclass(%s) AND mode = %s "
                            "AND NOT granted)", (table, mode)).fetchone()[0]:
                return
            time.sleep(0.01)
    raise AssertionError(f"nobody waited for {mode} on {table}")


def _deadlock_during_0015(settings: Settings) -> tuple[list[str], list[BaseException], BaseException | None]:
    """An application transaction that holds messages and then reads conversations while 0015 holds
    conversations and waits for messages. The revision waited first, so with a lock_timeout longer than
    deadlock_timeout its own deadlock check fires first and PostgreSQL cancels the revision."""
    warnings: list[str] = []
    app_errors: list[BaseException] = []
    failure: list[BaseException] = []
    with psycopg.connect(settings.dsn) as app:
        app.execute("LOCK TABLE messages IN ROW EXCLUSIVE MODE")

        def upgrade() -> None:
            try:
                migrate.upgrade(settings, "0015", on_warning=warnings.append)
            except BaseException as exc:  # noqa: BLE001 - the test reports it
                failure.append(exc)

        thread = threading.Thread(target=upgrade)
        thread.start()
        _waiting_for(settings.dsn, "messages", "AccessExclusiveLock")
        try:
            app.execute("SELECT count(*) FROM conversations").fetchone()
            app.commit()
        except BaseException as exc:  # noqa: BLE001
            app_errors.append(exc)
        thread.join(60)
    return warnings, app_errors, failure[0] if failure else None


def test_a_revision_the_deadlock_detector_cancels_is_rolled_back_and_retried(at_revision):
    settings, _ = at_revision("0015")
    settings = replace(settings, lock_timeout_ms=5000, retry_delay_ms=100)
    warnings, app_errors, failure = _deadlock_during_0015(settings)
    assert app_errors == [] and failure is None, (app_errors, failure)
    assert migrate.current(settings) == "0015"
    assert any(w.startswith("a deadlock with another session cancelled revision 0015 (") and "retry 1 of" in w
               for w in warnings), warnings


def test_twin_without_retries_the_deadlock_fails_the_upgrade_and_the_database_stays_below(at_revision):
    settings, _ = at_revision("0015")
    settings = replace(settings, lock_timeout_ms=5000, lock_retries=0)
    _, app_errors, failure = _deadlock_during_0015(settings)
    assert app_errors == [] and failure is not None and "deadlock" in str(failure).lower()
    assert migrate.current(settings) == "0014"
