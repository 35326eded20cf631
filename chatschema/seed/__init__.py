"""Representative data: users, conversations and messages with the skew production has, made inside PostgreSQL.

Ties everywhere: a user message and its reply share a timestamp (the application stores both in
one transaction), and 1 in 20 conversations was imported in bulk with every message at one
instant, so every ordering needs its ``id`` tie-breaker. Content runs from two characters to about
9 kB. The same seed gives byte-identical rows. Where each part lives:

- ``scales``: how much and how skewed (``Scale``, ``SCALES``), and the checks of the arguments;
- ``sql/``: the generator itself, as SQL (functions, the plan, the SELECTs of the rows);
- ``load``: the generating sessions and the binary COPY that carries their rows to the loader;
- ``defer``: the indexes and foreign keys dropped for the load and built again after it;
- ``settle``: VACUUM, ANALYZE and the views' refresh, spread over the load's sessions;
- ``interesting``: the outlier rows (``interesting_ids``) the plan validator and the benchmarks use.

How ``seed_database`` loads, as pg_restore does: in one transaction, on one session (the loader),
the tables are locked, emptied, and stripped of the indexes and foreign keys the load would
otherwise maintain row by row; users, conversations and messages then go in with one ``COPY ...
FREEZE`` each; the indexes are built again by sorting, the foreign keys re-added and checked by one
join; then it commits. A failure anywhere rolls it all back: the schema, and any rows ``replace``
was about to delete, stay as they were. The conversation summaries (revision 0003 on) come from the
same generator as the messages, so each conversation row is written once. Then the tables settle.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import conninfo as pg_conninfo
from psycopg import sql
from psycopg import errors as pg_errors
from psycopg.rows import dict_row

from .. import migrate, server
from ..errors import ChatSchemaError, ConfigError, Interrupted, LockTimeout, UnknownRevision
from ..migrations import VERSION_TABLE
from ..progress import Progress
from . import defer, load, replace as replace_
from .interesting import SUMMARY_COLUMNS, InterestingRows, has_message_owner, has_summaries, interesting_ids
from .scales import SCALES, Scale, check_seed, plan_params, resolve_scale
from .settle import settle

__all__ = [
    "Scale",
    "SCALES",
    "InterestingRows",
    "SeedReport",
    "seed_database",
    "interesting_ids",
]

LOCK = "LOCK TABLE users, conversations, messages IN ACCESS EXCLUSIVE MODE"

SCHEMA_PRESENT = """
SELECT to_regclass(%(version_table)s) IS NOT NULL AS has_version,
       to_regclass('users') IS NOT NULL AND to_regclass('conversations') IS NOT NULL
           AND to_regclass('messages') IS NOT NULL AS has_tables
"""

# EXISTS-style probes: counting a big table just to refuse would take as long as seeding it.
EXISTING_ROWS = """
SELECT (SELECT count(*) FROM (SELECT 1 FROM users LIMIT 1000) u) AS users,
       (SELECT count(*) FROM (SELECT 1 FROM conversations LIMIT 1000) c) AS conversations,
       (SELECT count(*) FROM (SELECT 1 FROM messages LIMIT 1000) m) AS messages
"""


@dataclass(frozen=True)
class SeedReport:
    """What ``seed_database`` made, how long it took (``phases`` in order) and where the outliers are."""

    scale: str
    seed: int
    revision: str  # the schema revision the data was generated at
    users: int
    conversations: int
    messages: int
    seconds: float  # wall time of the whole run, VACUUM (ANALYZE) included
    messages_per_second: float
    interesting: InterestingRows
    phases: tuple[tuple[str, float], ...] = ()  # (phase, seconds), in order


def seed_database(
    conninfo: str,
    *,
    scale: str = "ci",
    messages: int | None = None,
    seed: int = 42,
    progress: Progress | None = None,
    replace: bool = False,
    lock_timeout_ms: int | None = None,
    also_truncate: Sequence[str] = (),
    statistics_target: int | None = None,
) -> SeedReport:
    """Fill an empty chatschema database (at any revision) with skewed, deterministic data.

    ``scale`` is one of ``SCALES``; ``messages`` resizes it (users and conversations follow in
    proportion). A database that already has rows is refused unless ``replace``, which empties the
    tables first; a table outside chatschema's that a foreign key ties to them (which ``TRUNCATE
    users CASCADE`` would empty too) is refused unless named in ``also_truncate`` (``replace``). The load is one transaction: if it fails, the
    database is left as it was, indexes, constraints and (with ``replace``) the old rows included.
    At revision 0007 the materialized views are refreshed; then every table is ``VACUUM
    (ANALYZE)``d so plans see a settled database. ``progress(phase, done, total)`` is called, from
    the calling thread, as the load goes: phases ``conversations``, ``messages``, ``indexes`` and
    ``settle``. ``lock_timeout_ms`` bounds every session's wait for a lock (the load's takes the
    strongest there is); None leaves the server's ``lock_timeout`` as it is. ``statistics_target``
    sets ``default_statistics_target`` for the settle's ANALYZE, so that a caller who wants whole-table
    statistics (the plan validator, the pytest plugin) need not ANALYZE everything a second time.
    """
    chosen = resolve_scale(scale, messages)
    check_seed(seed)
    if also_truncate and not replace:
        raise ConfigError("--also-truncate empties tables only with --replace; nothing was changed")
    params = plan_params(chosen, seed)
    info = _with_lock_timeout(conninfo, lock_timeout_ms)
    target = server.describe_target(info)
    run = _Run(progress)
    sessions = load.open_sessions(info)
    revision = ""
    try:
        with ThreadPoolExecutor(len(sessions), thread_name_prefix="chatschema-seed") as pool:
            try:
                try:
                    revision = _load(pool, sessions, chosen, params, replace, also_truncate, target, run)
                except psycopg.Error as exc:
                    raise _translate(exc, target) from exc
                interesting = _settle(pool, sessions, target, run, statistics_target)
            except KeyboardInterrupt:
                # Ctrl-C (or SIGTERM, which the CLI turns into one) reaches this thread only: the
                # statements the pool's threads run go on in the server unless cancelled here.
                load.cancel_all(sessions)
                raise Interrupted(_interrupted(run, chosen, target, committed=bool(revision))) from None
    finally:
        for conn in sessions:
            conn.close()  # an open transaction is rolled back: a failed load leaves nothing behind
    return run.report(chosen, seed, revision, interesting)


class _Run:
    """The running tally of a seed: phases timed in order, rows counted, progress reported."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.started = self.mark = time.perf_counter()
        self.phases: list[tuple[str, float]] = []
        self.counts = {"conversations": 0, "messages": 0, "indexes": 0}

    def phase(self, name: str) -> None:
        """The phase ``name`` ends now."""
        now = time.perf_counter()
        self.phases.append((name, now - self.mark))
        self.mark = now

    def counter(self, name: str, total: int) -> Callable[[int], None]:
        """A callback that adds its rows to ``name``'s count and reports it."""

        def on_done(rows: int) -> None:
            self.counts[name] += rows
            self.tell(name, self.counts[name], total)

        return on_done

    def tell(self, name: str, done: int, total: int) -> None:
        if self.progress:
            self.progress(name, done, total)

    def report(self, scale: Scale, seed: int, revision: str, interesting: InterestingRows) -> SeedReport:
        seconds = time.perf_counter() - self.started
        return SeedReport(
            scale=scale.name,
            seed=seed,
            revision=revision,
            users=scale.users,
            conversations=self.counts["conversations"],
            messages=self.counts["messages"],
            seconds=seconds,
            messages_per_second=self.counts["messages"] / seconds if seconds > 0 else 0.0,
            interesting=interesting,
            phases=tuple(self.phases),
        )


def _interrupted(run: _Run, scale: Scale, target: str, *, committed: bool) -> str:
    """What an interrupted seed leaves behind, in one sentence."""
    if not committed:
        done = run.counts["messages"]
        where = f" after {done:,} of {scale.messages:,} messages" if done else ""
        return (f"seeding {target} was interrupted{where}: its statements were cancelled on the server and its "
                f"transaction rolled back, so the database is as it was before the run (nothing was seeded)")
    return (f"seeding {target} was interrupted while settling: the {run.counts['messages']:,} messages are "
            f"committed, but the tables are not VACUUM (ANALYZE)d and the views (revision 0007) not refreshed; "
            f"run VACUUM (ANALYZE) and `chatschema views refresh`, or seed again with --replace")


def _with_lock_timeout(conninfo: str, lock_timeout_ms: int | None) -> str:
    """``conninfo`` with ``-c lock_timeout=...`` added to its options, so every session has it."""
    if lock_timeout_ms is None:
        return conninfo
    if isinstance(lock_timeout_ms, bool) or not isinstance(lock_timeout_ms, int) or lock_timeout_ms < 0:
        raise ConfigError(f"--lock-timeout: expected a duration of 0 ms or more, got {lock_timeout_ms!r}")
    options = pg_conninfo.conninfo_to_dict(conninfo).get("options") or ""
    return pg_conninfo.make_conninfo(conninfo, options=f"{options} -c lock_timeout={lock_timeout_ms}ms".strip())


def _load(pool: ThreadPoolExecutor, sessions: list[psycopg.Connection], scale: Scale, params: dict[str, Any],
          replace: bool, also_truncate: Sequence[str], target: str, run: _Run) -> str:
    """The load's transaction, from the lock to the commit; returns the database's revision."""
    loader, generators = sessions[0], sessions[1:]
    revision, summaries, truncate = _claim(loader, target, replace, also_truncate)
    list(pool.map(lambda conn: load.prepare(conn, params), generators))
    span, max_span = load.plan_span(generators[0])
    run.phase("plan")

    freeze = defer.empty(loader, truncate)
    deferred = defer.defer(loader)
    load.copy_windows(pool, loader, generators, load.USER_ROWS.copy_in(freeze), load.user_jobs(params), lambda _: None)
    conversations = load.CONVERSATION_ROWS if summaries else load.CONVERSATION_ROWS.without(SUMMARY_COLUMNS)
    load.copy_windows(pool, loader, generators, conversations.copy_in(freeze),
                      load.conversation_jobs(conversations, params, scale, span, len(generators)),
                      run.counter("conversations", scale.conversations))
    run.phase("users and conversations")

    messages = load.MESSAGE_ROWS if has_message_owner(loader) else load.MESSAGE_ROWS.without(("user_id",))
    load.copy_windows(pool, loader, generators, messages.copy_in(freeze),
                      load.message_jobs(params, scale, span, max_span, len(generators), messages),
                      run.counter("messages", scale.messages))
    run.phase("messages")

    defer.rebuild(loader, deferred, run.counter("indexes", len(deferred)))
    loader.commit()
    run.phase("indexes and constraints")
    return revision


def _claim(loader: psycopg.Connection, target: str, replace: bool,
           also_truncate: Sequence[str]) -> tuple[str, bool, sql.Composed | None]:
    """Check and lock the tables: the database's revision, whether it has the summary columns, and
    the TRUNCATE that empties the rows ``replace`` replaces (None when there are none)."""
    revision = _revision(loader, target)
    summaries = has_summaries(loader)
    # Locked before they are looked at, so that no row arrives between the look and the load.
    loader.execute(LOCK)
    with loader.cursor(row_factory=dict_row) as cur:
        existing = cur.execute(EXISTING_ROWS).fetchone()
    assert existing is not None
    counts = (existing["users"], existing["conversations"], existing["messages"])
    if any(counts) and not replace:
        users, convs, msgs = (f"{n:,}" if n < 1000 else "1,000+" for n in counts)
        raise ConfigError(
            f"{target} already has data ({users} users, {convs} conversations, {msgs} messages); "
            f"seeding needs empty tables. Pass --replace to delete every row first "
            f"(TRUNCATE users CASCADE)."
        )
    truncate = replace_.truncate_statement(loader, also_truncate, target) if any(counts) else None
    return revision, summaries, truncate


def _revision(conn: psycopg.Connection, target: str) -> str:
    """The database's revision; refuses a database without chatschema's tables or at an unknown revision."""
    with conn.cursor(row_factory=dict_row) as cur:
        present = cur.execute(SCHEMA_PRESENT, {"version_table": VERSION_TABLE}).fetchone()
        assert present is not None
        recorded = sql.SQL("SELECT version_num FROM {}").format(sql.Identifier(VERSION_TABLE))
        found = cur.execute(recorded).fetchone() if present["has_version"] else None
    rev = found["version_num"] if found else None
    if rev is not None and rev not in {r.revision for r in migrate.history()}:
        raise UnknownRevision(
            f"the database is at revision {rev!r}, which this version of chatschema does not know "
            f"(migrated by a newer chatschema or another tool); nothing was seeded"
        )
    if rev is None or not present["has_tables"]:
        raise ConfigError(
            f"{target} has no chatschema tables to seed; run `chatschema upgrade` first "
            f"(any revision from 0001 on)"
        )
    return rev


def _translate(exc: psycopg.Error, target: str) -> ChatSchemaError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, pg_errors.LockNotAvailable):
        return LockTimeout(
            f"lock_timeout expired while seeding {target}: another session holds a lock on users, conversations "
            f"or messages. Nothing was seeded. Re-run when it ends, or raise --lock-timeout."
        )
    if isinstance(exc, pg_errors.QueryCanceled):
        return ChatSchemaError(
            f"a statement of the seed was cancelled ({first}); nothing was seeded. A statement_timeout "
            f"set for the role or the database does this: seeding runs statements of many seconds."
        )
    return ChatSchemaError(f"seeding {target} failed: {first}; nothing was seeded")


def _settle(pool: ThreadPoolExecutor, sessions: list[psycopg.Connection], target: str, run: _Run,
            statistics_target: int | None) -> InterestingRows:
    """Settle the committed data and find its outliers; a failure here keeps the data."""
    try:
        settle(pool, sessions, lambda done, total: run.tell("settle", done, total),
               statistics_target=statistics_target)
        run.phase("settle")
        return interesting_ids(sessions[0])
    except psycopg.Error as exc:
        raise ChatSchemaError(
            f"the data is seeded, but settling {target} failed ({exc}); run VACUUM (ANALYZE) yourself"
        ) from exc
