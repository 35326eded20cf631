"""Alembic environment: the connection and settings come from chatschema.migrate, never from an ini file.

The rules every revision runs under (one transaction each, the lock policy's timeouts, the
runner's statement observer) live in chatschema.migrations.environment.
"""

from __future__ import annotations

from alembic import context

from chatschema.migrations.environment import include_object, run
from chatschema.models import metadata

run(context, target_metadata=metadata, include_object=include_object)
