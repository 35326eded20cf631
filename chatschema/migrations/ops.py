"""DDL building blocks the migrations share: concurrent index builds that repair their own debris.

``CREATE INDEX CONCURRENTLY`` cannot run in a transaction, waits on every older snapshot (so it
gets its own, long, lock_timeout), and leaves an INVALID index behind when it fails, which
``IF NOT EXISTS`` would then silently accept. So every build here: drops an INVALID leftover of
the same name that is not being built right now, builds, and then asserts the index is valid.
In offline (--sql) mode the same checks are rendered as DO blocks a DBA can read.

Timeouts follow the lock policy (``chatschema.locks``): the session runs with the short
timeouts of the strong class; these helpers switch to the long ones of the online class
around statements that let reads and writes through (CONCURRENTLY, VALIDATE CONSTRAINT, the
first population of a view nobody can read yet) and switch back afterwards. They are plain SET
statements, so the offline script carries exactly the same policy.
"""

from __future__ import annotations

from alembic import context, op
from psycopg import sql

from chatschema.errors import MigrationFailed
from chatschema.settings import Settings

_DEFAULTS = Settings()

__all__ = [
    "create_index_concurrently",
    "drop_index_concurrently",
    "validate_constraint",
    "populate_materialized_view",
    "invalid_leftover_sql",
]

# An index with indisvalid = false is either debris of a failed build or a build in progress;
# pg_stat_progress_create_index tells them apart (PG12+).
invalid_leftover_sql = """
SELECT i.indexrelid::regclass::text,
       (SELECT p.pid FROM pg_stat_progress_create_index p WHERE p.index_relid = i.indexrelid LIMIT 1)
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
WHERE c.relname = %(name)s
  AND c.relnamespace = current_schema()::regnamespace
  AND NOT i.indisvalid
"""


def _sql(template: str, *names: str) -> str:
    """DDL text with ``names`` quoted as identifiers (Alembic's op.execute takes text, also offline)."""
    return sql.SQL(template).format(*(sql.Identifier(n) for n in names)).as_string(None)


def _timeouts(concurrent: bool, *, local: bool = False) -> tuple[str, str]:
    attrs = context.config.attributes
    if concurrent:
        lock_ms = attrs.get("concurrent_lock_timeout_ms", _DEFAULTS.concurrent_lock_timeout_ms)
        stmt_ms = attrs.get("concurrent_statement_timeout_ms", _DEFAULTS.concurrent_statement_timeout_ms)
    else:
        lock_ms = attrs.get("lock_timeout_ms", _DEFAULTS.lock_timeout_ms)
        stmt_ms = attrs.get("statement_timeout_ms", _DEFAULTS.statement_timeout_ms)
    scope = "SET LOCAL" if local else "SET"
    return f"{scope} lock_timeout = '{int(lock_ms)}ms'", f"{scope} statement_timeout = '{int(stmt_ms)}ms'"


def _assert_valid(name: str) -> str:
    return f"""DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE c.relname = '{name}' AND c.relnamespace = current_schema()::regnamespace AND i.indisvalid
    ) THEN
        RAISE EXCEPTION 'index {name} is missing or INVALID after CREATE INDEX CONCURRENTLY';
    END IF;
END $$"""


def _refuse_leftover(name: str) -> str:
    return f"""DO $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE c.relname = '{name}' AND c.relnamespace = current_schema()::regnamespace AND NOT i.indisvalid
    ) THEN
        RAISE EXCEPTION 'index {name} is INVALID (left by a failed build): DROP INDEX CONCURRENTLY {name}; then re-run';
    END IF;
END $$"""


def _drop_leftover(name: str) -> None:
    if context.is_offline_mode():
        op.execute(_refuse_leftover(name))
        return
    bind = op.get_bind()
    row = bind.exec_driver_sql(invalid_leftover_sql, {"name": name}).fetchone()
    if row is None:
        return
    if row[1] is not None:
        # Dropping it would cancel someone else's build; building over it would "succeed" on
        # an index that is not valid yet.
        raise MigrationFailed(
            f"index {name} is being built right now by pid {row[1]} (see pg_stat_progress_create_index); "
            f"wait for that build to finish, then re-run"
        )
    op.execute(_sql("DROP INDEX CONCURRENTLY IF EXISTS {}", name))


def create_index_concurrently(name: str, table: str, definition: str) -> None:
    """Build ``name`` ON ``table`` ``definition`` (e.g. '(a, b DESC) INCLUDE (c)') without blocking writes.

    Must be called inside ``op.get_context().autocommit_block()``.
    """
    long_lock, long_stmt = _timeouts(concurrent=True)
    short_lock, short_stmt = _timeouts(concurrent=False)
    op.execute(long_lock)
    op.execute(long_stmt)
    _drop_leftover(name)
    op.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} {definition}")
    op.execute(_assert_valid(name))
    op.execute(short_lock)
    op.execute(short_stmt)


def validate_constraint(table: str, name: str) -> None:
    """VALIDATE a NOT VALID constraint inside the revision's transaction, with the long timeouts.

    VALIDATE takes SHARE UPDATE EXCLUSIVE: while it waits for that lock reads and writes go on,
    and once it has it the scan may take as long as the table is big, so neither the short
    lock_timeout nor the short statement_timeout fits. SET LOCAL ends with the transaction.
    """
    long_lock, long_stmt = _timeouts(concurrent=True, local=True)
    short_lock, short_stmt = _timeouts(concurrent=False, local=True)
    op.execute(long_lock)
    op.execute(long_stmt)
    op.execute(_sql("ALTER TABLE {} VALIDATE CONSTRAINT {}", table, name))
    op.execute(short_lock)
    op.execute(short_stmt)


def populate_materialized_view(name: str) -> None:
    """First REFRESH of a view created WITH NO DATA; call inside an autocommit block.

    It takes ACCESS EXCLUSIVE on the view, which nobody can read before it is populated, and
    ACCESS SHARE on the tables it reads: the short lock_timeout fits the locks, but the query
    is as long as the data is big, so it runs with the long statement_timeout.
    """
    _, long_stmt = _timeouts(concurrent=True)
    _, short_stmt = _timeouts(concurrent=False)
    op.execute(long_stmt)
    op.execute(_sql("REFRESH MATERIALIZED VIEW {}", name))
    op.execute(short_stmt)


def drop_index_concurrently(name: str) -> None:
    """Drop an index holding only SHARE UPDATE EXCLUSIVE; call inside an autocommit block."""
    long_lock, long_stmt = _timeouts(concurrent=True)
    short_lock, short_stmt = _timeouts(concurrent=False)
    op.execute(long_lock)
    op.execute(long_stmt)
    op.execute(_sql("DROP INDEX CONCURRENTLY IF EXISTS {}", name))
    op.execute(short_lock)
    op.execute(short_stmt)
