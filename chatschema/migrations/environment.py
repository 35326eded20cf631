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

from typing import Any

import sqlalchemy as sa

from chatschema.migrations import VERSION_TABLE
from chatschema.settings import Settings

__all__ = ["run", "session_timeouts"]


def session_timeouts(attributes: dict[str, Any]) -> list[str]:
    defaults = Settings()
    lock_ms = int(attributes.get("lock_timeout_ms", defaults.lock_timeout_ms))
    stmt_ms = int(attributes.get("statement_timeout_ms", defaults.statement_timeout_ms))
    return [f"SET lock_timeout = '{lock_ms}ms'", f"SET statement_timeout = '{stmt_ms}ms'"]


def _run_offline(context: Any, configure: dict[str, Any]) -> None:
    config = context.config
    context.configure(
        dialect_name="postgresql",
        literal_binds=True,
        output_buffer=config.attributes.get("output_buffer"),
        **configure,
    )
    for stmt in session_timeouts(config.attributes):
        context.execute(stmt)
    with context.begin_transaction():
        context.run_migrations()


def _run_online(context: Any, configure: dict[str, Any]) -> None:
    """On the connection chatschema hands over, an Engine's, or ``sqlalchemy.url`` from an ini (the
    ``alembic`` command line)."""
    given = context.config.attributes.get("connection")
    if isinstance(given, sa.Connection):
        _run_on(context, given, configure)
        return
    engine = given if isinstance(given, sa.Engine) else None
    if engine is None:
        url = context.config.get_main_option("sqlalchemy.url")
        if not url:
            raise RuntimeError("no database: set sqlalchemy.url in the ini, or hand a connection in "
                               "config.attributes['connection']")
        engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as connection:
            _run_on(context, connection, configure)
    finally:
        if given is None:
            engine.dispose()


def _run_on(context: Any, connection: sa.Connection, configure: dict[str, Any]) -> None:
    config = context.config
    for stmt in session_timeouts(config.attributes):
        connection.exec_driver_sql(stmt)
    # End SQLAlchemy's autobegun transaction: Alembic must own the transactions it opens, or
    # autocommit_block() cannot commit before a CONCURRENTLY statement.
    connection.commit()
    observer = config.attributes.get("before_statement")
    if observer is not None:
        sa.event.listen(connection, "before_cursor_execute", observer)
    try:
        context.configure(
            connection=connection,
            on_version_apply=config.attributes.get("on_version_apply"),
            **configure,
        )
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
