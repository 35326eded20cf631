"""Alembic environment and revisions, shipped inside the package (script_location chatschema:migrations).

The names of the tables chatschema keeps for itself live here, once: every module that must leave
them out of a comparison (check, doctor, lint, the plan validator) or create them (the backfill's
checkpoint) imports them from here.
"""

from __future__ import annotations

__all__ = ["VERSION_TABLE", "CHECKPOINT_TABLE", "BOOKKEEPING_TABLES"]

VERSION_TABLE = "alembic_version"
"""Alembic's record of the database's revision."""

CHECKPOINT_TABLE = "chatschema_backfill"
"""Where batched backfills record how far they got (revision 0004 creates it)."""

BOOKKEEPING_TABLES = (VERSION_TABLE, CHECKPOINT_TABLE)
"""chatschema's own tables: not part of the schema the models describe."""
