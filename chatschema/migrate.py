"""The migration API: upgrade, downgrade, current, history, offline SQL. The CLI is a thin layer over it.

Alembic's ``command`` functions do the work; chatschema builds their ``Config`` in code
(``script_location = chatschema:migrations``), hands them a connection, and turns their failures
into errors a DBA can act on.
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from alembic.util import CommandError
from psycopg import errors as pg_errors

from . import server
from .errors import LockTimeout, MigrationFailed, UnknownRevision
from .settings import Settings

__all__ = [
    "AppliedRevision",
    "RevisionInfo",
    "alembic_config",
    "script_directory",
    "history",
    "current",
    "upgrade",
    "downgrade",
    "offline_sql",
    "engine_for",
]

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class AppliedRevision:
    revision: str
    down_revision: str | None
    direction: str
    title: str
    seconds: float


@dataclass(frozen=True)
class RevisionInfo:
    revision: str
    down_revision: str | None
    title: str
    doc: str
    path: str


def alembic_config(settings: Settings | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", "chatschema:migrations")
    if settings is not None:
        cfg.attributes["lock_timeout_ms"] = settings.lock_timeout_ms
        cfg.attributes["statement_timeout_ms"] = settings.statement_timeout_ms
        cfg.attributes["concurrent_lock_timeout_ms"] = settings.concurrent_lock_timeout_ms
    return cfg


def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def _title(script: Script) -> str:
    return (script.doc or "").strip().splitlines()[0].rstrip(".") if script.doc else script.revision


def history() -> list[RevisionInfo]:
    """Every revision, oldest first."""
    scripts = list(script_directory().walk_revisions("base", "heads"))
    scripts.reverse()
    return [
        RevisionInfo(
            s.revision,
            s.down_revision if isinstance(s.down_revision, str) or s.down_revision is None else ",".join(s.down_revision),
            _title(s),
            s.longdoc or "",
            s.path,
        )
        for s in scripts
    ]


def _resolve(revision: str) -> str:
    scripts = script_directory()
    if revision in ("head", "heads", "base"):
        return revision
    try:
        found = scripts.get_revision(revision)
    except CommandError:
        found = None
    if found is None:
        known = ", ".join(r.revision for r in history())
        raise UnknownRevision(f"unknown revision {revision!r}; known revisions are {known} (see `chatschema history`)")
    return found.revision


def engine_for(info: str) -> sa.Engine:
    """A SQLAlchemy engine whose connections come from psycopg with exactly this conninfo."""
    return sa.create_engine("postgresql+psycopg://", creator=lambda: server.connect(info), poolclass=sa.NullPool)


@contextmanager
def _connection(settings: Settings) -> Iterator[tuple[str, sa.Connection]]:
    info = server.conninfo(settings)
    engine = engine_for(info)
    try:
        with engine.connect() as conn:
            yield info, conn
    finally:
        engine.dispose()


def _db_revision(conn: sa.Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def current(settings: Settings) -> str | None:
    """The database's revision (None for a database chatschema never migrated)."""
    with _connection(settings) as (_, conn):
        rev = _db_revision(conn)
        _check_known(rev, settings)
        return rev


def _check_known(rev: str | None, settings: Settings) -> None:
    if rev is None:
        return
    try:
        known = script_directory().get_revision(rev)
    except CommandError:
        known = None
    if known is None:
        raise UnknownRevision(
            f"the database is at revision {rev!r}, which this version of chatschema does not know "
            f"(migrated by a newer chatschema or another tool); nothing was changed"
        )


_TABLE_IN_DDL = re.compile(
    r"\b(?:ALTER\s+TABLE|ON|INTO|UPDATE|FROM|TABLE|MATERIALIZED\s+VIEW)\s+(?:ONLY\s+|IF\s+(?:NOT\s+)?EXISTS\s+)?"
    r"(\"?[A-Za-z_][\w.]*\"?)",
    re.IGNORECASE,
)
_INDEX_IN_DDL = re.compile(r"\bDROP\s+INDEX\s+(?:CONCURRENTLY\s+)?(?:IF\s+EXISTS\s+)?([A-Za-z_][\w.]*)", re.IGNORECASE)


def _lock_target(info: str, statement: str) -> str | None:
    if m := _INDEX_IN_DDL.search(statement):
        with server.connect(info) as conn:
            row = conn.execute(
                "SELECT indrelid::regclass::text FROM pg_index WHERE indexrelid = to_regclass(%s)", (m.group(1),)
            ).fetchone()
            return row[0] if row else m.group(1)
    m = _TABLE_IN_DDL.search(statement)
    return m.group(1).strip('"') if m else None


def _blockers(info: str, table: str) -> tuple[str, ...]:
    with server.connect(info, autocommit=True) as conn:
        rows = conn.execute(
            """
            SELECT l.pid, l.mode, coalesce(a.state, '?'),
                   coalesce(extract(epoch FROM now() - a.xact_start)::int, 0),
                   left(regexp_replace(coalesce(a.query, ''), '\\s+', ' ', 'g'), 120)
              FROM pg_locks l
              JOIN pg_stat_activity a ON a.pid = l.pid
             WHERE l.relation = to_regclass(%s) AND l.granted AND l.pid <> pg_backend_pid()
             ORDER BY a.xact_start NULLS LAST
            """,
            (table,),
        ).fetchall()
    return tuple(f"pid {pid} ({mode}, {state}, transaction open {age}s): {query}" for pid, mode, state, age, query in rows)


def _translate(exc: BaseException, info: str, settings: Settings, revision_hint: str) -> Exception:
    orig = getattr(exc, "orig", None)
    statement = getattr(exc, "statement", "") or ""
    if isinstance(orig, pg_errors.LockNotAvailable):
        table = _lock_target(info, statement)
        blockers = _blockers(info, table) if table else ()
        held = f"; held by {blockers[0]}" if blockers else ""
        more = f" (and {len(blockers) - 1} more)" if len(blockers) > 1 else ""
        return LockTimeout(
            f"lock_timeout ({settings.lock_timeout_ms} ms) expired waiting for a lock on {table or 'a table'}{held}{more}. "
            f"Revision {revision_hint} was rolled back. Re-run when that session ends, or raise --lock-timeout.",
            table=table,
            blockers=blockers,
        )
    if isinstance(orig, pg_errors.QueryCanceled):
        return MigrationFailed(
            f"statement_timeout ({settings.statement_timeout_ms} ms) cancelled revision {revision_hint}: "
            f"{statement.strip().splitlines()[0] if statement.strip() else ''}. Raise --statement-timeout and re-run."
        )
    if isinstance(orig, psycopg.Error):
        detail = str(orig).strip().splitlines()[0]
        return MigrationFailed(f"revision {revision_hint} failed: {detail}")
    if isinstance(exc, CommandError):
        return MigrationFailed(str(exc))
    return exc if isinstance(exc, Exception) else RuntimeError(str(exc))


def _run(
    settings: Settings,
    fn: Callable[[Config], None],
    *,
    progress: Progress | None,
    on_revision: Callable[[AppliedRevision], None] | None,
) -> list[AppliedRevision]:
    applied: list[AppliedRevision] = []
    scripts = script_directory()
    with _connection(settings) as (info, conn):
        _check_known(_db_revision(conn), settings)
        cfg = alembic_config(settings)
        cfg.attributes["connection"] = conn
        cfg.attributes["progress"] = progress
        state = {"started": time.perf_counter(), "current": "?"}

        def on_version_apply(*, ctx, step, heads, run_args):  # type: ignore[no-untyped-def]
            now = time.perf_counter()
            rev = AppliedRevision(
                revision=step.up_revision_id,
                down_revision=step.down_revision_ids[0] if step.down_revision_ids else None,
                direction="upgrade" if step.is_upgrade else "downgrade",
                title=_title(scripts.get_revision(step.up_revision_id)),
                seconds=now - state["started"],
            )
            applied.append(rev)
            if on_revision:
                on_revision(rev)
            state["started"] = time.perf_counter()

        cfg.attributes["on_version_apply"] = on_version_apply
        try:
            fn(cfg)
        except Exception as exc:
            done = applied[-1].revision if applied else "(none)"
            raise _translate(exc, info, settings, f"after {done}") from exc
    return applied


def upgrade(
    settings: Settings,
    revision: str = "head",
    *,
    progress: Progress | None = None,
    on_revision: Callable[[AppliedRevision], None] | None = None,
) -> list[AppliedRevision]:
    """Upgrade the database to ``revision``; returns the revisions applied, each with its duration."""
    target = _resolve(revision)
    return _run(settings, lambda cfg: command.upgrade(cfg, target), progress=progress, on_revision=on_revision)


def downgrade(
    settings: Settings,
    revision: str,
    *,
    on_revision: Callable[[AppliedRevision], None] | None = None,
) -> list[AppliedRevision]:
    """Downgrade the database to ``revision`` ('base' removes everything chatschema created)."""
    target = _resolve(revision)
    return _run(settings, lambda cfg: command.downgrade(cfg, target), progress=None, on_revision=on_revision)


def offline_sql(range_: str | None = None, settings: Settings | None = None) -> str:
    """The SQL an upgrade (or a downgrade, for 'HIGH:LOW') would run, one block per revision.

    ``range_`` is 'FROM:TO' ('base:head' when omitted); 'TO' alone means 'base:TO'.
    """
    spec = range_ or "base:head"
    low, _, high = spec.rpartition(":") if ":" in spec else ("base", ":", spec)
    low = low or "base"
    low_r, high_r = _resolve(low), _resolve(high)
    order = {r.revision: i for i, r in enumerate(history())}
    order.update({"base": -1, "head": len(order), "heads": len(order)})
    buf = io.StringIO()
    cfg = alembic_config(settings or Settings())
    cfg.output_buffer = buf
    cfg.attributes["output_buffer"] = buf
    if order[low_r] <= order[high_r]:
        command.upgrade(cfg, f"{low_r}:{high_r}", sql=True)
    else:
        command.downgrade(cfg, f"{low_r}:{high_r}", sql=True)
    return buf.getvalue()
