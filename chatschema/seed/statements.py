"""The seed's SQL, kept in ``sql/*.sql`` (shipped as package data) so that a DBA reads it as SQL.

Each file holds one statement (or a template ``psycopg.sql.SQL`` fills in), with its comments:
what it makes and why. They are read once, when the module that runs them is imported.
"""

from __future__ import annotations

from importlib import resources

__all__ = ["read"]


def read(name: str) -> str:
    """The text of ``sql/<name>.sql``."""
    return resources.files(__package__).joinpath("sql", f"{name}.sql").read_text(encoding="utf-8")
