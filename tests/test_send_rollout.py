"""The deploy order of the send around revisions 0009-0015 (docs/design.md "Distribution-ready keys").

The send of 0003-0008 (ROLLOUT_0003) does not name messages.user_id: 0009's trigger fills it until
0015 drops the trigger. The head send writes user_id, so it needs 0009. Each statement is shown
working where the rollout runs it and failing where it must not be run.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg import errors as pg_errors

from chatschema import migrate
from chatschema import queries as catalog
from chatschema.queries import send_message

HEAD_SEND = catalog.get("send_message")


def conversation(dsn: str) -> tuple[uuid.UUID, uuid.UUID]:
    user, conv = uuid.uuid4(), uuid.uuid4()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO users (id, name) VALUES (%s, 'u')", (user,))
        conn.execute("INSERT INTO conversations (id, user_id, title) VALUES (%s, %s, 't')", (conv, user))
    return user, conv


def send(dsn: str, sql: str, user: uuid.UUID, conv: uuid.UUID) -> uuid.UUID:
    message = uuid.uuid4()
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(sql, {"message_id": message, "content": "hi", "conversation_id": conv, "user_id": user,
                                 "role": "user"}).fetchone()
        assert row is not None
    return message


def owner(dsn: str, message: uuid.UUID) -> uuid.UUID | None:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT user_id FROM messages WHERE id = %s", (message,)).fetchone()[0]


@pytest.mark.parametrize("revision", ["0009", "0011", "0014"])
def test_the_older_send_keeps_working_until_0015_and_its_messages_get_their_owner(new_database, revision):
    settings = new_database(f"rollout_{revision}")
    migrate.upgrade(settings, revision)
    user, conv = conversation(settings.dsn)
    assert owner(settings.dsn, send(settings.dsn, send_message.ROLLOUT_0003.sql, user, conv)) == user
    assert owner(settings.dsn, send(settings.dsn, HEAD_SEND.sql, user, conv)) == user


def test_at_head_the_older_send_is_refused_and_the_head_send_works(new_database):
    settings = new_database("rollout_head")
    migrate.upgrade(settings)
    user, conv = conversation(settings.dsn)
    with pytest.raises(pg_errors.NotNullViolation):
        send(settings.dsn, send_message.ROLLOUT_0003.sql, user, conv)
    assert owner(settings.dsn, send(settings.dsn, HEAD_SEND.sql, user, conv)) == user


def test_before_0009_the_head_send_is_refused(new_database):
    settings = new_database("rollout_0008")
    migrate.upgrade(settings, "0008")
    user, conv = conversation(settings.dsn)
    with pytest.raises(pg_errors.UndefinedColumn):
        send(settings.dsn, HEAD_SEND.sql, user, conv)
    send(settings.dsn, send_message.ROLLOUT_0003.sql, user, conv)
