"""Benchmarks: every catalog variant on the same data, at the revision it was written for, at several sizes.

For each scale a new database is migrated to 0001 (today's schema) and seeded. Today's queries and
the seed plan's proposals are measured there, interleaved round-robin so that machine noise hits
every variant alike; today's sends are measured through a connection pool and then deleted, so the
data stays the same. The same database is then upgraded to head (each revision timed: the migration
itself), settled, and the optimized queries are measured, interleaved with a small control of
today's queries at head (they still run there, and some get faster from the new indexes alone).
Then the optimized sends under 1, 4 and 16 clients, every summary recomputed from the messages,
and a concurrent refresh of the analytics views.

Latency is what the client sees for one call: every round trip of the variant, rows fetched. Buffers
are the server's shared buffers (hit + read) per call from EXPLAIN (ANALYZE, BUFFERS), summed over
the variant's statements. Nothing here prints: ``progress`` and ``on_event`` report.
"""

from __future__ import annotations

import dataclasses
import math
import os
import platform
import random
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import ConnectionPool

from .. import __version__ as chatschema_version
from .. import migrate, server
from .. import queries as catalog
from ..migrate.backfill import summary_mismatches
from ..queries import FIRST_PAGE_AT, FIRST_PAGE_ID, Query
from ..errors import ConfigError
from ..seed import SCALES, InterestingRows, seed_database
from ..settings import Settings
from ..views import VIEWS, refresh_views

__all__ = [
    "PAGE_SIZE",
    "PAGES",
    "ScaleSpec",
    "BenchOptions",
    "Latency",
    "ReadResult",
    "WriteResult",
    "ScaleResult",
    "BenchRun",
    "parse_scales",
    "run",
    "run_scale",
    "single_run",
    "machine_info",
    "latency",
]

Progress = Callable[[str, int, int], None]
Event = Callable[[str, Any], None]

PAGE_SIZE = 20
PAGES = (1, 10, 100, 1000)
RANGE_DAYS = 30
SEND_CONTENT = "Benchmark message: " + "the quick brown fox jumps over the lazy dog. " * 4
SLOW_CALL_S = 0.25  # a cell slower than this gets one warm-up call instead of the prepared-plan warm-up
WARMUP_CALLS = 6  # psycopg prepares on the 5th execution; the server may pick its generic plan on the 6th
SERVER_SETTINGS = (
    "shared_buffers", "effective_cache_size", "work_mem", "maintenance_work_mem", "max_parallel_workers_per_gather",
    "jit", "random_page_cost", "synchronous_commit", "fsync", "wal_level", "max_wal_size", "autovacuum",
    "max_connections",
)

_LIST_CURSOR = """
SELECT last_activity_at, id FROM conversations WHERE user_id = %(user_id)s
ORDER BY last_activity_at DESC, id DESC OFFSET %(depth)s LIMIT 1
"""
_LOAD_CURSOR = """
SELECT created_at, id FROM messages WHERE conversation_id = %(conversation_id)s
ORDER BY created_at DESC, id DESC OFFSET %(depth)s LIMIT 1
"""
# Send targets: conversations that no read case touches, in a stable pseudo-random order.
_WRITE_TARGETS = """
SELECT id, user_id FROM conversations
WHERE user_id <> ALL(%(users)s) AND id <> ALL(%(conversations)s)
ORDER BY md5(id::text)
LIMIT %(n)s
"""
_SIZES = """
SELECT pg_database_size(current_database()),
       pg_total_relation_size('messages'), pg_total_relation_size('conversations')
"""


# --- values -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScaleSpec:
    """A seed scale by name, optionally resized to ``messages`` (same shape)."""

    name: str
    messages: int | None = None

    @property
    def label(self) -> str:
        return self.name if self.messages is None else f"{self.name}-{self.messages}"


@dataclass(frozen=True)
class BenchOptions:
    iterations: int = 100  # rounds of the interleaved read loop
    budget_s: float = 15.0  # a read cell stops after this much measured time (with min_samples at least)
    min_samples: int = 3
    clients: tuple[int, ...] = (1, 4, 16)
    write_seconds: float = 3.0  # per (variant, target, clients) write run
    spread_conversations: int = 64
    seed: int = 42
    control: bool = True  # today's queries also at head, interleaved with ours
    statement_timeout_s: int = 600
    database_prefix: str = "chatschema_bench"


@dataclass(frozen=True)
class Latency:
    """Client-side milliseconds per call."""

    n: int
    p50: float
    p95: float
    p99: float
    mean: float
    min: float
    max: float


@dataclass(frozen=True)
class ReadResult:
    operation: str
    case: str  # heaviest user, typical user, longest conversation, typical conversation, last 30 days
    page: int  # 1-based page of PAGE_SIZE rows; 1 for operations without pages
    variant: str
    at: str  # the revision the database was at: 0001 or head
    control: bool  # today's query measured at head, beside ours
    round_trips: int
    latency: Latency | None
    buffers: int | None
    server_ms: float | None  # execution time inside the server, from the same EXPLAIN (ANALYZE)
    rows: int | None
    error: str | None = None


@dataclass(frozen=True)
class WriteResult:
    variant: str
    at: str
    target: str  # spread (round-robin over many conversations) or hot (all on one)
    clients: int
    sends: int
    errors: int
    seconds: float
    throughput: float  # sends per second
    latency: Latency | None
    buffers: int | None  # per send, from EXPLAIN (ANALYZE, BUFFERS) rolled back
    server_ms: float | None


@dataclass(frozen=True)
class ScaleResult:
    scale: str
    users: int
    conversations: int
    messages: int
    seed_seconds: float
    database_bytes: int
    messages_bytes: int
    conversations_bytes: int
    interesting: dict[str, Any]
    list_pages: tuple[int, ...]
    load_pages: tuple[int, ...]
    migration: tuple[dict[str, Any], ...]  # revision, title, seconds
    reads: tuple[ReadResult, ...]
    writes: tuple[WriteResult, ...]
    summary_mismatches: int
    summary_conversations: int
    summary_seconds: float
    refresh: tuple[dict[str, Any], ...]  # view, concurrently, seconds, rows
    load_average: tuple[float, float]  # 1-minute load at the start and at the end of the scale
    seconds: float


@dataclass(frozen=True)
class BenchRun:
    started: str  # ISO 8601, UTC
    finished: str
    machine: dict[str, Any]
    server: dict[str, Any]
    options: dict[str, Any]
    scales: tuple[ScaleResult, ...]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# --- small helpers --------------------------------------------------------------------------------


def parse_scales(text: str) -> list[ScaleSpec]:
    """'ci,bench,large' -> scale specs; 'tiny=3000' resizes a scale to that many messages."""
    specs = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, _, count = part.partition("=")
        if name not in SCALES:
            raise ConfigError(f"--scales: expected names from {', '.join(SCALES)} (optionally NAME=MESSAGES), got {name!r}")
        messages = None
        if count:
            try:
                messages = int(count.replace("_", ""))
            except ValueError:
                raise ConfigError(f"--scales: {part!r}: MESSAGES must be a whole number") from None
        specs.append(ScaleSpec(name, messages))
    if not specs:
        raise ConfigError("--scales: name at least one scale, for example ci,bench,large")
    labels = [s.label for s in specs]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"--scales: {text!r} names a scale twice")
    return specs


def _quantile(ordered: Sequence[float], q: float) -> float:
    pos = (len(ordered) - 1) * q
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def latency(samples_ms: Sequence[float]) -> Latency | None:
    """Percentiles (linear interpolation, as numpy's default) of ``samples_ms``; None when empty."""
    if not samples_ms:
        return None
    ordered = sorted(samples_ms)
    return Latency(
        n=len(ordered), p50=_quantile(ordered, 0.5), p95=_quantile(ordered, 0.95), p99=_quantile(ordered, 0.99),
        mean=sum(ordered) / len(ordered), min=ordered[0], max=ordered[-1],
    )


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def _load() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:  # pragma: no cover - not on Linux
        return float("nan")


def machine_info() -> dict[str, Any]:
    """CPU count and model, RAM, OS, Python: what the numbers depend on."""
    model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:  # pragma: no cover - not on Linux
        pass
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):  # pragma: no cover
        ram = 0
    return {
        "cpus": os.cpu_count() or 0, "cpu_model": model or platform.processor(), "ram_bytes": ram,
        "os": platform.platform(), "python": platform.python_version(), "chatschema": chatschema_version,
    }


def _server_info(conn: psycopg.Connection, target: str) -> dict[str, Any]:
    version = conn.execute("SELECT version()").fetchone()
    settings = {name: value for name, value in conn.execute(
        "SELECT name, current_setting(name) FROM unnest(%s::text[]) AS name", (list(SERVER_SETTINGS),))}
    return {"version": version[0] if version else "?", "major": conn.info.server_version // 10000,
            "target": target, "settings": settings}


def _connect(info: str, options: BenchOptions) -> psycopg.Connection:
    conn = server.connect(info, autocommit=True)
    conn.execute(sql.SQL("SET statement_timeout = {}").format(sql.Literal(f"{options.statement_timeout_s}s")))
    return conn


# --- the cells of the read loop ----------------------------------------------------------------------


@dataclass
class _Cell:
    operation: str
    case: str
    page: int
    variant: str
    at: str
    control: bool
    query: Query
    params: dict[str, Any]
    steps: Steps = ()
    samples: list[float] = field(default_factory=list)
    spent: float = 0.0
    rows: int | None = None
    error: str | None = None
    buffers: int | None = None
    server_ms: float | None = None

    @property
    def key(self) -> tuple[str, str, int, str, bool]:
        return (self.operation, self.case, self.page, self.variant, self.control)


@dataclass(frozen=True)
class _Points:
    """The rows and depths every variant is measured on, found once at 0001."""

    ids: InterestingRows
    list_pages: tuple[int, ...]
    load_pages: tuple[int, ...]
    since: date
    until: date


def _pages(rows: int) -> tuple[int, ...]:
    """PAGES that exist for ``rows`` rows, plus the last page when PAGES go past it."""
    last = max(1, math.ceil(rows / PAGE_SIZE))
    pages = [p for p in PAGES if p <= last]
    if PAGES[-1] > last and last not in pages:
        pages.append(last)
    return tuple(pages)


Steps = tuple[tuple[str, tuple[str, ...]], ...]


def _steps(query: Query) -> Steps:
    """(SQL, parameter names) of every statement, computed once: ``Query.statements`` builds new Statement
    objects, each validated with sqlparse (milliseconds), which must stay out of the timed calls."""
    return tuple((statement.sql, statement.params) for statement in query.statements)


def _execute(conn: psycopg.Connection, steps: Steps, params: dict[str, Any], *, writes: bool = False) -> int:
    """One call as the application makes it: every statement, every row fetched. Returns the rows of the last."""
    rows = 0
    if writes:
        with conn.transaction():
            for text, names in steps:
                cur = conn.execute(text, {n: params[n] for n in names})
                rows = len(cur.fetchall()) if cur.description else cur.rowcount
        return rows
    for text, names in steps:
        cur = conn.execute(text, {n: params[n] for n in names})
        rows = len(cur.fetchall()) if cur.description else cur.rowcount
    return rows


def _explain(conn: psycopg.Connection, query: Query, params: dict[str, Any]) -> tuple[int, float]:
    """Shared buffers (hit + read) and server execution time (ms) of one call, summed over its statements.

    EXPLAIN (ANALYZE) executes the statements: in a transaction that is rolled back, so a send leaves nothing.
    """
    buffers, ms = 0, 0.0
    conn.execute("BEGIN")
    try:
        for statement in query.statements:
            stmt = sql.SQL("EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, FORMAT JSON) ") + sql.SQL(statement.sql)  # type: ignore[arg-type]
            row = conn.execute(stmt, statement.bind(params)).fetchone()
            doc = row[0][0] if row else {}
            plan = doc.get("Plan", {})
            buffers += int(plan.get("Shared Hit Blocks", 0)) + int(plan.get("Shared Read Blocks", 0))
            ms += float(doc.get("Execution Time", 0.0))
    finally:
        conn.execute("ROLLBACK")
    return buffers, ms


def _base_params(query: Query, page: int, cursor: tuple[Any, uuid.UUID] | None) -> dict[str, Any]:
    # The API asks for a page + 1 (has_more); today's code and the seed proposal ask for the page.
    limit = PAGE_SIZE + 1 if query.variant == "optimized" else PAGE_SIZE
    before_at, before_id = cursor if cursor is not None else (FIRST_PAGE_AT, FIRST_PAGE_ID)
    return {"limit": limit, "offset": (page - 1) * PAGE_SIZE, "before_at": before_at, "before_id": before_id}


def _subjects(points: _Points) -> list[tuple[str, str, bool, dict[str, Any]]]:
    """(operation, case, paged, values) of every read case whose rows exist."""
    ids = points.ids
    days = {"since": points.since, "until": points.until}
    longest = {"conversation_id": ids.longest_conversation_id, "user_id": ids.longest_conversation_user_id}
    typical = ({"conversation_id": ids.typical_conversation_id, "user_id": ids.typical_conversation_user_id}
               if ids.typical_conversation_id else None)
    subjects = [
        ("list_conversations", "heaviest user", True, {"user_id": ids.heaviest_user_id}),
        ("list_conversations", "typical user", False, {"user_id": ids.typical_user_id}),
        ("load_messages", "longest conversation", True, longest),
        ("conversation_view", "longest conversation", False, longest),
        ("user_daily_counts", "heaviest user", False, {"user_id": ids.heaviest_user_id, **days}),
        ("user_daily_counts", "typical user", False, {"user_id": ids.typical_user_id, **days}),
        ("daily_totals", f"last {RANGE_DAYS} days", False, dict(days)),
    ]
    if typical:
        subjects[3:3] = [("load_messages", "typical conversation", False, typical)]
        subjects.append(("conversation_view", "typical conversation", False, typical))
    return subjects


# Cases whose control (today's query at head) is measured: the headline cells.
_CONTROL_CASES = {
    ("list_conversations", "heaviest user"), ("load_messages", "longest conversation"),
    ("conversation_view", "longest conversation"), ("user_daily_counts", "heaviest user"),
    ("daily_totals", f"last {RANGE_DAYS} days"),
}


def _cells(points: _Points, at: str, cursors: dict[tuple[str, int], tuple[Any, uuid.UUID]], control: bool) -> list[_Cell]:
    """The read cells of one phase: today and seed_proposal at 0001; optimized (and today's control) at head."""
    cells: list[_Cell] = []
    for operation, case, paged, values in _subjects(points):
        pages = (points.list_pages if operation == "list_conversations" else points.load_pages) if paged else (1,)
        if at == "0001":
            wanted = [("today", False, pages)]
            # The proposal's list aggregates every message whatever the page, and its load has no cursor:
            # page 1 says all there is to say about it.
            wanted.append(("seed_proposal", False, (1,)))
        else:
            wanted = [("optimized", False, pages)]
            if control and (operation, case) in _CONTROL_CASES:
                wanted.append(("today", True, tuple(dict.fromkeys((pages[0], pages[-1])))))
        for variant, is_control, variant_pages in wanted:
            try:
                query = catalog.get(operation, variant)
            except KeyError:
                continue
            for page in variant_pages:
                cursor = cursors.get((operation, page)) if variant == "optimized" else None
                merged = {**values, **_base_params(query, page, cursor)}
                params = {p: merged[p] for p in query.all_params}
                cells.append(_Cell(operation, case, page, variant, at, is_control, query, params, _steps(query)))
    return cells


def _measure_reads(conn: psycopg.Connection, cells: list[_Cell], options: BenchOptions, label: str,
                   progress: Progress | None) -> None:
    """Warm up, then round-robin over the cells in a new random order each round; then EXPLAIN each once."""
    rng = random.Random(options.seed)
    total = options.iterations + len(cells)
    done = 0

    def call(cell: _Cell) -> float | None:
        started = time.perf_counter()
        try:
            cell.rows = _execute(conn, cell.steps, cell.params)
        except psycopg.Error as exc:
            cell.error = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return None
        return time.perf_counter() - started

    # Warm-up: caches, and psycopg's prepared statements (and the server's plan choice) settled as in a
    # long-running application; a slow cell gets one call, which already warms everything it reads.
    for cell in cells:
        first = call(cell)
        if first is None:
            continue
        if first < SLOW_CALL_S:
            for _ in range(WARMUP_CALLS - 1):
                if call(cell) is None:
                    break
        elif first >= options.budget_s / options.min_samples:
            # A call this long reads everything it needs whatever the cache: keep it as a sample
            # rather than spend another one on warming up.
            cell.samples.append(first * 1000)
            cell.spent += first
    for _ in range(options.iterations):
        active = [c for c in cells if c.error is None and (len(c.samples) < options.min_samples or c.spent < options.budget_s)]
        if not active:
            break
        rng.shuffle(active)
        for cell in active:
            seconds = call(cell)
            if seconds is not None:
                cell.samples.append(seconds * 1000)
                cell.spent += seconds
        done += 1
        if progress:
            progress(label, done, total)
    done = options.iterations
    for cell in cells:
        if cell.error is None:
            try:
                cell.buffers, cell.server_ms = _explain(conn, cell.query, cell.params)
            except psycopg.Error as exc:
                cell.error = f"EXPLAIN: {str(exc).strip().splitlines()[0]}"
        done += 1
        if progress:
            progress(label, done, total)


def _read_results(cells: list[_Cell]) -> list[ReadResult]:
    return [
        ReadResult(c.operation, c.case, c.page, c.variant, c.at, c.control, c.query.round_trips, latency(c.samples),
                   c.buffers, c.server_ms, c.rows, c.error)
        for c in cells
    ]


# --- writes ----------------------------------------------------------------------------------------------


def _send_params(conversation: tuple[uuid.UUID, uuid.UUID]) -> dict[str, Any]:
    return {"message_id": uuid.uuid4(), "conversation_id": conversation[0], "user_id": conversation[1],
            "role": "user", "content": SEND_CONTENT}


def _write_run(info: str, query: Query, targets: Sequence[tuple[uuid.UUID, uuid.UUID]], clients: int,
               seconds: float, options: BenchOptions) -> tuple[list[float], int, float, list[uuid.UUID]]:
    """``clients`` threads sending through one pool for ``seconds``: latencies (ms), errors, wall time, ids sent."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    sent: list[list[uuid.UUID]] = [[] for _ in range(clients)]
    errors = [0] * clients
    start = threading.Barrier(clients + 1)
    deadline = [0.0]
    timeout = sql.SQL("SET statement_timeout = {}").format(sql.Literal(f"{options.statement_timeout_s}s"))
    steps = _steps(query)

    def configure(conn: psycopg.Connection) -> None:
        conn.execute(timeout)

    def worker(i: int) -> None:
        start.wait()
        n = i
        while time.perf_counter() < deadline[0]:
            params = _send_params(targets[n % len(targets)])
            n += clients
            began = time.perf_counter()
            try:
                with pool.connection() as conn:
                    _execute(conn, steps, params, writes=query.writes)
            except psycopg.Error:
                errors[i] += 1
                continue
            latencies[i].append((time.perf_counter() - began) * 1000)
            sent[i].append(params["message_id"])

    with ConnectionPool(info, min_size=clients, max_size=clients, kwargs={"autocommit": True},
                        configure=configure, open=True, name="chatschema-bench") as pool:
        pool.wait(timeout=60)
        threads = [threading.Thread(target=worker, args=(i,), name=f"chatschema-bench-{i}") for i in range(clients)]
        for thread in threads:
            thread.start()
        deadline[0] = time.perf_counter() + seconds
        began = time.perf_counter()
        start.wait()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - began
    return [x for xs in latencies for x in xs], sum(errors), wall, [x for xs in sent for x in xs]


def _checkpoint(conn: psycopg.Connection) -> None:
    try:
        conn.execute("CHECKPOINT")
    except pg_errors.InsufficientPrivilege:
        pass  # not superuser nor pg_checkpoint: the runs start wherever the server's checkpoints are


def _measure_writes(info: str, variant: str, at: str, spread: Sequence[tuple[uuid.UUID, uuid.UUID]],
                    hot: tuple[uuid.UUID, uuid.UUID], options: BenchOptions, label: str,
                    progress: Progress | None) -> tuple[list[WriteResult], list[uuid.UUID]]:
    query = catalog.get("send_message", variant)
    with _connect(info, options) as conn:
        buffers, server_ms = _explain(conn, query, _send_params(spread[0]))
        _checkpoint(conn)
    # Both variants start right after a checkpoint (the first change to each page writes a full-page
    # image), and a short unrecorded run takes the first touches of the target pages.
    _, _, _, sent_all = _write_run(info, query, spread, 1, min(1.0, options.write_seconds), options)
    results = []
    configs = [(target, clients) for target in ("spread", "hot") for clients in options.clients]
    for i, (target, clients) in enumerate(configs):
        targets = spread if target == "spread" else [hot]
        samples, errors, wall, sent = _write_run(info, query, targets, clients, options.write_seconds, options)
        sent_all += sent
        results.append(WriteResult(variant, at, target, clients, len(samples), errors, wall,
                                   len(samples) / wall if wall > 0 else 0.0, latency(samples), buffers, server_ms))
        if progress:
            progress(label, i + 1, len(configs))
    return results, sent_all


# --- one scale ----------------------------------------------------------------------------------------------


def _settle(conn: psycopg.Connection) -> None:
    tables = ["users", "conversations", "messages"]
    tables += [v.name for v in VIEWS if conn.execute("SELECT to_regclass(%s)", (v.name,)).fetchone()[0]]  # type: ignore[index]
    for table in tables:
        conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(table)))


def _points(conn: psycopg.Connection, ids: InterestingRows) -> _Points:
    newest = conn.execute("SELECT max(created_at) FROM messages").fetchone()
    until = (newest[0].astimezone(timezone.utc).date() if newest and newest[0] else date.today()) + timedelta(days=1)
    return _Points(ids, _pages(ids.heaviest_user_conversations), _pages(ids.longest_conversation_messages),
                   until - timedelta(days=RANGE_DAYS), until)


def _cursors(conn: psycopg.Connection, points: _Points) -> dict[tuple[str, int], tuple[Any, uuid.UUID]]:
    """(created_at|last_activity_at, id) of the last row of page p - 1: the cursor the API would hand out."""
    ids = points.ids
    found: dict[tuple[str, int], tuple[Any, uuid.UUID]] = {}
    for operation, pages, query, values in (
        ("list_conversations", points.list_pages, _LIST_CURSOR, {"user_id": ids.heaviest_user_id}),
        ("load_messages", points.load_pages, _LOAD_CURSOR, {"conversation_id": ids.longest_conversation_id}),
    ):
        for page in pages:
            if page > 1:
                row = conn.execute(query, {**values, "depth": (page - 1) * PAGE_SIZE - 1}).fetchone()
                if row:
                    found[(operation, page)] = (row[0], row[1])
    return found


def _write_targets(conn: psycopg.Connection, ids: InterestingRows, n: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
    users = [u for u in (ids.heaviest_user_id, ids.typical_user_id, ids.longest_conversation_user_id,
                         ids.typical_conversation_user_id) if u]
    conversations = [c for c in (ids.longest_conversation_id, ids.typical_conversation_id) if c]
    rows = conn.execute(_WRITE_TARGETS, {"users": users, "conversations": conversations, "n": n + 1}).fetchall()
    if len(rows) < 2:
        raise ConfigError("too few conversations to send to; seed a larger scale")
    return [(r[0], r[1]) for r in rows]


def _delete(conn: psycopg.Connection, ids: list[uuid.UUID]) -> None:
    for i in range(0, len(ids), 10_000):
        conn.execute("DELETE FROM messages WHERE id = ANY(%s)", (ids[i:i + 10_000],))


def run_scale(settings: Settings, spec: ScaleSpec, options: BenchOptions = BenchOptions(), *,
              progress: Progress | None = None, on_event: Event | None = None) -> ScaleResult:
    """Benchmark one scale on the empty database of ``settings`` (it is migrated, seeded and written to)."""
    emit = on_event or (lambda kind, payload: None)
    label = spec.label
    started, load_start = time.perf_counter(), _load()
    # A scratch database: nobody else waits on its locks, and 0007's view population at 10M messages
    # runs past the default statement timeout.
    settings = dataclasses.replace(settings, statement_timeout_ms=0)
    info = server.conninfo(settings)
    migration: list[dict[str, Any]] = []

    def on_revision(rev: migrate.AppliedRevision) -> None:
        migration.append({"revision": rev.revision, "title": rev.title, "seconds": rev.seconds})
        emit("revision", (label, rev))

    emit("stage", f"{label}: new database {server.describe_target(info)} at revision 0001")
    migrate.upgrade(settings, "0001", on_revision=on_revision)

    def seed_progress(name: str, done: int, total: int) -> None:
        if progress:
            progress(f"{label}: seed {name}", done, total)

    seeded = seed_database(info, scale=spec.name, messages=spec.messages, seed=options.seed, progress=seed_progress)
    emit("seeded", (label, seeded))
    ids = seeded.interesting
    with _connect(info, options) as conn:
        points = _points(conn, ids)
        targets = _write_targets(conn, ids, options.spread_conversations)
        spread, hot = targets[:-1], targets[-1]
        emit("stage", f"{label}: today's and the seed proposal's queries at 0001")
        cells = _cells(points, "0001", {}, options.control)
        _measure_reads(conn, cells, options, f"{label}: reads at 0001", progress)
        reads = _read_results(cells)
    emit("stage", f"{label}: today's sends at 0001")
    writes, sent = _measure_writes(info, "today", "0001", spread, hot, options, f"{label}: sends at 0001", progress)
    with _connect(info, options) as conn:
        _delete(conn, sent)  # the same data for ours as for today's
        conn.execute("VACUUM messages")

    emit("stage", f"{label}: upgrade to head")
    head = migrate.script_directory().get_current_head() or "head"

    def upgrade_progress(name: str, done: int, total: int) -> None:
        if progress:
            progress(f"{label}: upgrade {name}", done, total)

    migrate.upgrade(settings, "head", progress=upgrade_progress, on_revision=on_revision)
    with _connect(info, options) as conn:
        _settle(conn)
        emit("stage", f"{label}: the optimized queries at head ({head})"
                      + (", with today's as a control" if options.control else ""))
        cells = _cells(points, "head", _cursors(conn, points), options.control)
        _measure_reads(conn, cells, options, f"{label}: reads at head", progress)
        reads += _read_results(cells)
    emit("stage", f"{label}: optimized sends at head")
    more, _ = _measure_writes(info, "optimized", "head", spread, hot, options, f"{label}: sends at head", progress)
    writes += more
    with _connect(info, options) as conn:
        emit("stage", f"{label}: every summary recomputed from the messages")
        began = time.perf_counter()
        mismatches = summary_mismatches(conn)
        summary_seconds = time.perf_counter() - began
        row = conn.execute("SELECT count(*) FROM conversations").fetchone()
        conversations = int(row[0]) if row else 0
        emit("stage", f"{label}: REFRESH MATERIALIZED VIEW CONCURRENTLY")
        refresh = [{"view": r.view, "concurrently": r.concurrently, "seconds": r.seconds, "rows": r.rows}
                   for r in refresh_views(conn, concurrently=True)]
        sizes = conn.execute(_SIZES).fetchone()
        assert sizes is not None
    return ScaleResult(
        scale=label, users=seeded.users, conversations=seeded.conversations, messages=seeded.messages,
        seed_seconds=seeded.seconds, database_bytes=int(sizes[0]), messages_bytes=int(sizes[1]),
        conversations_bytes=int(sizes[2]),
        interesting={k: (str(v) if isinstance(v, uuid.UUID) else v) for k, v in dataclasses.asdict(ids).items()},
        list_pages=points.list_pages, load_pages=points.load_pages, migration=tuple(migration),
        reads=tuple(reads), writes=tuple(writes), summary_mismatches=mismatches,
        summary_conversations=conversations, summary_seconds=summary_seconds, refresh=tuple(refresh),
        load_average=(load_start, _load()), seconds=time.perf_counter() - started,
    )


# --- the whole run ----------------------------------------------------------------------------------------


def _scratch(settings: Settings, name: str) -> Settings:
    """Settings of a new, empty database ``name`` on the server of ``settings`` (dropped first if it exists)."""
    _drop(settings, name)
    if settings.dsn is None:
        return settings.with_database(name)  # the embedded server creates it on first connect
    admin = server.conninfo(settings)
    with server.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    params = conninfo_to_dict(admin)
    params["dbname"] = name
    return dataclasses.replace(settings, dsn=make_conninfo(**params))


def _drop(settings: Settings, name: str) -> None:
    if settings.dsn is None:
        admin = server.conninfo(settings.with_database("postgres"))
    else:
        params = conninfo_to_dict(server.conninfo(settings))
        if params.get("dbname") == name:
            params["dbname"] = "postgres"
        admin = make_conninfo(**params)
    with server.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def run(settings: Settings, scales: Sequence[ScaleSpec], options: BenchOptions = BenchOptions(), *,
        keep: bool = False, progress: Progress | None = None, on_event: Event | None = None) -> BenchRun:
    """Benchmark every scale, each on its own scratch database (dropped afterwards unless ``keep``).

    After each scale ``on_event("partial", BenchRun)`` gets the scales done so far.

    The databases are named ``options.database_prefix``_SCALE; with ``settings.dsn`` they are
    created on that server (the role needs CREATEDB), otherwise on the embedded server.
    """
    if not scales:
        raise ConfigError("--scales: name at least one scale")
    if options.iterations < 1:
        raise ConfigError(f"--iterations: expected at least 1, got {options.iterations}")
    started = _now()
    results = []
    server_info: dict[str, Any] = {}
    for spec in scales:
        name = f"{options.database_prefix}_{spec.label.replace('-', '_')}"
        scratch = _scratch(settings, name)
        try:
            if not server_info:
                info = server.conninfo(scratch)
                with server.connect(info) as conn:
                    server_info = _server_info(conn, server.describe_target(info))
            results.append(run_scale(scratch, spec, options, progress=progress, on_event=on_event))
        finally:
            if not keep:
                _drop(settings, name)
        if on_event:
            on_event("partial", BenchRun(started=started, finished=_now(), machine=machine_info(), server=server_info,
                                         options=dataclasses.asdict(options), scales=tuple(results)))
    return BenchRun(started=started, finished=_now(), machine=machine_info(), server=server_info,
                    options=dataclasses.asdict(options), scales=tuple(results))


def single_run(settings: Settings, spec: ScaleSpec, options: BenchOptions = BenchOptions(), **kwargs: Any) -> BenchRun:
    """``run`` on the given empty database itself, for tests and for servers where CREATE DATABASE is not allowed."""
    started = _now()
    info = server.conninfo(settings)
    with server.connect(info) as conn:
        server_info = _server_info(conn, server.describe_target(info))
    result = run_scale(settings, spec, options, **kwargs)
    return BenchRun(started=started, finished=_now(), machine=machine_info(), server=server_info,
                    options=dataclasses.asdict(options), scales=(result,))
