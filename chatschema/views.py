"""Analytics materialized views, their unique keys, and their refresh.

Each view has a UNIQUE index on plain NOT NULL columns with no WHERE: the one thing
``REFRESH MATERIALIZED VIEW CONCURRENTLY`` needs (NULL keys would make every refresh rewrite
those rows). Days are cut in UTC explicitly, never in the session's TimeZone.
Views are refreshed in dependency order: ``daily_message_totals`` reads ``user_daily_messages``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql

from . import server
from .citus import rollups
from .errors import ConfigError, MigrationFailed
from .settings import Settings

__all__ = ["MaterializedView", "VIEWS", "VIEWS_REVISION", "VIEWS_REBUILT", "RefreshResult", "refresh_views", "refresh",
           "refresh_analytics"]


@dataclass(frozen=True)
class MaterializedView:
    name: str
    key: tuple[str, ...]
    index: str
    serves: str


VIEWS: tuple[MaterializedView, ...] = (
    MaterializedView(
        name="user_daily_messages",
        key=("user_id", "day"),
        index="ux_user_daily_messages",
        serves="per-user daily message counts (analytics)",
    ),
    MaterializedView(
        name="daily_message_totals",
        key=("day",),
        index="ux_daily_message_totals",
        serves="service-wide daily totals (analytics)",
    ),
)


VIEWS_REVISION = "0007"
"""The revision that creates VIEWS (migrations/versions/0007_analytics_views.py): before it they are not missing,
only not there yet."""

VIEWS_REBUILT = ("0016", "0017")
"""The revisions that rebuild VIEWS from messages alone (0016 builds them beside the old ones, 0017 swaps
them in; 0017's downgrade tolerates a view that is gone and puts 0007's back)."""


@dataclass(frozen=True)
class RefreshResult:
    view: str
    concurrently: bool
    seconds: float
    rows: int


def refresh_views(
    conn: psycopg.Connection,
    *,
    concurrently: bool,
    on_view: Callable[[str], None] | None = None,
) -> list[RefreshResult]:
    """Refresh every view in dependency order on an autocommit connection.

    CONCURRENTLY keeps the views readable (EXCLUSIVE, not ACCESS EXCLUSIVE) but costs a diff; a
    view that was never populated is refreshed plainly first, since CONCURRENTLY refuses it.
    """
    results = []
    for view in VIEWS:
        if on_view:
            on_view(view.name)
        populated = conn.execute(
            "SELECT ispopulated FROM pg_matviews WHERE matviewname = %s AND schemaname = current_schema()",
            (view.name,),
        ).fetchone()
        if populated is None:
            raise MigrationFailed(
                f"materialized view {view.name} does not exist; run `chatschema upgrade` first"
            )
        use_concurrently = concurrently and bool(populated[0])
        stmt = sql.SQL("REFRESH MATERIALIZED VIEW {}{}").format(
            sql.SQL("CONCURRENTLY ") if use_concurrently else sql.SQL(""), sql.Identifier(view.name)
        )
        started = time.perf_counter()
        try:
            conn.execute(stmt)
        except psycopg.Error as exc:
            raise _refresh_failed(conn, view.name, use_concurrently, exc) from None
        elapsed = time.perf_counter() - started
        rows = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(view.name))).fetchone()
        results.append(RefreshResult(view.name, use_concurrently, elapsed, int(rows[0]) if rows else 0))
    return results


def _refresh_failed(conn: psycopg.Connection, view: str, concurrently: bool, exc: psycopg.Error) -> MigrationFailed:
    """One line for a refresh the server refused: which view, why, and who holds its lock."""
    from .migrate import locks  # the lock vocabulary lives with the migrations; imported late, no cycle

    if isinstance(exc, pg_errors.LockNotAvailable):
        timeout = conn.execute("SELECT current_setting('lock_timeout') AS t").fetchone()
        mode = "ExclusiveLock" if concurrently else "AccessExclusiveLock"
        holders = locks.blockers(conn, locks.TableLock(view, mode))
        held = ("; held by " + "; ".join(str(b) for b in holders)) if holders else (
            "; no session holds a conflicting lock any more")
        hint = "" if concurrently else " (or use REFRESH ... CONCURRENTLY: `views refresh --concurrently` lets readers through)"
        return MigrationFailed(
            f"views refresh of {view}: lock_timeout ({timeout[0] if timeout else '?'}) expired waiting for its lock"
            f"{held}. Nothing was refreshed from {view} on; re-run when that session ends{hint}, or raise --lock-timeout."
        )
    hint = ""
    if isinstance(exc, pg_errors.InsufficientPrivilege):
        hint = "; refresh as the role that owns the views (the one that ran `chatschema upgrade`)"
    elif isinstance(exc, pg_errors.ReadOnlySqlTransaction):
        hint = "; this server is read-only (a standby?): refresh on the primary"
    return MigrationFailed(f"views refresh of {view} failed: {server.error_line(exc)}{hint}")


def refresh(settings: Settings, *, concurrently: bool) -> list[RefreshResult]:
    """``chatschema views refresh``: every view refreshed under the strong lock class's timeouts.

    A plain refresh takes ACCESS EXCLUSIVE on the view, so it waits at most lock_timeout for it;
    the query runs at most statement_timeout (raise it for big views).
    """
    with _session(settings) as conn:
        return refresh_views(conn, concurrently=concurrently)


@contextmanager
def _session(settings: Settings) -> Iterator[psycopg.Connection]:
    """An autocommit connection under the strong lock class's timeouts."""
    with server.connect(server.conninfo(settings), autocommit=True) as conn:
        conn.execute("SELECT set_config('lock_timeout', %s, false)", (f"{settings.lock_timeout_ms}ms",))
        conn.execute("SELECT set_config('statement_timeout', %s, false)", (f"{settings.statement_timeout_ms}ms",))
        yield conn


def refresh_analytics(settings: Settings, *, concurrently: bool, since: date | None = None
                      ) -> tuple[list[RefreshResult], rollups.RollupRefresh | None]:
    """``chatschema views refresh``: the views, then, where ``distribute`` created them, the Citus rollups.

    The rollups recompute the UTC days from ``since`` (default: the day before their newest day) on;
    a ``since`` without rollups is refused rather than ignored.
    """
    with _session(settings) as conn:
        results = refresh_views(conn, concurrently=concurrently)
        if not rollups.exists(conn):
            if since is not None:
                raise ConfigError("--since applies to the Citus rollups (user_daily_rollup, daily_totals_rollup), "
                                  "which this database does not have; the views were refreshed whole")
            return results, None
        # The views' lock_timeout is for their ACCESS EXCLUSIVE; the rollups take row locks only and
        # wait for a concurrent refresh of theirs as long as the server lets them.
        conn.execute("RESET lock_timeout")
        return results, rollups.refresh_rollups(conn, since)
