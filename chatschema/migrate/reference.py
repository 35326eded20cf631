"""Each revision's schema, as PostgreSQL prints it, made without touching the database under examination.

A revision's schema is not described anywhere but in its code, so it is made: a scratch database is
migrated through the chain one revision at a time, and after each the catalog is read. Where:

- on the same server (same version, same printers, so definitions compare exactly), created from
  the server's maintenance database, never from the database under examination, which may be
  read-only (``default_transaction_read_only``) or a hot standby;
- when the role may not create a database there (a SELECT-only verifier) or the server is a
  standby, on the embedded server, of the same major version when it ships one.

The scratch database is named for this process and dropped at once; the catalogs are kept for the
life of the process, per server. Only the revisions asked for are read: ``check`` needs head's
schema alone, the adoption guard every revision's.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Sequence

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import dict_row

from .. import scratch, server
from ..schema_catalog import Catalog, read_catalog
from ..errors import CannotCreateDatabase, ConnectionFailed
from ..settings import Settings
from .chain import DEFAULT_LOCATION, history

__all__ = ["revision_schemas", "EMBEDDED_VERSIONS"]

EMBEDDED_VERSIONS = (16, 18)
"""The major versions the embedded server ships."""

_CACHE: dict[tuple[str, ...], dict[str, Catalog]] = {}

# What stops a scratch database on the examined server: no CREATEDB, a read-only session, a standby.
_CANNOT_CREATE = (psycopg.errors.InsufficientPrivilege, psycopg.errors.ReadOnlySqlTransaction,
                  psycopg.errors.ObjectNotInPrerequisiteState, ConnectionFailed, CannotCreateDatabase)


def _maintenance(settings: Settings) -> Settings:
    """The same server, connected to its maintenance database instead of the one under examination."""
    if settings.dsn is None:
        return settings.with_database("postgres")
    params = conninfo_to_dict(server.conninfo(settings))
    params["dbname"] = "postgres"
    return dataclasses.replace(settings, dsn=make_conninfo(**params))


def _render(settings: Settings, wanted: Sequence[str]) -> dict[str, Catalog]:
    """The catalogs of ``wanted`` (in chain order): one scratch database migrated forward, read at each."""
    from .run import upgrade  # the runner guards adoption with these schemas; import late to break the cycle

    found: dict[str, Catalog] = {}
    with scratch.scratch_database(settings, f"chatschema_reference_{os.getpid()}") as made:
        info = server.conninfo(made)
        for rev in wanted:
            # only compared, never given chat content: the server's default encoding does not matter here
            upgrade(made, rev, require_utf8=False)
            with server.connect(info) as conn:
                found[rev] = read_catalog(conn)
    return found


def _embedded(settings: Settings, version: int) -> Settings:
    nearest = version if version in EMBEDDED_VERSIONS else max(EMBEDDED_VERSIONS)
    return dataclasses.replace(settings, dsn=None, pg_version=nearest, database="postgres")


def revision_schemas(settings: Settings, revisions: Iterable[str] | None = None) -> dict[str, Catalog]:
    """{revision: the catalog of a database at that revision} for ``revisions`` (default: every revision),
    oldest first; only those not rendered before are made. Never writes ``settings``' database."""
    chain = [rev.revision for rev in history(DEFAULT_LOCATION)]
    asked = set(chain if revisions is None else revisions)
    wanted = [rev for rev in chain if rev in asked]
    info = server.conninfo(settings)
    params = conninfo_to_dict(info)
    key = (str(params.get("host") or ""), str(params.get("port") or ""),
           "" if settings.dsn else str(settings.embedded_dir))
    cached = _CACHE.setdefault(key, {})
    missing = [rev for rev in wanted if rev not in cached]
    if missing:
        cached.update(_rendered(settings, info, missing))
    return {rev: cached[rev] for rev in wanted}


def _rendered(settings: Settings, info: str, wanted: Sequence[str]) -> dict[str, Catalog]:
    with server.connect(info, row_factory=dict_row) as conn:
        version = conn.info.server_version // 10000
        row = conn.execute("SELECT pg_is_in_recovery() AS standby").fetchone()
        standby = bool(row and row["standby"])
    try:
        if standby:
            raise ConnectionFailed("a hot standby cannot create a database")
        return _render(_maintenance(settings), wanted)
    except _CANNOT_CREATE:
        return _render(_embedded(settings, version), wanted)
