"""The migration chain and where a database stands on it.

Alembic's ``Config`` is built in code (``script_location = chatschema:migrations``, or another
script directory for lint), never read from an ini file; the connection is handed to it through
``config.attributes``. Everything here only reads: the revisions, a database's revision, the steps
between two revisions.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import sqlalchemy as sa
from alembic.config import Config
from alembic.script import Script, ScriptDirectory
from alembic.util import CommandError

from .. import server
from ..errors import NotAdopted, UnknownRevision
from ..migrations import VERSION_TABLE
from ..settings import Settings
from .gates import GatePolicy

__all__ = [
    "DEFAULT_LOCATION",
    "RevisionInfo",
    "alembic_config",
    "script_directory",
    "head",
    "history",
    "title",
    "resolve",
    "check_known",
    "steps",
    "engine_for",
    "connection",
    "database_revision",
    "recorded_revisions",
    "current",
    "pending",
]

DEFAULT_LOCATION = "chatschema:migrations"


@dataclass(frozen=True)
class RevisionInfo:
    revision: str
    down_revision: str | None
    title: str
    doc: str
    path: str


def alembic_config(settings: Settings | None = None, *, location: str = DEFAULT_LOCATION) -> Config:
    """Alembic's Config for ``location``, carrying the lock policy of ``settings`` to env.py and the helpers."""
    cfg = Config()
    cfg.set_main_option("script_location", location)
    if settings is not None:
        cfg.attributes.update(
            lock_timeout_ms=settings.lock_timeout_ms,
            statement_timeout_ms=settings.statement_timeout_ms,
            concurrent_lock_timeout_ms=settings.concurrent_lock_timeout_ms,
            concurrent_statement_timeout_ms=settings.concurrent_statement_timeout_ms,
            backfill_batch_size=settings.backfill_batch_size,
            backfill_pause_s=settings.backfill_pause_ms / 1000,
            gates=GatePolicy.from_settings(settings),
        )
    return cfg


def script_directory(location: str = DEFAULT_LOCATION) -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config(location=location))


def head(location: str = DEFAULT_LOCATION) -> str:
    """The newest revision of the chain."""
    return script_directory(location).get_current_head() or ""


def title(script: Script) -> str:
    """A revision's first docstring line: what it does, in a few words."""
    return (script.doc or "").strip().splitlines()[0].rstrip(".") if script.doc else script.revision


def _down(script: Script) -> str | None:
    down = script.down_revision
    return down if isinstance(down, str) or down is None else ",".join(down)


def history(location: str = DEFAULT_LOCATION) -> list[RevisionInfo]:
    """Every revision, oldest first."""
    scripts = list(script_directory(location).walk_revisions("base", "heads"))
    scripts.reverse()
    return [RevisionInfo(s.revision, _down(s), title(s), s.longdoc or "", s.path) for s in scripts]


def resolve(revision: str, location: str = DEFAULT_LOCATION) -> str:
    """``revision`` as the chain spells it ('head', 'base' or a full id); UnknownRevision names the known ones."""
    scripts = script_directory(location)
    if not revision.strip():  # Alembic asserts on an empty id
        known = ", ".join(r.revision for r in history(location))
        raise UnknownRevision(f"no revision given (an empty string); known revisions are {known}, head and base")
    if revision in ("head", "heads", "base"):
        return revision
    try:
        found = scripts.get_revision(revision)
    except CommandError:
        found = None
    if found is None:
        known = ", ".join(r.revision for r in history(location))
        raise UnknownRevision(f"unknown revision {revision!r}; known revisions are {known} (see `chatschema history`)")
    return found.revision


def check_known(rev: str | None, location: str = DEFAULT_LOCATION) -> None:
    """Refuse a database whose revision this chain does not have (a newer chatschema, or another tool)."""
    if rev is None:
        return
    try:
        known = script_directory(location).get_revision(rev)
    except CommandError:
        known = None
    if known is None:
        raise UnknownRevision(
            f"the database is at revision {rev!r}, which this version of chatschema does not know "
            f"(migrated by a newer chatschema or another tool); nothing was changed"
        )


def steps(current_rev: str | None, target: str, location: str = DEFAULT_LOCATION) -> tuple[str, list[RevisionInfo]]:
    """('upgrade' | 'downgrade', the revisions that would run, in the order they run)."""
    chain = history(location)
    index = {r.revision: i for i, r in enumerate(chain)}
    here = index[current_rev] if current_rev else -1
    there = {"base": -1, "head": len(chain) - 1, "heads": len(chain) - 1}.get(target, index.get(target, -1))
    if there >= here:
        return "upgrade", chain[here + 1 : there + 1]
    return "downgrade", list(reversed(chain[there + 1 : here + 1]))


def engine_for(info: str) -> sa.Engine:
    """A SQLAlchemy engine whose connections come from psycopg with exactly this conninfo."""
    return sa.create_engine("postgresql+psycopg://", creator=lambda: server.connect(info), poolclass=sa.NullPool)


@contextmanager
def connection(settings: Settings) -> Iterator[tuple[str, sa.Connection]]:
    """(conninfo, a SQLAlchemy connection) to the database of ``settings``, closed afterwards."""
    info = server.conninfo(settings)
    engine = engine_for(info)
    try:
        with engine.connect() as conn:
            yield info, conn
    finally:
        engine.dispose()


_PRESENT = "SELECT to_regclass(:name) IS NOT NULL AS present"


def recorded_revisions(conn: sa.Connection) -> list[str] | None:
    """The rows of chatschema's version table (None when the table does not exist); only reads."""
    if not conn.execute(sa.text(_PRESENT), {"name": VERSION_TABLE}).mappings().one()["present"]:
        return None
    table = conn.dialect.identifier_preparer.quote(VERSION_TABLE)
    rows = conn.execute(sa.text(f"SELECT version_num FROM {table} ORDER BY version_num")).mappings()
    return [row["version_num"] for row in rows]


def database_revision(conn: sa.Connection) -> str | None:
    """The revision recorded in chatschema's version table (None when it has none).

    chatschema records one revision; several rows mean someone else wrote there, and nothing is
    guessed: NotAdopted names them. The application's ``alembic_version`` is never read here.
    """
    rows = recorded_revisions(conn) or []
    if len(rows) > 1:
        raise NotAdopted(
            f"{VERSION_TABLE} holds {len(rows)} rows ({', '.join(rows)}); chatschema records exactly one revision "
            f"there. Delete the rows that are not chatschema's (or run `chatschema stamp REV` after deleting them all); "
            f"nothing was changed"
        )
    return rows[0] if rows else None


def current(settings: Settings) -> str | None:
    """The database's revision (None for a database chatschema never migrated)."""
    with connection(settings) as (_, conn):
        rev = database_revision(conn)
        check_known(rev)
        return rev


def pending(settings: Settings, revision: str = "head", *, direction: str = "upgrade",
            below_stamp: bool = False) -> list[RevisionInfo]:
    """The revisions an upgrade (or downgrade) to ``revision`` would run, in order; nothing is changed.
    Refused as the run would refuse: a database that is not UTF8, a downgrade below the stamped revision."""
    from .adopt import starting_revision  # adopting renders revisions with the runner, which imports this module
    from .encoding import require_utf8
    from .stamped import crossed

    target = resolve(revision)
    if direction == "upgrade":
        require_utf8(server.conninfo(settings), "upgrade")
    start = starting_revision(settings)
    check_known(start)
    if direction == "downgrade":
        with server.connect(server.conninfo(settings), autocommit=True) as raw:
            crossed(raw, start, target, below_stamp=below_stamp)
    way, planned = steps(start, target)
    return planned if way == direction else []
