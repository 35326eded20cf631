"""Alembic environment of the deliberately bad migrations: the same rules as chatschema's own chain."""

from alembic import context

from chatschema.migrations.environment import run

run(context, target_metadata=None)
