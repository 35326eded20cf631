"""DDL building blocks the migrations share: concurrent index builds that repair their own debris.

``CREATE INDEX CONCURRENTLY`` cannot run in a transaction, waits on every older snapshot (so it
gets its own, long, lock_timeout), and leaves an INVALID index behind when it fails, which
``IF NOT EXISTS`` would then silently accept. So every build here: drops an INVALID leftover of
the same name that is not being built right now, builds, and then asserts the index is valid.
In offline (--sql) mode the same checks are rendered as DO blocks a DBA can read.
"""

from __future__ import annotations

from alembic import context, op

__all__ = ["create_index_concurrently", "drop_index_concurrently", "invalid_leftover_sql"]

# An index with indisvalid = false is either debris of a failed build or a build in progress;
# pg_stat_progress_create_index tells them apart (PG12+).
invalid_leftover_sql = """
SELECT i.indexrelid::regclass::text
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
WHERE c.relname = %(name)s
  AND c.relnamespace = current_schema()::regnamespace
  AND NOT i.indisvalid
  AND NOT EXISTS (SELECT 1 FROM pg_stat_progress_create_index p WHERE p.index_relid = i.indexrelid)
"""


def _timeouts(concurrent: bool) -> tuple[str, str]:
    attrs = context.config.attributes
    lock_ms = attrs.get("concurrent_lock_timeout_ms", 0) if concurrent else attrs.get("lock_timeout_ms", 2000)
    stmt_ms = attrs.get("statement_timeout_ms", 0)
    return f"SET lock_timeout = '{int(lock_ms)}ms'", f"SET statement_timeout = '{int(stmt_ms) if not concurrent else 0}ms'"


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
    if row is not None:
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


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


def drop_index_concurrently(name: str) -> None:
    """Drop an index holding only SHARE UPDATE EXCLUSIVE; call inside an autocommit block."""
    long_lock, long_stmt = _timeouts(concurrent=True)
    short_lock, short_stmt = _timeouts(concurrent=False)
    op.execute(long_lock)
    op.execute(long_stmt)
    op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
    op.execute(short_lock)
    op.execute(short_stmt)
