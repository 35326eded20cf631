"""Where an adopted database starts: the revision ``stamp`` recorded, and the downgrades it forbids.

A database that ``stamp`` adopted had its schema before chatschema recorded a revision: the
application's ``create_all``, a restore. The revisions up to the stamped one did not create those
tables, so their downgrades would drop the application's data (0001's downgrade drops users,
conversations and messages). ``downgrade`` below the stamped revision is therefore refused unless
the DBA says so (``--below-stamp``); once a downgrade has gone below it, the record is forgotten,
since what is left is what chatschema's own upgrades would rebuild.

The record is a table of its own (``STAMP_TABLE``, one row: revision, when, forced) so that
chatschema's version table stays exactly Alembic's.
"""

from __future__ import annotations

import psycopg
import sqlalchemy as sa
from psycopg.rows import dict_row

from ..errors import ConfigError
from ..migrations import STAMP_TABLE
from .chain import DEFAULT_LOCATION, steps

__all__ = ["record", "stamped_revision", "crossed", "forget"]

_CREATE = f"""
CREATE TABLE IF NOT EXISTS {STAMP_TABLE} (
    revision   text NOT NULL,
    stamped_at timestamptz NOT NULL DEFAULT now(),
    forced     boolean NOT NULL
)"""


def record(conn: sa.Connection, revision: str, *, forced: bool) -> None:
    """Remember that the database was adopted at ``revision``, in the caller's transaction (the stamp's)."""
    conn.execute(sa.text(_CREATE))
    conn.execute(sa.text(f"DELETE FROM {STAMP_TABLE}"))  # the latest stamp is where the database now starts
    conn.execute(sa.text(f"INSERT INTO {STAMP_TABLE} (revision, forced) VALUES (:revision, :forced)"),
                 {"revision": revision, "forced": forced})


def stamped_revision(conn: psycopg.Connection) -> str | None:
    """The revision the database was stamped at; None for one chatschema created. Only reads."""
    with conn.cursor(row_factory=dict_row) as cur:
        present = cur.execute("SELECT to_regclass(%s) IS NOT NULL AS present", (STAMP_TABLE,)).fetchone()
        if not (present and present["present"]):
            return None
        row = cur.execute(f"SELECT revision FROM {STAMP_TABLE} ORDER BY stamped_at DESC LIMIT 1").fetchone()
    return str(row["revision"]) if row else None


def crossed(conn: psycopg.Connection, current: str | None, target: str, *, below_stamp: bool,
            location: str = DEFAULT_LOCATION) -> str | None:
    """The stamped revision a downgrade from ``current`` to ``target`` would undo, when ``below_stamp``
    allows it; ConfigError when it does not; None when the downgrade stays at or above it."""
    stamped = stamped_revision(conn)
    if stamped is None or current is None:
        return None
    way, undone = steps(current, target, location)
    if way != "downgrade" or stamped not in [r.revision for r in undone]:
        return None
    if below_stamp:
        return stamped
    raise ConfigError(
        f"the database was stamped at {stamped} (adopted: its tables were there before chatschema recorded a "
        f"revision), and downgrading to {target} would undo {stamped}, dropping what chatschema did not create; "
        f"nothing was changed. Downgrade to {stamped} at most, or pass --below-stamp to remove it anyway")


def forget(conn: psycopg.Connection) -> None:
    """After a downgrade below the stamped revision: chatschema's upgrades now create what is missing."""
    if stamped_revision(conn) is not None:
        conn.execute(f"DELETE FROM {STAMP_TABLE}")
