"""Pre-flight: the application's foreign keys on a key a pending revision replaces.

0015 swaps the primary keys of conversations and messages from ``(id)`` to ``(id, user_id)``. An
application table with ``REFERENCES conversations (id)`` (bookmarks, attachments, read receipts)
depends on the old key's index: PostgreSQL refuses ``DROP CONSTRAINT conversations_pkey`` with
"cannot drop constraint ... because other objects depend on it", after the chain has run up to 0015,
and chatschema must not drop or rewrite a constraint that is not its own. So before anything is
changed (and in the dry run) every foreign key that depends on a key a pending revision drops, and
that no pending revision drops itself, is named with the change that lets the upgrade through.

Only reads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

from ..settings import Settings
from .chain import DEFAULT_LOCATION, RevisionInfo
from .offline import render

__all__ = ["Dependent", "blocking_foreign_keys", "describe"]

_TABLE = re.compile(r'^\s*ALTER\s+TABLE\s+(?:ONLY\s+)?"?(?P<table>\w+)"?', re.IGNORECASE)
_DROP = re.compile(r'DROP\s+CONSTRAINT\s+(?:IF\s+EXISTS\s+)?"?(?P<name>\w+)"?', re.IGNORECASE)

# The foreign keys that depend on the unique or primary key ``name`` of ``table``: their conindid is
# the referenced table's index that enforces it.
_DEPENDENTS = """
SELECT fk.conname, fk.conrelid::regclass::text, pg_get_constraintdef(fk.oid)
  FROM pg_constraint AS key
  JOIN pg_constraint AS fk ON fk.contype = 'f' AND fk.conindid = key.conindid AND fk.confrelid = key.conrelid
 WHERE key.contype IN ('p', 'u')
   AND key.conrelid = to_regclass(%(table)s)
   AND key.conname = %(name)s
 ORDER BY 2, 1
"""


@dataclass(frozen=True)
class Dependent:
    revision: str  # the revision that drops the key
    key: str  # e.g. conversations_pkey
    table: str  # the key's table
    foreign_key: str
    on_table: str  # the table the foreign key is on
    definition: str  # FOREIGN KEY (conversation_id) REFERENCES conversations(id)


def _drops(revisions: list[RevisionInfo], settings: Settings | None, location: str) -> list[tuple[str, str, str]]:
    """(revision, table, constraint) of every DROP CONSTRAINT the revisions run, in order."""
    found: list[tuple[str, str, str]] = []
    for rev in revisions:
        try:
            if "drop constraint" not in Path(rev.path).read_text().lower():
                continue
        except OSError:
            pass
        for item in render(f"{rev.down_revision or 'base'}:{rev.revision}", settings, location=location):
            table = _TABLE.match(item.sql)
            if table is not None:
                found += [(rev.revision, table["table"], m["name"]) for m in _DROP.finditer(item.sql)]
    return found


def blocking_foreign_keys(conn: psycopg.Connection, revisions: list[RevisionInfo], settings: Settings | None = None,
                          *, location: str = DEFAULT_LOCATION) -> list[Dependent]:
    """Foreign keys that would stop a pending revision from dropping the key they depend on."""
    drops = _drops(revisions, settings, location)
    dropped = {name for _, _, name in drops}
    found: list[Dependent] = []
    for revision, table, name in drops:
        for fk, on_table, definition in conn.execute(_DEPENDENTS, {"table": table, "name": name}).fetchall():
            if fk not in dropped:
                found.append(Dependent(revision, name, table, fk, on_table, definition))
    return found


def describe(d: Dependent) -> str:
    """One sentence: which foreign key blocks which revision, and what the DBA can do."""
    return (f"revision {d.revision} replaces {d.table}'s key {d.key}, and the foreign key {d.foreign_key} on "
            f"{d.on_table} ({d.definition}) depends on it; chatschema does not change constraints it did not "
            f"create, so PostgreSQL would refuse the swap. Re-point it at the new key first (add the owner "
            f"column and FOREIGN KEY (user_id, ...) REFERENCES {d.table} (user_id, id) NOT VALID, VALIDATE, "
            f"then drop {d.foreign_key}), or drop it, then re-run")
