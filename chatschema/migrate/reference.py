"""Each revision's schema, as the server of the database under examination prints it.

A revision's schema is not described anywhere but in its code, so it is made: a scratch database on
the same server (same version, same printers, so definitions compare exactly) is migrated through
the chain one revision at a time, and after each the catalog is read. The database under
examination is never written. The scratch database is named for this process and dropped at once;
the catalogs are kept for the life of the process, per server.
"""

from __future__ import annotations

import os

from psycopg.conninfo import conninfo_to_dict

from .. import scratch, server
from ..catalog import Catalog, read_catalog
from ..settings import Settings
from .chain import DEFAULT_LOCATION, history

__all__ = ["revision_schemas"]

_CACHE: dict[tuple[str, str, str], dict[str, Catalog]] = {}


def _server_key(settings: Settings) -> tuple[str, str, str]:
    params = conninfo_to_dict(server.conninfo(settings))
    return (str(params.get("host") or ""), str(params.get("port") or ""),
            "" if settings.dsn else str(settings.embedded_dir))


def revision_schemas(settings: Settings) -> dict[str, Catalog]:
    """{revision: the catalog of a database at that revision}, oldest first, rendered on settings' server."""
    from .run import upgrade  # the runner guards adoption with these schemas; import late to break the cycle

    key = _server_key(settings)
    if key in _CACHE:
        return _CACHE[key]
    found: dict[str, Catalog] = {}
    with scratch.scratch_database(settings, f"chatschema_reference_{os.getpid()}") as made:
        info = server.conninfo(made)
        for rev in history(DEFAULT_LOCATION):
            upgrade(made, rev.revision)
            with server.connect(info) as conn:
                found[rev.revision] = read_catalog(conn)
    _CACHE[key] = found
    return found
