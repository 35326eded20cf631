"""The catalog's skewed data: chatschema seed's skew, plus the cases it lacks, and the cases found in it.

tests/conftest.py builds it once per session (``skewed_databases``): at revision 0001, and a copy
of that database upgraded to head. test_catalog.py and test_api.py read them or take clones.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import psycopg

from chatschema.seed import seed_database
from chatschema.settings import Settings

__all__ = ["EXTRAS", "SEED_MESSAGES", "Cases", "SkewedDatabases", "build", "pick_cases"]

# A user whose list is mostly ties (45 empty conversations created at the same instant); a
# conversation whose messages share timestamps in groups of five; one of exactly 20 messages; one
# whose messages sit either side of UTC midnights, with multi-byte content longer than a preview.
EXTRAS = """
INSERT INTO users (id, name, created_at) VALUES (md5('u-ties')::uuid, 'ties', '2026-01-01');

INSERT INTO conversations (id, user_id, title, created_at, updated_at)
SELECT md5('c-tied-' || k)::uuid, md5('u-ties')::uuid, 'tied ' || k, '2026-02-15', '2026-02-15'
FROM generate_series(1, 45) AS k;

INSERT INTO conversations (id, user_id, title, created_at, updated_at) VALUES
    (md5('c-ties')::uuid, md5('u-ties')::uuid, 'ties inside', '2026-02-15', '2026-02-15'),
    (md5('c-twenty')::uuid, md5('u-ties')::uuid, 'exactly twenty', '2026-02-15', '2026-02-15'),
    (md5('c-days')::uuid, md5('u-ties')::uuid, 'around midnight', '2026-02-15', '2026-02-15');

INSERT INTO messages (id, conversation_id, role, content, created_at)
SELECT md5('m-ties-' || k)::uuid, md5('c-ties')::uuid, (ARRAY['user', 'assistant'])[1 + k % 2],
       'tie ' || k, timestamptz '2026-04-01 00:00:00+00' + (k / 5) * interval '1 second'
FROM generate_series(0, 129) AS k;

INSERT INTO messages (id, conversation_id, role, content, created_at) VALUES
    (md5('m-ties-newest')::uuid, md5('c-ties')::uuid, 'assistant', 'the newest', '2026-04-01 01:00:00+00');

INSERT INTO messages (id, conversation_id, role, content, created_at)
SELECT md5('m-twenty-' || k)::uuid, md5('c-twenty')::uuid, 'user', 'twenty ' || k,
       timestamptz '2026-04-02 00:00:00+00' + k * interval '1 second'
FROM generate_series(1, 20) AS k;

INSERT INTO messages (id, conversation_id, role, content, created_at)
SELECT md5('m-days-' || d || '-' || s)::uuid, md5('c-days')::uuid, (ARRAY['user', 'assistant', 'tool'])[1 + d % 3],
       repeat('ünïcödé 🙂 ' || d || ' ', 12),
       timestamptz '2026-04-10 00:00:00+00' + d * interval '1 day' + s * interval '1 microsecond'
FROM generate_series(0, 9) AS d, generate_series(-1, 0) AS s;
"""


SEED_MESSAGES = 20_000  # the "tiny" shape at 4x: a whale of ~500 conversations, a conversation of 4,000 messages


def build(dsn: str) -> None:
    """Today's schema (revision 0001) filled with the seed's skewed data and the extras."""
    seed_database(dsn, scale="tiny", messages=SEED_MESSAGES, seed=7)
    with psycopg.connect(dsn) as conn:
        for statement in EXTRAS.split(";\n"):
            if statement.strip():
                conn.execute(statement)
        conn.execute("ANALYZE")
        conn.commit()


@dataclass(frozen=True)
class Cases:
    heavy_users: tuple[uuid.UUID, ...]
    typical_users: tuple[uuid.UUID, ...]
    empty_users: tuple[uuid.UUID, ...]
    ties_user: uuid.UUID
    # (owner, conversation)
    longest: tuple[tuple[uuid.UUID, uuid.UUID], ...]
    typical: tuple[tuple[uuid.UUID, uuid.UUID], ...]
    empty: tuple[tuple[uuid.UUID, uuid.UUID], ...]
    ties: tuple[uuid.UUID, uuid.UUID]
    twenty: tuple[uuid.UUID, uuid.UUID]
    days: tuple[uuid.UUID, uuid.UUID]

    @property
    def users(self) -> tuple[uuid.UUID, ...]:
        return tuple(dict.fromkeys((*self.heavy_users, *self.typical_users, *self.empty_users, self.ties_user)))

    @property
    def conversations(self) -> tuple[tuple[uuid.UUID, uuid.UUID], ...]:
        return tuple(dict.fromkeys((*self.longest, *self.typical, *self.empty, self.ties, self.twenty, self.days)))


def _ids(conn: psycopg.Connection, sql: str) -> tuple[Any, ...]:
    return tuple(r if len(r) > 1 else r[0] for r in conn.execute(sql).fetchall())


def pick_cases(conn: psycopg.Connection) -> Cases:
    """Heaviest, typical and empty users and conversations, found in the data rather than assumed."""
    per_user = "SELECT u.id, count(c.id) AS n FROM users u LEFT JOIN conversations c ON c.user_id = u.id GROUP BY u.id"
    per_conv = "SELECT c.user_id, c.id, count(m.id) AS n FROM conversations c LEFT JOIN messages m ON m.conversation_id = c.id GROUP BY c.id"
    special = "md5('u-ties')::uuid"
    return Cases(
        # the user with the most conversations, and the owner of the longest conversation
        heavy_users=_ids(conn, f"SELECT id FROM ({per_user}) s ORDER BY n DESC, id LIMIT 1")
        + _ids(conn, f"SELECT user_id FROM ({per_conv}) s ORDER BY n DESC, id LIMIT 1"),
        typical_users=_ids(conn, f"SELECT id FROM ({per_user}) s WHERE n BETWEEN 3 AND 20 ORDER BY id LIMIT 10"),
        empty_users=_ids(conn, f"SELECT id FROM ({per_user}) s WHERE n = 0 ORDER BY id LIMIT 2"),
        ties_user=_ids(conn, f"SELECT {special}")[0],
        longest=_ids(conn, f"SELECT user_id, id FROM ({per_conv}) s ORDER BY n DESC, id LIMIT 1"),
        typical=_ids(conn, f"SELECT user_id, id FROM ({per_conv}) s WHERE n BETWEEN 5 AND 15 ORDER BY id LIMIT 8"),
        empty=_ids(conn, f"SELECT user_id, id FROM ({per_conv}) s WHERE n = 0 ORDER BY id LIMIT 3"),
        ties=_ids(conn, f"SELECT {special}, md5('c-ties')::uuid")[0],
        twenty=_ids(conn, f"SELECT {special}, md5('c-twenty')::uuid")[0],
        days=_ids(conn, f"SELECT {special}, md5('c-days')::uuid")[0],
    )


@dataclass(frozen=True)
class SkewedDatabases:
    """The skewed data once per session. Both databases are templates: read them, never write them
    (a test that writes takes a clone, ``new_database(hint, template=...)``)."""

    at_0001: Settings  # migrated to 0001, then built
    at_head: Settings  # a clone of at_0001 upgraded to head and analyzed: the same rows
    cases: Cases  # picked at 0001; the upgrade changes no data
