"""What ``seed --replace`` may empty: chatschema's three tables, and an application's table only when
the DBA names it.

``TRUNCATE users CASCADE`` empties every table whose foreign key refers to users, conversations or
messages, and the tables referring to those in turn: an application's audit log or billing table
would lose its rows without a word. So the cascade's reach is read from the catalog first
(``sql/truncate_reach.sql``) and a replace is refused, naming each such table and the key that
reaches it, unless every one of them is named with ``--also-truncate``; then exactly those tables
are listed in the TRUNCATE, without CASCADE, so that nothing unnamed can be emptied.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.rows import class_row

from ..errors import ConfigError
from .statements import read

__all__ = ["TABLES", "Reached", "reached", "truncate_statement"]

TABLES = ("users", "conversations", "messages")
TRUNCATE_REACH = read("truncate_reach")


@dataclass(frozen=True)
class Reached:
    """A table outside chatschema's that the cascade would empty, and the foreign key that takes it there."""

    table_name: str  # as regclass prints it: schema-qualified when not on the search_path
    constraint_name: str
    referenced: str


def reached(conn: psycopg.Connection) -> list[Reached]:
    """The tables outside chatschema's that ``TRUNCATE users, conversations, messages CASCADE`` would empty."""
    with conn.cursor(row_factory=class_row(Reached)) as cur:
        return cur.execute(TRUNCATE_REACH, {"tables": list(TABLES)}).fetchall()


def _spelled(conn: psycopg.Connection, names: Sequence[str]) -> dict[str, str]:
    """Each name given to --also-truncate, as regclass prints it (None when there is no such table)."""
    found: dict[str, str] = {}
    for name in names:
        row = conn.execute("SELECT to_regclass(%s)::text", (name,)).fetchone()
        if row is None or row[0] is None:
            raise ConfigError(f"--also-truncate {name}: no such table; nothing was changed")
        found[name] = row[0]
    return found


def truncate_statement(conn: psycopg.Connection, also: Sequence[str], target: str) -> sql.Composed:
    """The TRUNCATE that empties chatschema's tables and the named ``also`` tables, and nothing else.

    Refused (ConfigError) when the cascade reaches a table not named, naming each one, or when a
    named table is not one the cascade reaches (it would be emptied for nothing).
    """
    reach = reached(conn)
    given = _spelled(conn, also)
    named = set(given.values())
    missing = [r for r in reach if r.table_name not in named]
    if missing:
        tables = ", ".join(f"{r.table_name} (foreign key {r.constraint_name} -> {r.referenced})" for r in missing)
        flags = " ".join(f"--also-truncate {r.table_name}" for r in missing)
        raise ConfigError(
            f"--replace would also empty {tables} in {target}: TRUNCATE ... CASCADE empties every table whose "
            f"foreign key refers to chatschema's tables, and chatschema does not own "
            f"{'this one' if len(missing) == 1 else 'these'}. Nothing was changed. To empty "
            f"{'it' if len(missing) == 1 else 'them'} too, pass {flags}"
        )
    unreached = [name for name, table in given.items() if table not in {r.table_name for r in reach}]
    if unreached:
        raise ConfigError(
            f"--also-truncate {', '.join(unreached)}: no foreign key of {'it' if len(unreached) == 1 else 'theirs'} "
            f"refers to users, conversations or messages, so --replace has no reason to empty it; nothing was changed"
        )
    # regclass text is already quoted where it needs to be (to_regclass(...)::text).
    tables = [sql.Identifier(t) for t in TABLES] + [sql.SQL(name) for name in sorted(named)]
    return sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(tables))
