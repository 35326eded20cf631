"""Alembic environment: the connection and settings come from chatschema.migrate, never from an ini file."""

from __future__ import annotations

from alembic import context

from chatschema.models import metadata
from chatschema.views import VIEWS

config = context.config
_VIEW_NAMES = {v.name for v in VIEWS}


def _include_object(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
    # Materialized views are managed by their own revision, not by autogenerate.
    return not (type_ == "table" and name in _VIEW_NAMES)


def _session_timeouts() -> list[str]:
    lock_ms = config.attributes.get("lock_timeout_ms", 2000)
    stmt_ms = config.attributes.get("statement_timeout_ms", 0)
    return [f"SET lock_timeout = '{int(lock_ms)}ms'", f"SET statement_timeout = '{int(stmt_ms)}ms'"]


def run_offline() -> None:
    context.configure(
        dialect_name="postgresql",
        target_metadata=metadata,
        literal_binds=True,
        transaction_per_migration=True,
        include_object=_include_object,
        output_buffer=config.attributes.get("output_buffer"),
    )
    for stmt in _session_timeouts():
        context.execute(stmt)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes["connection"]
    for stmt in _session_timeouts():
        connection.exec_driver_sql(stmt)
    connection.commit()
    context.configure(
        connection=connection,
        target_metadata=metadata,
        transaction_per_migration=True,
        include_object=_include_object,
        on_version_apply=config.attributes.get("on_version_apply"),
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
