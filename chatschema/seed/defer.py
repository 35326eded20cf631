"""What the load does to the tables around it, as pg_restore does: empty them, drop the indexes and
foreign keys it would otherwise maintain row by row, and build those again afterwards in bulk.

All of it runs in the load's one transaction, so a failure rolls it back with the rows: the schema
stays as it was. The definitions are read from the catalog before anything is dropped
(``sql/deferred_indexes.sql``, ``sql/deferred_foreign_keys.sql``) and re-executed verbatim, so only
what a definition recreates exactly is deferred. A drop PostgreSQL refuses (another table's foreign
key needs the key, the role does not own the table) is rolled back to its savepoint and that object
stays: the load is slower, never different.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.rows import class_row

from .statements import read

__all__ = ["Statement", "Deferred", "attempt", "empty", "defer", "rebuild"]

# users is small (tens of thousands of rows at most): its key is maintained as it loads.
DEFERRED_TABLES = ("conversations", "messages")
DEFERRED_INDEXES = read("deferred_indexes")
DEFERRED_FOREIGN_KEYS = read("deferred_foreign_keys")
RAISE_MAINTENANCE_WORK_MEM = read("maintenance_work_mem")

TRUNCATE = "TRUNCATE users, conversations, messages"

Statement = sql.SQL | sql.Composed

# Refusals that leave an optimisation out rather than fail the seed (see attempt).
REFUSED = (
    pg_errors.DependentObjectsStillExist,
    pg_errors.FeatureNotSupported,
    pg_errors.InsufficientPrivilege,
    pg_errors.ObjectNotInPrerequisiteState,
)


def attempt(conn: psycopg.Connection, statement: str | Statement) -> bool:
    """Run ``statement`` in a savepoint; False, with nothing changed, if PostgreSQL refuses it."""
    try:
        with conn.transaction():
            conn.execute(statement)
    except REFUSED:
        return False
    return True


def empty(conn: psycopg.Connection, replace: Statement | None) -> bool:
    """Empty the tables in the load's transaction; True if they were, so that COPY FREEZE may fill them.

    COPY FREEZE writes rows frozen and marks pages all-visible as they fill, so VACUUM has nothing
    left to rewrite. ``replace`` is the TRUNCATE of rows being replaced (``replace.truncate_statement``).
    Empty tables that another table's foreign key refers to cannot be truncated without it (nor by a
    role that may not): their rows then go in unfrozen.
    """
    if replace is not None:
        conn.execute(replace)
        return True
    return attempt(conn, TRUNCATE)


@dataclass(frozen=True)
class Deferred:
    """An index or foreign key dropped for the load, and the statements that build it again."""

    drop: Statement
    rebuild: tuple[Statement, ...]
    order: int  # primary keys first (a foreign key needs the key it refers to), indexes, foreign keys


@dataclass(frozen=True)
class _ForeignKey:
    """A row of sql/deferred_foreign_keys.sql."""

    schema_name: str
    table_name: str
    constraint_name: str
    definition: str


@dataclass(frozen=True)
class _Index:
    """A row of sql/deferred_indexes.sql; ``constraint_name`` is the primary key the index is behind."""

    schema_name: str
    table_name: str
    index_name: str
    constraint_name: str | None
    definition: str


def _found(conn: psycopg.Connection) -> list[Deferred]:
    """What the catalog says may be deferred, foreign keys first."""
    tables = {"tables": list(DEFERRED_TABLES)}
    found: list[Deferred] = []
    with conn.cursor(row_factory=class_row(_ForeignKey)) as keys:
        foreign_keys = keys.execute(DEFERRED_FOREIGN_KEYS, tables).fetchall()
    with conn.cursor(row_factory=class_row(_Index)) as cur:
        indexes = cur.execute(DEFERRED_INDEXES, tables).fetchall()
    for key in foreign_keys:
        on = sql.Identifier(key.schema_name, key.table_name)
        name = sql.Identifier(key.constraint_name)
        # Re-added as it was, the key is checked by one join of the two tables (the query VALIDATE
        # CONSTRAINT runs), not row by row; a key that was NOT VALID comes back NOT VALID.
        found.append(Deferred(
            drop=sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(on, name),
            rebuild=(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(on, name, sql.SQL(key.definition)),),
            order=2,
        ))
    for index in indexes:
        on = sql.Identifier(index.schema_name, index.table_name)
        if index.constraint_name is None:
            found.append(Deferred(
                drop=sql.SQL("DROP INDEX {}").format(sql.Identifier(index.schema_name, index.index_name)),
                rebuild=(sql.SQL(index.definition),),
                order=1,
            ))
        else:
            # The key's index is built on its own (in parallel, like any other) and then adopted.
            found.append(Deferred(
                drop=sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(on, sql.Identifier(index.constraint_name)),
                rebuild=(
                    sql.SQL(index.definition),
                    sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} PRIMARY KEY USING INDEX {}").format(
                        on, sql.Identifier(index.constraint_name), sql.Identifier(index.index_name)),
                ),
                order=0,
            ))
    return found


def defer(conn: psycopg.Connection) -> list[Deferred]:
    """Drop what the load rebuilds afterwards; returns what was dropped, in rebuild order."""
    # Foreign keys are dropped first, so that no key they refer to is still needed when its turn comes.
    dropped = [item for item in _found(conn) if attempt(conn, item.drop)]
    return sorted(dropped, key=lambda item: item.order)


def rebuild(conn: psycopg.Connection, deferred: list[Deferred], on_built: Callable[[int], None]) -> None:
    """Build again, in the load's transaction, what ``defer`` dropped: B-trees sorted in bulk (by
    parallel workers as max_parallel_maintenance_workers allows), foreign keys checked by one join.
    ``on_built(1)`` is called after each."""
    conn.execute(RAISE_MAINTENANCE_WORK_MEM)
    for item in deferred:
        for statement in item.rebuild:
            conn.execute(statement)
        on_built(1)
