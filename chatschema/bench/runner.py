"""One scale, and the whole run: migrate to 0001, seed, measure; upgrade to head, settle, measure.

For each scale a new database is migrated to 0001 (today's schema) and seeded. Today's queries and
the seed plan's proposals are measured there, interleaved round-robin so that machine noise hits
every variant alike; today's sends are measured through a connection pool and then deleted, so the
data stays the same. The same database is then upgraded to head (each revision timed: the migration
itself), settled, and the optimized queries are measured, interleaved with a small control of
today's queries at head (they still run there, and some get faster from the new indexes alone).
Then the optimized sends under 1, 4 and 16 clients, every summary recomputed from the messages,
and a concurrent refresh of the analytics views.

Events (``on_event(kind, payload)``), in order for each scale: ``"scale"`` (its label, a str) before
the others of that scale; ``"stage"`` (str); ``"revision"`` (``migrate.AppliedRevision``) for each
revision applied; ``"seeded"`` (``seed.SeedReport``); and after each scale of ``run``,
``"partial"`` (``BenchRun``: the scales done so far). The payload types of ``"revision"`` and
``"seeded"`` are those of the plan validator's pipeline.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import time
import uuid
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import psycopg
from psycopg.rows import namedtuple_row

from .. import __version__ as chatschema_version
from .. import migrate, scratch, server
from ..errors import ConfigError
from ..migrate.backfill import summary_mismatches
from ..progress import Event, Progress
from ..seed import seed_database
from ..settings import Settings
from ..views import refresh_views
from .calls import connect
from .reads import cells, find_cursors, find_points, measure_reads, read_results
from .results import BenchOptions, BenchRun, ScaleResult, ScaleSpec
from .writes import delete_messages, measure_writes, write_targets

__all__ = ["SERVER_SETTINGS", "run", "run_scale", "single_run", "machine_info", "database_name"]

SERVER_SETTINGS = (
    "shared_buffers", "effective_cache_size", "work_mem", "maintenance_work_mem", "max_parallel_workers_per_gather",
    "jit", "random_page_cost", "synchronous_commit", "fsync", "wal_level", "max_wal_size", "autovacuum",
    "max_connections",
)
_SIZES = """
SELECT pg_database_size(current_database()) AS database,
       pg_total_relation_size('messages') AS messages, pg_total_relation_size('conversations') AS conversations
"""


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
    with conn.cursor(row_factory=namedtuple_row) as cur:
        rows = cur.execute("SELECT name, current_setting(name) AS value FROM unnest(%s::text[]) AS name",
                           (list(SERVER_SETTINGS),)).fetchall()
    return {"version": version[0] if version else "?", "major": conn.info.server_version // 10000,
            "target": target, "settings": {r.name: r.value for r in rows}}


def _bench_run(started: str, server_info: dict[str, Any], options: BenchOptions, scales: Sequence[ScaleResult]) -> BenchRun:
    return BenchRun(started=started, finished=_now(), machine=machine_info(), server=server_info,
                    options=dataclasses.asdict(options), scales=tuple(scales))


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
        emit("revision", rev)

    def labelled(prefix: str) -> Progress:
        def report(name: str, done: int, total: int) -> None:
            if progress:
                progress(f"{label}: {prefix} {name}", done, total)
        return report

    emit("scale", label)
    emit("stage", f"{label}: new database {server.describe_target(info)} at revision 0001")
    migrate.upgrade(settings, "0001", on_revision=on_revision)
    seed_runs: list[dict[str, Any]] = []
    for run_number in range(max(1, options.seed_runs)):
        # The same seed again over the last one's rows (replace): the seeding row's median, side by side.
        seeded = seed_database(info, scale=spec.name, messages=spec.messages, seed=options.seed,
                               progress=labelled("seed"), replace=run_number > 0)
        seed_runs.append({"seconds": seeded.seconds, "messages_per_second": seeded.messages_per_second,
                          "phases": dict(seeded.phases), "load_average": _load()})
        emit("seeded", seeded)
    ids = seeded.interesting
    with connect(info, options) as conn:
        points = find_points(conn, ids)
        targets = write_targets(conn, ids, options.spread_conversations)
        spread, hot = targets[:-1], targets[-1]
        emit("stage", f"{label}: today's and the seed proposal's queries at 0001")
        phase = cells(points, "0001", {}, options.control)
        measure_reads(conn, phase, options, f"{label}: reads at 0001", progress)
        reads = read_results(phase)
    emit("stage", f"{label}: today's sends at 0001")
    writes, sent = measure_writes(info, "today", "0001", spread, hot, options, f"{label}: sends at 0001", progress)
    with connect(info, options) as conn:
        delete_messages(conn, sent)  # the same data for ours as for today's
        conn.execute("VACUUM messages")

    emit("stage", f"{label}: upgrade to head")
    head = migrate.script_directory().get_current_head() or "head"
    migrate.upgrade(settings, "head", progress=labelled("upgrade"), on_revision=on_revision)
    scratch.settle(info)
    with connect(info, options) as conn:
        emit("stage", f"{label}: the optimized queries at head ({head})"
                      + (", with today's as a control" if options.control else ""))
        phase = cells(points, "head", find_cursors(conn, points), options.control)
        measure_reads(conn, phase, options, f"{label}: reads at head", progress)
        reads += read_results(phase)
    emit("stage", f"{label}: optimized sends at head")
    more, _ = measure_writes(info, "optimized", "head", spread, hot, options, f"{label}: sends at head", progress)
    writes += more
    with connect(info, options) as conn:
        emit("stage", f"{label}: every summary recomputed from the messages")
        began = time.perf_counter()
        mismatches = summary_mismatches(conn)
        summary_seconds = time.perf_counter() - began
        row = conn.execute("SELECT count(*) FROM conversations").fetchone()
        conversations = int(row[0]) if row else 0
        emit("stage", f"{label}: REFRESH MATERIALIZED VIEW CONCURRENTLY")
        refresh = [{"view": r.view, "concurrently": r.concurrently, "seconds": r.seconds, "rows": r.rows}
                   for r in refresh_views(conn, concurrently=True)]
        with conn.cursor(row_factory=namedtuple_row) as cur:
            sizes = cur.execute(_SIZES).fetchone()
        assert sizes is not None
    return ScaleResult(
        scale=label, users=seeded.users, conversations=seeded.conversations, messages=seeded.messages,
        seed_seconds=seeded.seconds, seed_runs=tuple(seed_runs), database_bytes=int(sizes.database),
        messages_bytes=int(sizes.messages),
        conversations_bytes=int(sizes.conversations),
        interesting={k: (str(v) if isinstance(v, uuid.UUID) else v) for k, v in dataclasses.asdict(ids).items()},
        list_pages=points.list_pages, load_pages=points.load_pages, migration=tuple(migration),
        reads=tuple(reads), writes=tuple(writes), summary_mismatches=mismatches,
        summary_conversations=conversations, summary_seconds=summary_seconds, refresh=tuple(refresh),
        load_average=(load_start, _load()), seconds=time.perf_counter() - started,
    )


def database_name(options: BenchOptions, spec: ScaleSpec) -> str:
    """The scratch database of ``spec``: ``options.database_prefix``_LABEL."""
    return f"{options.database_prefix}_{spec.label.replace('-', '_')}"


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
        with scratch.scratch_database(settings, database_name(options, spec), keep=keep) as made:
            if not server_info:
                info = server.conninfo(made)
                with server.connect(info) as conn:
                    server_info = _server_info(conn, server.describe_target(info))
            results.append(run_scale(made, spec, options, progress=progress, on_event=on_event))
        if on_event:
            on_event("partial", _bench_run(started, server_info, options, results))
    return _bench_run(started, server_info, options, results)


def single_run(settings: Settings, spec: ScaleSpec, options: BenchOptions = BenchOptions(), *,
               progress: Progress | None = None, on_event: Event | None = None) -> BenchRun:
    """``run`` on the given empty database itself, for tests and for servers where CREATE DATABASE is not allowed."""
    started = _now()
    info = server.conninfo(settings)
    with server.connect(info) as conn:
        server_info = _server_info(conn, server.describe_target(info))
    result = run_scale(settings, spec, options, progress=progress, on_event=on_event)
    return _bench_run(started, server_info, options, [result])
