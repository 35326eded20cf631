"""The seed's own settle: VACUUM and ANALYZE of the fresh tables, and the views' refresh, side by side.

``chatschema.scratch.settle`` runs ``VACUUM (ANALYZE)`` table after table on one session, for any
database. After a seed the sessions of the load are still open and idle, so this one spreads the
same work over them in two rounds and the longest steps overlap; it stays here because it is part
of the seed's timing (the ``settle`` phase of ``SeedReport``) and runs on the seed's sessions.

Frozen rows (COPY FREEZE) leave VACUUM little more to do than set the visibility map; ANALYZE and
the refresh of the materialized views (revision 0007) then run side by side.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from ..citus import rollups
from ..views import VIEWS, refresh_views
from .load import Unit, dispatch

__all__ = ["settle_rounds", "settle"]

EXISTING_VIEWS = "SELECT matviewname FROM pg_matviews WHERE schemaname = current_schema() AND matviewname = ANY(%s)"


def _maintain(command: str, table: str) -> Unit:
    def run(conn: psycopg.Connection) -> int:
        # VACUUM's and ANALYZE's lock lets reads and writes through, so it may wait as long as it
        # takes (an autovacuum of the fresh rows is cancelled for it, after deadlock_timeout).
        conn.execute("SET lock_timeout = 0")
        conn.execute(sql.SQL("{} {}").format(sql.SQL(command), sql.Identifier(table)))
        conn.execute("RESET lock_timeout")
        return 0

    return run


def _refresh(conn: psycopg.Connection) -> int:
    refresh_views(conn, concurrently=False)
    if rollups.exists(conn):  # a seed on a distributed database: its analytics read the rollups
        rollups.refresh_rollups(conn, rollups.ALL_DAYS)
    return 0


def settle_rounds(conn: psycopg.Connection) -> list[list[list[Unit]]]:
    """Rounds of lanes (one session each) for autocommit sessions: first VACUUM messages beside the
    other tables, then ANALYZE messages beside the other tables' ANALYZE and (at revision 0007) the
    views' refresh and their VACUUM (ANALYZE). The second lane runs on a generating session, whose
    work_mem keeps the refresh's sort in memory; a third lane would only share the same two cores
    (measured: no faster on this machine).

    Nothing else reads a table while it is vacuumed: a page another scan has pinned cannot be
    cleaned, so VACUUM would leave it out of the visibility map and index-only scans would miss it.
    ANALYZE only samples, so the refresh may read messages meanwhile: the two longest steps overlap.
    """
    with conn.cursor(row_factory=dict_row) as cur:
        existing = {row["matviewname"] for row in cur.execute(EXISTING_VIEWS, ([v.name for v in VIEWS],))}
    views: list[Unit] = []
    if len(existing) == len(VIEWS):
        views = [_refresh, *(_maintain("VACUUM (ANALYZE)", v.name) for v in VIEWS)]
        if rollups.exists(conn):
            views += [_maintain("VACUUM (ANALYZE)", table) for table in rollups.TABLES]
    return [
        [[_maintain("VACUUM", "messages")], [_maintain("VACUUM", "conversations"), _maintain("VACUUM", "users")]],
        [[_maintain("ANALYZE", "messages")], [_maintain("ANALYZE", "conversations"), _maintain("ANALYZE", "users"), *views]],
    ]


def settle(pool: ThreadPoolExecutor, sessions: list[psycopg.Connection], progress: Callable[[int, int], None], *,
           statistics_target: int | None = None) -> None:
    """Run the rounds on ``sessions`` (made autocommit), one round after the other.

    ``progress(done, total)`` is called with 0 steps done first, then after each step, in this thread.
    ``statistics_target`` is every session's ``default_statistics_target`` for the ANALYZEs.
    """
    for conn in sessions:
        conn.autocommit = True
        if statistics_target is not None:
            conn.execute(sql.SQL("SET default_statistics_target = {}").format(sql.Literal(statistics_target)))
    rounds = settle_rounds(sessions[0])
    total = sum(len(lane) for lanes in rounds for lane in lanes)
    done = 0

    def on_step(_: int) -> None:
        nonlocal done
        done += 1
        progress(done, total)

    progress(0, total)
    for lanes in rounds:
        queues = [iter(lane) for lane in lanes]
        dispatch(pool, sessions[: len(lanes)], lambda i, q=queues: next(q[i], None), on_step)  # type: ignore[misc]
