"""Alembic environment: the connection and settings come from chatschema.migrate, never from an ini file.

The rules every revision runs under (one transaction each, the lock policy's timeouts, the
runner's statement observer) live in chatschema.migrations.environment.
"""

from __future__ import annotations

from alembic import context

from chatschema.migrations.environment import run
from chatschema.models import metadata
from chatschema.views import VIEWS

_VIEW_NAMES = {v.name for v in VIEWS}


def _include_object(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
    # Materialized views are managed by their own revision, not by autogenerate.
    return not (type_ == "table" and name in _VIEW_NAMES)


run(context, target_metadata=metadata, include_object=_include_object)
