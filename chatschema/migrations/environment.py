"""What every chatschema ``env.py`` does, shared so that other script directories (the bad
migrations the lint tests keep) run under exactly the same rules as the real chain.

- One transaction per revision (``transaction_per_migration``): a lock timeout rolls back one
  revision only, so the runner can retry just that revision by upgrading to the same target again.
- The session starts with the short timeouts of the strong lock class; ``chatschema.ddl``
  switches to the long ones around CONCURRENTLY statements and back. The same SETs are written
  into the offline script, so ``psql -f`` runs under the same policy as ``chatschema upgrade``.
- Online, an optional observer sees every statement before it runs: the runner uses it to look
  for sessions that would block a strong lock or a concurrent build, and to remember which
  timeouts were in force when a statement failed.
"""

from __future__ import annotations

import contextlib
from typing import Any

import sqlalchemy as sa

from chatschema.migrations import BOOKKEEPING_TABLES, VERSION_TABLE
from chatschema.settings import Settings

__all__ = ["run", "session_timeouts", "include_object"]


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Autogenerate's filter: chatschema's bookkeeping tables (the same list check, lint and doctor leave
    out) are not the models' to create or drop, and the materialized views belong to their own revision."""
    from chatschema.views import VIEWS

    if type_ == "table" and name in BOOKKEEPING_TABLES:
        return False
    if type_ in ("index", "column", "unique_constraint", "foreign_key_constraint") and obj is not None:
        table = getattr(getattr(obj, "table", None), "name", None)
        if table in BOOKKEEPING_TABLES:
            return False
    return not (type_ == "table" and name in {v.name for v in VIEWS})


def session_timeouts(attributes: dict[str, Any]) -> list[str]:
    defaults = Settings()
    lock_ms = int(attributes.get("lock_timeout_ms", defaults.lock_timeout_ms))
    stmt_ms = int(attributes.get("statement_timeout_ms", defaults.statement_timeout_ms))
    return [f"SET lock_timeout = '{lock_ms}ms'", f"SET statement_timeout = '{stmt_ms}ms'"]


def _migrates(context: Any) -> bool:
    try:
        context.get_revision_argument()  # None for base, a destination too
    except KeyError:  # Alembic keeps no destination when the caller brings its own migration function
        return False
    return True


def _run_offline(context: Any, configure: dict[str, Any]) -> None:
    config = context.config
    context.configure(
        dialect_name="postgresql",
        literal_binds=True,
        output_buffer=config.attributes.get("output_buffer"),
        **configure,
    )
    # Only a run that migrates (a destination revision) writes the SETs: a bare environment (pytest-alembic
    # collecting target_metadata with its own fn) prints nothing before its own output.
    if _migrates(context):
        for stmt in session_timeouts(config.attributes):
            context.execute(stmt)
    with context.begin_transaction():
        context.run_migrations()


def _run_online(context: Any, configure: dict[str, Any]) -> None:
    """On the Connection handed over (never committed here), on a connection of what was handed over
    (an Engine, pytest-alembic's ``alembic_engine``, or anything whose ``connect()`` gives one), or on
    one made from ``sqlalchemy.url`` in an ini (the ``alembic`` command line)."""
    given = context.config.attributes.get("connection")
    if isinstance(given, sa.Connection):
        _run_on(context, given, configure)
        return
    if given is not None and callable(getattr(given, "connect", None)):
        with given.connect() as connection:
            _run_on(context, connection, configure)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database: set sqlalchemy.url in the ini, or hand a connection in "
                           "config.attributes['connection']")
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as connection:
            _run_on(context, connection, configure)
    finally:
        engine.dispose()


def _run_on(context: Any, connection: sa.Connection, configure: dict[str, Any]) -> None:
    config = context.config
    callers = connection.in_transaction()
    if callers:
        # The caller's transaction (pytest-alembic's downgrade_leaves_no_trace rolls each cycle back):
        # everything joins it and it stays the caller's to commit or roll back. The chain then runs in
        # one transaction (``single_transaction``): CONCURRENTLY statements in their plain forms, the
        # backfill in one pass. Strong locks: a test database's mode, never what chatschema's runner does.
        config.attributes["single_transaction"] = True
        for stmt in session_timeouts(config.attributes):
            connection.exec_driver_sql(stmt)
    else:
        # A transaction of our own, ended here: Alembic must own the transactions it opens, or
        # autocommit_block() cannot commit before a CONCURRENTLY statement. Nothing of the caller's is committed.
        config.attributes.pop("single_transaction", None)
        with connection.begin():
            for stmt in session_timeouts(config.attributes):
                connection.exec_driver_sql(stmt)
    observer = config.attributes.get("before_statement")
    if observer is not None:
        sa.event.listen(connection, "before_cursor_execute", observer)
    try:
        context.configure(
            connection=connection,
            on_version_apply=config.attributes.get("on_version_apply"),
            **configure,
        )
        if callers:
            # Alembic's autocommit block would commit the caller's transaction: the revisions' blocks run inside it.
            context.get_context().autocommit_block = contextlib.nullcontext
        with context.begin_transaction():
            context.run_migrations()
    finally:
        if observer is not None:
            sa.event.remove(connection, "before_cursor_execute", observer)


def run(context: Any, *, target_metadata: sa.MetaData | None, include_object: Any = None) -> None:
    """Configure and run Alembic's migration context, offline (``--sql``) or on the given connection."""
    # chatschema's own version table: the application's alembic_version is not ours to read or write.
    configure: dict[str, Any] = {"target_metadata": target_metadata, "transaction_per_migration": True,
                                 "version_table": VERSION_TABLE}
    if include_object is not None:
        configure["include_object"] = include_object
    if context.is_offline_mode():
        _run_offline(context, configure)
    else:
        _run_online(context, configure)
