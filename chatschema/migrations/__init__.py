"""Alembic environment and revisions, shipped inside the package (script_location chatschema:migrations).

The names of the tables chatschema keeps for itself live here, once: every module that must leave
them out of a comparison (check, doctor, lint, the plan validator) or create them (the backfill's
checkpoint) imports them from here.
"""

from __future__ import annotations

__all__ = ["VERSION_TABLE", "LEGACY_VERSION_TABLE", "CHECKPOINT_TABLE", "STAMP_TABLE", "DISTRIBUTION_TABLE",
           "BOOKKEEPING_TABLES", "MANAGED_TABLES"]

VERSION_TABLE = "chatschema_version"
"""chatschema's record of the database's revision (Alembic's ``version_table``). Its own name, so that
an application's Alembic chain, which uses ``alembic_version``, never sees chatschema's revision and
chatschema never reads or writes the application's."""

LEGACY_VERSION_TABLE = "alembic_version"
"""Where chatschema before its own version table recorded the revision. Read once, to carry a
database migrated by an earlier chatschema over (``chatschema.migrate.adopt``); never written."""

CHECKPOINT_TABLE = "chatschema_backfill"
"""Where batched backfills record how far they got (revision 0004 creates it)."""

STAMP_TABLE = "chatschema_stamp"
"""The revision ``stamp`` adopted a database at (``chatschema.migrate.stamped``): downgrades stop there."""

DISTRIBUTION_TABLE = "chatschema_distribution"
"""What ``chatschema distribute`` put on Citus: each table, its distribution column, what it is co-located with."""

BOOKKEEPING_TABLES = (VERSION_TABLE, CHECKPOINT_TABLE, STAMP_TABLE, DISTRIBUTION_TABLE)
"""chatschema's own tables: not part of the schema the models describe."""

MANAGED_TABLES = ("users", "conversations", "messages")
"""The application tables chatschema's chain creates and changes: with the views and the bookkeeping
tables, everything chatschema compares. Anything else in the database is the application's."""
