"""Peak RSS of exporting one conversation in a fresh process, and a conversation made to measure it.

Used by tests/test_export.py (a small version in CI) and tests/measure_export_rss.py (1,000,000 messages).
"""

from __future__ import annotations

import subprocess
import sys
import uuid

import psycopg

__all__ = ["make_conversation", "peak_rss_kb"]

_CHILD = """
import json, resource, sys, psycopg
from chatschema.export import export_messages
dsn, conversation, how = sys.argv[1:4]
with psycopg.connect(dsn, autocommit=True) as conn, open("/dev/null", "w") as out:
    if how == "stream":
        with export_messages(conn, conversation_id=conversation) as export:
            for m in export:
                out.write(json.dumps(m.as_json()) + "\\n")
    else:  # the naive export: every row in memory first
        for row in conn.execute("SELECT id, conversation_id, role, content, created_at FROM messages"
                                " WHERE conversation_id = %s ORDER BY created_at, id", (conversation,)).fetchall():
            out.write(json.dumps([str(row[0]), str(row[1]), row[2], row[3], row[4].isoformat()]) + "\\n")
# VmHWM, this process's own peak: ru_maxrss would be at least the forking parent's peak (Linux carries
# the old address space's high-water mark across fork + exec into ru_maxrss), 75 MB under pytest here.
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(int(hwm.split()[1]), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def make_conversation(dsn: str, messages: int, content_chars: int) -> uuid.UUID:
    """A new user and conversation holding ``messages`` messages of ``content_chars`` characters, summary exact."""
    user, conversation = uuid.uuid4(), uuid.uuid4()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO users (id, name) VALUES (%s, 'export')", (user,))
        conn.execute("INSERT INTO conversations (id, user_id, title) VALUES (%s, %s, 'export')", (conversation, user))
        conn.execute(
            "INSERT INTO messages (id, user_id, conversation_id, role, content, created_at)"
            " SELECT gen_random_uuid(), %(u)s, %(c)s, (ARRAY['user', 'assistant'])[1 + k %% 2],"
            "        left(repeat(md5(k::text), %(chars)s / 32 + 1), %(chars)s),"
            "        timestamptz '2026-01-01' + k * interval '1 millisecond'"
            " FROM generate_series(1, %(n)s) AS k", {"u": user, "c": conversation, "n": messages, "chars": content_chars})
        conn.execute(
            "UPDATE conversations c SET message_count = %(n)s, last_activity_at = l.created_at, last_message_id = l.id,"
            " last_message_preview = left(l.content, 100)"
            " FROM (SELECT id, created_at, content FROM messages WHERE conversation_id = %(c)s"
            "       ORDER BY created_at DESC, id DESC LIMIT 1) l WHERE c.id = %(c)s", {"c": conversation, "n": messages})
        conn.execute("VACUUM (ANALYZE) messages")
    return conversation


def peak_rss_kb(dsn: str, conversation: uuid.UUID, how: str = "stream") -> int:
    """Peak RSS (kB, VmHWM) of a fresh Python process that exports ``conversation`` to /dev/null."""
    done = subprocess.run([sys.executable, "-c", _CHILD, dsn, str(conversation), how],
                          capture_output=True, text=True, check=True)
    return int(done.stdout.strip().splitlines()[-1].split()[0])
