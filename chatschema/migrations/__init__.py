"""Alembic environment and revisions, shipped inside the package (script_location chatschema:migrations)."""
