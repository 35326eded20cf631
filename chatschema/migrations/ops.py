"""What revisions call: DDL helpers and the SQL of batched backfills, frozen in time.

A revision imports only ``alembic``, ``sqlalchemy`` and this module. Everything here is history:
once a revision calls a helper, the SQL it renders never changes (``tests/frozen/`` holds the
chain's offline script and a test fails when it moves). A helper that must change gets a new name
(``create_index_concurrently_v2``), and the old one stays for the revisions that call it. What may
change, because it is policy rather than history, is read at run time: the timeouts of the lock
policy (``context.config.attributes``, set by ``chatschema.migrate``), and how a backfill is paced
(``chatschema.migrate.backfill`` runs the batches this module describes).

Concurrent index builds: ``CREATE INDEX CONCURRENTLY`` cannot run in a transaction, waits on every
older snapshot (so it gets its own, long, lock_timeout), and leaves an INVALID index behind when it
fails, which ``IF NOT EXISTS`` would then silently accept. So every build here drops an INVALID
leftover of the same name that is not being built right now, builds, and then asserts the index is
valid. In offline (--sql) mode the same checks are rendered as DO blocks a DBA can read.

Timeouts follow the lock policy: the session runs with the short timeouts of the strong class;
these helpers switch to the long ones of the online class around statements that let reads and
writes through (CONCURRENTLY, VALIDATE CONSTRAINT, the first population of a view nobody can read
yet) and switch back afterwards. They are plain SET statements, so the offline script carries
exactly the same policy.
"""

from __future__ import annotations


from alembic import context, op
from psycopg import sql

from chatschema.errors import MigrationFailed
from chatschema.migrations import CHECKPOINT_TABLE
from chatschema.migrations.backfills import (  # noqa: F401 - re-exported: revisions import only ops
    CREATE_CHECKPOINT,
    FINISH_CHECKPOINT,
    MESSAGE_USER_ID_BACKFILL,
    SAVE_CHECKPOINT,
    SUMMARY_BACKFILL,
    BatchedBackfill,
)
from chatschema.settings import Settings

__all__ = [
    "create_index_concurrently",
    "create_unique_index_concurrently",
    "drop_index_concurrently",
    "validate_constraint",
    "validate_constraint_committed",
    "populate_materialized_view",
    "refuse_invalid_leftover",
    "assert_index_valid",
    "BatchedBackfill",
    "SUMMARY_BACKFILL",
    "MESSAGE_USER_ID_BACKFILL",
    "backfill",
    "forget_backfill",
    "drop_checkpoint_table",
]

_DEFAULTS = Settings()

# An index with indisvalid = false is either debris of a failed build or a build in progress;
# pg_stat_progress_create_index tells them apart (PG12+).
_INVALID_LEFTOVER = """
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


def _single_transaction() -> bool:
    """Online, on a connection handed over inside the caller's transaction (see migrations.environment):
    nothing may commit, so CONCURRENTLY is not possible and the plain statement is used instead."""
    return not context.is_offline_mode() and bool(context.config.attributes.get("single_transaction"))


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


def assert_index_valid(name: str) -> str:
    """The DO block that stops the run unless ``name`` exists and is valid (after a concurrent build)."""
    return f"""DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE c.relname = '{name}' AND c.relnamespace = current_schema()::regnamespace AND i.indisvalid
    ) THEN
        RAISE EXCEPTION 'index {name} is missing or INVALID after CREATE INDEX CONCURRENTLY';
    END IF;
END $$"""


def refuse_invalid_leftover(name: str) -> str:
    """The DO block of the offline script that stops when an INVALID ``name`` is in the way.

    Online the runner drops such debris itself; the offline script can only refuse and say how.
    """
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
        op.execute(refuse_invalid_leftover(name))
        return
    bind = op.get_bind()
    row = bind.exec_driver_sql(_INVALID_LEFTOVER, {"name": name}).fetchone()
    if row is None:
        return
    if row[1] is not None:
        # Dropping it would cancel someone else's build; building over it would "succeed" on
        # an index that is not valid yet.
        raise MigrationFailed(
            f"index {name} is being built right now by pid {row[1]} (see pg_stat_progress_create_index); "
            f"wait for that build to finish, then re-run"
        )
    op.execute(_sql("DROP INDEX IF EXISTS {}" if _single_transaction() else "DROP INDEX CONCURRENTLY IF EXISTS {}", name))


def create_index_concurrently(name: str, table: str, definition: str) -> None:
    """Build ``name`` ON ``table`` ``definition`` (e.g. '(a, b DESC) INCLUDE (c)') without blocking writes.

    Must be called inside ``op.get_context().autocommit_block()``.
    """
    long_lock, long_stmt = _timeouts(concurrent=True)
    short_lock, short_stmt = _timeouts(concurrent=False)
    op.execute(long_lock)
    op.execute(long_stmt)
    _drop_leftover(name)
    concurrently = "" if _single_transaction() else " CONCURRENTLY"
    op.execute(f"CREATE INDEX{concurrently} IF NOT EXISTS {name} ON {table} {definition}")
    op.execute(assert_index_valid(name))
    op.execute(short_lock)
    op.execute(short_stmt)


def create_unique_index_concurrently(name: str, table: str, definition: str) -> None:
    """As create_index_concurrently, for a UNIQUE index (revision 0012: the keys that contain user_id)."""
    long_lock, long_stmt = _timeouts(concurrent=True)
    short_lock, short_stmt = _timeouts(concurrent=False)
    op.execute(long_lock)
    op.execute(long_stmt)
    _drop_leftover(name)
    concurrently = "" if _single_transaction() else " CONCURRENTLY"
    op.execute(f"CREATE UNIQUE INDEX{concurrently} IF NOT EXISTS {name} ON {table} {definition}")
    op.execute(assert_index_valid(name))
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


def validate_constraint_committed(table: str, name: str) -> None:
    """VALIDATE a NOT VALID constraint in a transaction of its own; call inside an autocommit block.

    For a revision that adds the constraint itself: ADD CONSTRAINT holds ACCESS EXCLUSIVE until its
    transaction ends, so a VALIDATE in that same transaction would scan the table with reads and
    writes blocked. The autocommit block commits the ADD first; this then waits for, and scans under,
    SHARE UPDATE EXCLUSIVE alone, with the long timeouts (session SETs: there is no transaction for
    SET LOCAL to end with), and switches back to the short ones.
    """
    long_lock, long_stmt = _timeouts(concurrent=True)
    short_lock, short_stmt = _timeouts(concurrent=False)
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
    op.execute(_sql("DROP INDEX IF EXISTS {}" if _single_transaction() else "DROP INDEX CONCURRENTLY IF EXISTS {}", name))
    op.execute(short_lock)
    op.execute(short_stmt)


# --- batched backfills (their data in backfills.py) ---------------------------------------------


def _offline_backfill(spec: BatchedBackfill, batch_size: int, pause_s: float) -> list[str]:
    """The backfill as SQL for `chatschema sql`: a DO block that commits after every batch.

    psql runs it outside a transaction block (Alembic's autocommit block renders COMMIT first),
    which is what lets a DO block COMMIT (PostgreSQL 11+). ``pause_s`` throttles it as
    ``--backfill-pause`` throttles the online run: a pg_sleep after each commit, holding no locks.
    """
    apply = spec.apply.replace("%(ids)s", "ids")
    throttle = f"\n        PERFORM pg_sleep({pause_s:g});" if pause_s > 0 else ""
    first = spec.lock_first.replace("%(n)s", str(batch_size))
    following = spec.lock_next.replace("%(n)s", str(batch_size)).replace("%(after)s", "after")
    loop = f"""DO $$
DECLARE
    after uuid;
    ids uuid[];
    finished timestamptz;
BEGIN
    SELECT last_id, finished_at INTO after, finished FROM {CHECKPOINT_TABLE} WHERE name = '{spec.name}';
    IF finished IS NOT NULL THEN
        RETURN;
    END IF;
    LOOP
        IF after IS NULL THEN
            SELECT array_agg(id) INTO ids FROM (
                {first}) AS batch;
        ELSE
            SELECT array_agg(id) INTO ids FROM (
                {following}) AS batch;
        END IF;
        EXIT WHEN ids IS NULL;
        {apply.strip()};
        after := ids[array_upper(ids, 1)];
        INSERT INTO {CHECKPOINT_TABLE} (name, last_id, rows_done, updated_at)
        VALUES ('{spec.name}', after, array_length(ids, 1), now())
        ON CONFLICT (name) DO UPDATE SET last_id = EXCLUDED.last_id,
            rows_done = {CHECKPOINT_TABLE}.rows_done + EXCLUDED.rows_done, updated_at = now();
        COMMIT;{throttle}
    END LOOP;
    INSERT INTO {CHECKPOINT_TABLE} (name, finished_at) VALUES ('{spec.name}', now())
    ON CONFLICT (name) DO UPDATE SET finished_at = now(), updated_at = now();
    COMMIT;
END $$"""
    return [CREATE_CHECKPOINT.strip(), loop]


def backfill(spec: BatchedBackfill) -> None:
    """Run ``spec`` in committed, resumable batches; call inside an autocommit block.

    Online the batches are run by ``chatschema.migrate.backfill`` at the pace the runner was given
    (``--backfill-batch-size``, ``--backfill-pause``); offline they are one DO block.
    """
    attrs = context.config.attributes
    batch_size = int(attrs.get("backfill_batch_size", _DEFAULTS.backfill_batch_size))
    pause_s = float(attrs.get("backfill_pause_s", _DEFAULTS.backfill_pause_ms / 1000))
    if context.is_offline_mode():
        for statement in _offline_backfill(spec, batch_size, pause_s):
            op.execute(statement)
        return
    if _single_transaction():
        _backfill_in_transaction(spec, batch_size)
        return
    from chatschema.migrate.backfill import run_batches  # the pacing and the gates are policy, not history

    run_batches(op.get_bind().connection.driver_connection, spec, batch_size=batch_size, pause_s=pause_s,
                progress=attrs.get("progress"), gates=attrs.get("gates"), report=attrs.get("backfill_report"))


def _backfill_in_transaction(spec: BatchedBackfill, batch_size: int) -> None:
    """The same batches without commits, inside the caller's transaction (its rollback undoes them)."""
    bind = op.get_bind()
    bind.exec_driver_sql(CREATE_CHECKPOINT)
    after = None
    while True:
        rows = (bind.exec_driver_sql(spec.lock_first, {"n": batch_size}) if after is None
                else bind.exec_driver_sql(spec.lock_next, {"n": batch_size, "after": after})).fetchall()
        if not rows:
            break
        ids = [row[0] for row in rows]
        bind.exec_driver_sql(spec.apply, {"ids": ids})
        after = ids[-1]
        bind.exec_driver_sql(SAVE_CHECKPOINT, {"name": spec.name, "last": after, "n": len(ids)})
    for statement in FINISH_CHECKPOINT:
        bind.exec_driver_sql(statement, {"name": spec.name})


def forget_backfill(spec: BatchedBackfill) -> str:
    """The statement that forgets ``spec``'s checkpoint (if the table is there), so a re-upgrade reruns it."""
    return f"""DO $$
BEGIN
    IF to_regclass('{CHECKPOINT_TABLE}') IS NOT NULL THEN
        DELETE FROM {CHECKPOINT_TABLE} WHERE name = '{spec.name}';
    END IF;
END $$"""


def drop_checkpoint_table() -> None:
    """Forget every backfill's checkpoint, so that a re-upgrade recomputes."""
    op.execute(f"DROP TABLE IF EXISTS {CHECKPOINT_TABLE}")
