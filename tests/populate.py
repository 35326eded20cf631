"""A small populated database at today's schema, and the checksums that prove nothing was lost."""

from __future__ import annotations

from collections.abc import Iterable

import psycopg

from chatschema.migrate.backfill import summary_mismatches

__all__ = ["populate", "one_user", "USER_ID", "checksums", "summary_mismatches"]

POPULATE = """
INSERT INTO users (id, name, created_at)
SELECT md5('u' || u)::uuid, 'user ' || u, timestamptz '2026-01-01' + u * interval '1 minute'
FROM generate_series(1, %(users)s) AS u;

-- user 1 owns a fifth of all conversations; the rest are spread evenly; some users own none
INSERT INTO conversations (id, user_id, title, created_at, updated_at)
SELECT md5('c' || c)::uuid,
       md5('u' || CASE WHEN c %% 5 = 0 THEN 1 ELSE 2 + c %% (%(users)s - 3) END)::uuid,
       'conversation ' || c,
       timestamptz '2026-02-01' + (c %% 1000) * interval '1 second',
       timestamptz '2026-02-01' + (c %% 1000) * interval '1 second'
FROM generate_series(1, %(conversations)s) AS c;

-- conversation 1 holds a third of all messages; timestamps repeat so ordering needs its tie-breaker;
-- every tenth conversation stays empty
INSERT INTO messages (id, conversation_id, role, content, created_at)
SELECT md5('m' || m)::uuid,
       md5('c' || CASE WHEN m %% 3 = 0 THEN 1 ELSE 1 + ((m * 7) %% %(conversations)s) END)::uuid,
       (ARRAY['user', 'assistant', 'system', 'tool'])[1 + m %% 4],
       repeat('message ' || m || ' ', 1 + m %% 40),
       timestamptz '2026-03-01' + (m / 3) * interval '1 second'
FROM generate_series(1, %(messages)s) AS m
WHERE (CASE WHEN m %% 3 = 0 THEN 1 ELSE 1 + ((m * 7) %% %(conversations)s) END) %% 10 <> 0;
"""

CHECKSUMS = {
    "users": "SELECT count(*), md5(string_agg(id::text || name || created_at::text, ',' ORDER BY id)) FROM users",
    "conversations": (
        "SELECT count(*), md5(string_agg(id::text || user_id::text || title || created_at::text || updated_at::text,"
        " ',' ORDER BY id)) FROM conversations"
    ),
    "messages": (
        "SELECT count(*), md5(string_agg(id::text || conversation_id::text || role || content || created_at::text,"
        " ',' ORDER BY id)) FROM messages"
    ),
}



def populate(conn: psycopg.Connection, *, users: int = 300, conversations: int = 3000, messages: int = 30000) -> None:
    params = {"users": users, "conversations": conversations, "messages": messages}
    for statement in POPULATE.split(";\n"):
        if statement.strip():
            conn.execute(statement, params)
    conn.commit()


def checksums(conn: psycopg.Connection) -> dict[str, tuple]:
    return {table: tuple(conn.execute(query).fetchone()) for table, query in CHECKSUMS.items()}


USER_ID = "00000000-0000-0000-0000-000000000001"


def one_user(conn: psycopg.Connection, conversations: int = 1, messages_each: int = 0, *,
             messages: Iterable[tuple[str, str]] = ()) -> str:
    """User USER_ID owning ``conversations`` conversations titled 't', each with ``messages_each`` 'user'
    messages 'hi', and ``messages`` ((id, role) pairs, content 'x') in the first one, whose id it returns.
    Works at every revision (0001's columns, and messages.user_id from 0009); commits on a non-autocommit
    connection."""
    owned = conn.execute("SELECT 1 FROM pg_attribute WHERE attrelid = 'messages'::regclass AND attname = 'user_id' "
                         "AND NOT attisdropped").fetchone() is not None
    owner_column, owner_value = (", user_id", ", %(user)s") if owned else ("", "")
    conn.execute("INSERT INTO users (id, name) VALUES (%s, 'u')", (USER_ID,))
    conn.execute("INSERT INTO conversations (id, user_id, title) SELECT gen_random_uuid(), %s, 't' "
                 "FROM generate_series(1, %s)", (USER_ID, conversations))
    if messages_each:
        conn.execute(f"INSERT INTO messages (id, conversation_id, role, content{owner_column}) "
                     f"SELECT gen_random_uuid(), id, 'user', 'hi'{owner_value} FROM conversations, "
                     f"generate_series(1, %(n)s)", {"n": messages_each, "user": USER_ID})
    first = conn.execute("SELECT id::text FROM conversations ORDER BY id LIMIT 1").fetchone()
    assert first is not None
    for message_id, role in messages:
        conn.execute(f"INSERT INTO messages (id, conversation_id, role, content{owner_column}) "
                     f"VALUES (%(id)s, %(conv)s, %(role)s, 'x'{owner_value})",
                     {"id": message_id, "conv": first[0], "role": role, "user": USER_ID})
    if not conn.autocommit:
        conn.commit()
    return first[0]
