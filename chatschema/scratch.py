"""Scratch databases: made for one run of the plan validator, the benchmark or the demo, then dropped.

The story each of them tells starts the same way: a new, empty database on the server of the
settings (the embedded one, or the ``--dsn`` server, where the role needs CREATEDB), migrated,
seeded, settled, measured, dropped. The names are chatschema's own (``chatschema_plans``,
``chatschema_bench_ci``, ``chatschema_demo``), and each is marked with a COMMENT when made: a
marked database of that name is dropped before it is made again, an unmarked one (an application's)
is refused, never dropped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager

from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from . import server
from .errors import CannotCreateDatabase, ConfigError
from .settings import Settings
from .views import VIEWS

__all__ = ["fresh", "drop", "clone", "scratch_database", "settle", "TABLES", "MARK"]

TABLES = ("users", "conversations", "messages")


def _admin(settings: Settings, avoid: str) -> str:
    """A conninfo on the same server that is not connected to ``avoid`` (it may be dropped)."""
    if settings.dsn is None:
        return server.conninfo(settings.with_database("postgres"))
    params = conninfo_to_dict(server.conninfo(settings))
    if params.get("dbname") == avoid:
        params["dbname"] = "postgres"
    return make_conninfo(**params)


# Set on every database chatschema makes for a run; a database without it is never dropped.
MARK = "chatschema scratch database: made for one run and dropped by chatschema; keep no data here"

_FIND = "SELECT shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname = %s"


def drop(settings: Settings, name: str) -> None:
    """Drop the scratch database ``name`` on the server of ``settings``, if it exists.

    Only a database chatschema made (its COMMENT is ``MARK``) is dropped: a name that happens to be an
    application's database is refused with ConfigError and left as it is.
    """
    with server.connect(_admin(settings, name), autocommit=True) as conn:
        with conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(_FIND, (name,)).fetchone()
        if row is None:
            return
        if row["comment"] != MARK:
            raise ConfigError(
                f"database {name} exists and chatschema did not make it (it lacks the scratch mark chatschema "
                f"puts on its scratch databases), so it is not dropped; choose another name (--database) "
                f"or drop it yourself"
            )
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def fresh(settings: Settings, name: str) -> Settings:
    """Settings of a new, empty database ``name`` on the same server, marked as chatschema's scratch
    database (a marked one of that name is dropped first; an unmarked one is refused)."""
    drop(settings, name)
    with server.connect(_admin(settings, name), autocommit=True) as conn:
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except pg_errors.InsufficientPrivilege:
            raise CannotCreateDatabase(
                f"cannot create the scratch database {name}: permission denied to create database; the role "
                f"needs CREATEDB (ALTER ROLE ... CREATEDB), or leave out --dsn to use the embedded server"
            ) from None
        conn.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(sql.Identifier(name), sql.Literal(MARK)))
    if settings.dsn is None:
        return settings.with_database(name)
    params = conninfo_to_dict(server.conninfo(settings))
    params["dbname"] = name
    return dataclasses.replace(settings, dsn=make_conninfo(**params))


def clone(settings: Settings, template: str, name: str) -> Settings:
    """Settings of ``name``, a copy of the database ``template`` (``CREATE DATABASE ... TEMPLATE``: a file
    copy, no re-seeding), dropped first if it exists. Nothing may be connected to ``template``."""
    drop(settings, name)
    with server.connect(_admin(settings, name), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template)))
        # A database's comment is not copied with it (pg_shdescription is shared): mark the copy ours.
        conn.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(sql.Identifier(name), sql.Literal(MARK)))
    if settings.dsn is None:
        return settings.with_database(name)
    params = conninfo_to_dict(server.conninfo(settings))
    params["dbname"] = name
    return dataclasses.replace(settings, dsn=make_conninfo(**params))


@contextmanager
def scratch_database(settings: Settings, name: str, *, keep: bool = False) -> Iterator[Settings]:
    """A new database ``name`` for the length of the block, dropped afterwards unless ``keep``."""
    made = fresh(settings, name)
    try:
        yield made
    finally:
        if not keep:
            drop(settings, name)


def settle(info: str, *, statistics_target: int | None = None) -> None:
    """VACUUM (ANALYZE) every table and materialized view: visibility map set, statistics fresh.

    ``statistics_target`` raises ``default_statistics_target`` for this session: at 1000 ANALYZE
    samples 300,000 rows, the whole table at the scales tests use, so statistics repeat run to run.
    """
    with server.connect(info, autocommit=True) as conn:
        if statistics_target is not None:
            conn.execute(sql.SQL("SET default_statistics_target = {}").format(sql.Literal(statistics_target)))
        tables = list(TABLES)
        for view in VIEWS:
            row = conn.execute("SELECT to_regclass(%s)", (view.name,)).fetchone()
            if row and row[0] is not None:
                tables.append(view.name)
        for table in tables:
            conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(table)))
