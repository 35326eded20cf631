"""Chat content is Unicode: a database that cannot store it is refused before anything changes.

A message is whatever the user typed: emoji, CJK, Arabic. In a LATIN1 (or SQL_ASCII, WIN1252, ...)
database psycopg must encode every parameter to that encoding, so sending an emoji raises a raw
``UnicodeEncodeError`` in the application, on the first such message, long after the schema was
migrated. So ``upgrade`` (and its dry run) and ``stamp`` look at the database's encoding first and
refuse anything but UTF8, before adopting, pre-flighting or changing anything. Only reads.
"""

from __future__ import annotations

import psycopg

from .. import server
from ..errors import ConfigError

__all__ = ["REQUIRED", "database_encoding", "refusal", "require_utf8"]

REQUIRED = "UTF8"


def database_encoding(conn: psycopg.Connection) -> str:
    """The encoding the database stores text in (``server_encoding``: fixed when it was created)."""
    row = conn.execute("SELECT current_setting('server_encoding')").fetchone()
    return str(row[0]) if row else "unknown"


def refusal(target: str, encoding: str, action: str) -> str:
    """The one line that says why ``action`` refuses a database of ``encoding``, and what to do."""
    return (f"{target} has encoding {encoding}, not {REQUIRED}: chat content is Unicode, and {encoding} cannot "
            f"store emoji or most scripts (sending one fails with UnicodeEncodeError), so chatschema does not "
            f"{action} it; nothing was changed. Create a {REQUIRED} database (CREATE DATABASE ... ENCODING "
            f"'{REQUIRED}' TEMPLATE template0) and move the data into it (pg_dump | psql)")


def require_utf8(info: str, action: str) -> None:
    """Raise ConfigError unless the database of ``info`` is UTF8. Only reads."""
    with server.connect(info, autocommit=True) as conn:
        encoding = database_encoding(conn)
    if encoding != REQUIRED:
        raise ConfigError(refusal(server.describe_target(info), encoding, action))
