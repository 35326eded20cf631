"""The whole verification run: scratch databases on the embedded server, or a server given by --dsn.

On the scratch database (the embedded default) the story is the migration's: seed at revision
0001, verify ``today`` and ``seed_proposal``, upgrade the same database to head, verify
``optimized``; then a second, smaller database answers how each query's buffers grow with the data.
On a ``--dsn`` server nothing is written: the variants that match the database's revision are
planned in READ ONLY transactions, measured only with ``--analyze``, writes never executed.
"""

from __future__ import annotations

from collections.abc import Sequence

from .. import migrate, server
from .. import scratch as scratch_db
from ..citus import is_distributed
from ..errors import ConfigError, UnknownQuery
from ..progress import Event, Progress
from ..queries import Query, all_queries, by_name
from ..queries.files import load_dir
from ..seed import SCALES, SeedReport, seed_database
from ..seed.scales import check_plan_scale
from ..settings import Settings
from .explain import MODES, PINNED, SCRATCH_COSTS, STATS_TARGET, Explainer, recorded_settings
from .report import Report, Shown
from .verify import QueryResult, check_growth, check_schema, check_stability, connect, verify_database

__all__ = [
    "run",
    "show",
    "scratch_run",
    "select_queries",
    "settle",
    "VARIANT_CHOICES",
]

VARIANT_CHOICES = ("optimized", "today", "seed_proposal", "citus", "all")
GROWTH_DIVISOR = 4


def select_queries(variant: str = "optimized", name: str | None = None) -> list[Query]:
    """The catalog queries to verify: one variant (or all), optionally one operation or query."""
    if variant not in VARIANT_CHOICES:
        raise ConfigError(f"--variant: expected one of {', '.join(VARIANT_CHOICES)}, got {variant!r}")
    if name:
        try:
            chosen = list(by_name(name))
        except UnknownQuery as exc:
            raise UnknownQuery(f"--query: {exc.args[0]}") from None
        if "." not in name and variant != "all":
            chosen = [q for q in chosen if q.variant == variant]
            if not chosen:
                raise ConfigError(f"--query: {name} has no {variant} variant")
        return chosen
    return [q for q in all_queries() if variant == "all" or q.variant == variant]


def for_deployment(queries: Sequence[Query], distributed: bool, *, named: bool = False
                   ) -> tuple[list[Query], tuple[tuple[str, str], ...], tuple[str, ...]]:
    """The queries the API runs where they are verified: (queries, skipped, notes).

    On a Citus coordinator an optimized query whose operation has a ``citus`` variant is replaced by
    it, unless the optimized one was ``named`` (``--query operation.optimized``); elsewhere the citus
    variants need what ``chatschema distribute`` creates, and are skipped saying so.
    """
    if not distributed:
        kept = [q for q in queries if q.variant != "citus"]
        skipped = tuple((q.name, "needs a Citus coordinator where `chatschema distribute` ran")
                        for q in queries if q.variant == "citus")
        return kept, skipped, ()
    citus = {q.operation: q for q in all_queries() if q.variant == "citus"}
    chosen: list[Query] = []
    notes = []
    for q in queries:
        replacement = citus.get(q.operation) if q.variant == "optimized" and not named else None
        if replacement is None:
            chosen.append(q)
            continue
        notes.append(f"Citus: {replacement.name} verified in place of {q.name} "
                     f"(the API there is chatschema.api_citus)")
        chosen.append(replacement)
    return list(dict.fromkeys(chosen)), (), tuple(notes)


def settle(info: str) -> None:
    """VACUUM (ANALYZE) every table and view: visibility map set, statistics from the whole table."""
    scratch_db.settle(info, statistics_target=STATS_TARGET)


def _at(revision: str, query: Query, head: str) -> bool:
    return query.revision == revision or (query.revision == "head" and revision == head)


def scratch_run(
    settings: Settings,
    queries: Sequence[Query],
    *,
    scale: str = "ci",
    messages: int | None = None,
    modes: Sequence[str] = MODES,
    stability: bool = True,
    statement_timeout_ms: int = 60_000,
    progress: Progress | None = None,
    on_event: Event | None = None,
) -> tuple[list[QueryResult], SeedReport, str]:
    """Seed the empty database of ``settings`` at 0001, verify the 0001 queries, upgrade, verify the rest.

    Returns the results in ``queries`` order, the seed report and the database's conninfo.
    """
    emit = on_event or (lambda kind, payload: None)
    info = server.conninfo(settings)
    head = migrate.script_directory().get_current_head() or "head"
    queries, _, _ = for_deployment(queries, distributed=False)  # a new database is never a Citus coordinator
    old = [q for q in queries if q.revision != "head"]
    new = [q for q in queries if q.revision == "head"]
    emit("stage", f"new database {server.describe_target(info)} at revision 0001 (today's schema)")
    for rev in migrate.upgrade(settings, "0001"):
        emit("revision", rev)
    # The seed settles at the plans' statistics target itself: no second VACUUM (ANALYZE) pass here.
    seeded = seed_database(info, scale=scale, messages=messages, progress=progress, statistics_target=STATS_TARGET)
    emit("seeded", seeded)
    results: list[QueryResult] = []
    if old:
        emit("stage", "verifying today's queries at revision 0001")
        found, data = verify_database(info, old, analyze=True, scratch=True, modes=modes, progress=progress,
                                      statement_timeout_ms=statement_timeout_ms)
        if stability and "custom" in modes:
            found = check_stability(info, found, data, scratch=True)
        emit("verified", found)
        results += found
    if new:
        emit("stage", f"upgrading the same database to head ({head})")
        for rev in migrate.upgrade(settings, "head", progress=progress):
            emit("revision", rev)
        settle(info)
        emit("stage", "verifying the optimized queries at head")
        found, data = verify_database(info, new, analyze=True, scratch=True, modes=modes, progress=progress,
                                      statement_timeout_ms=statement_timeout_ms)
        if stability and "custom" in modes:
            found = check_stability(info, found, data, scratch=True)
        emit("verified", found)
        results += found
    order = {q.name: i for i, q in enumerate(queries)}
    results.sort(key=lambda r: order[r.name])
    return results, seeded, info


def _timeout(settings: Settings, default_ms: int) -> int:
    return settings.statement_timeout_ms or default_ms


def run(
    settings: Settings,
    *,
    variant: str = "optimized",
    query: str | None = None,
    analyze: bool | None = None,
    scale: str = "ci",
    messages: int | None = None,
    growth: bool = True,
    stability: bool = True,
    database: str = "chatschema_plans",
    scratch: bool | None = None,
    progress: Progress | None = None,
    on_event: Event | None = None,
    queries_dir: str | None = None,
    command: str = "plans verify",
) -> Report:
    """Verify the catalog's plans on scratch databases, or on the database of ``settings.dsn`` as it is.

    ``scratch`` (default: when no --dsn is given) seeds new databases named ``database`` (and
    ``database``_small for growth) on the server, dropping them first; the demo passes it with --dsn.
    ``queries_dir`` verifies an app team's query files instead of the catalog (``queries.files``);
    the schema's every-index-named check is the catalog's and is left out then. ``command`` names the
    command in the refusal of a scale too small to verify (``seed.scales.check_plan_scale``).
    """
    if queries_dir and query:
        raise ConfigError("--query picks a catalog query; --queries DIR verifies every file of DIR")
    queries = load_dir(queries_dir) if queries_dir else select_queries(variant, query)
    if scale not in SCALES:
        raise ConfigError(f"--scale: expected one of {', '.join(SCALES)}, got {scale!r}")
    contracts = {} if queries_dir else {q.name: q.contract for q in all_queries() if q.variant == "optimized"}
    if settings.dsn and not scratch:
        return _run_dsn(settings, queries, analyze=bool(analyze), contracts=contracts, progress=progress,
                        named=bool(query and "." in query))
    queries, skipped, _ = for_deployment(queries, distributed=False)
    if not queries:
        raise ConfigError(f"{', '.join(name for name, _ in skipped)}: the citus variants run on a Citus coordinator "
                          f"where `chatschema distribute` ran: pass --dsn COORDINATOR")
    check_plan_scale(scale, messages, command=command, divisor=GROWTH_DIVISOR if growth else 1)
    if analyze is False:
        raise ConfigError("--no-analyze applies to --dsn servers; the scratch database is always measured")
    emit = on_event or (lambda kind, payload: None)
    main = scratch_db.fresh(settings, database)
    timeout = _timeout(settings, 60_000)
    results, seeded, info = scratch_run(main, queries, scale=scale, messages=messages, stability=stability,
                                        statement_timeout_ms=timeout, progress=progress, on_event=emit)
    seeds = [seeded]
    notes = []
    if growth:
        small_messages = max(seeded.messages // GROWTH_DIVISOR, 1000)
        emit("stage", f"growth: a second database with {small_messages:,} messages")
        small, small_seed, _ = scratch_run(
            scratch_db.fresh(settings, f"{database}_small"), queries, scale=scale, messages=small_messages,
            modes=("custom",), stability=False, statement_timeout_ms=timeout, progress=progress,
        )
        seeds.append(small_seed)
        results = check_growth(small, results, small_seed.messages, seeded.messages)
        scratch_db.drop(settings, f"{database}_small")
    else:
        notes.append("growth not measured (--no-growth)")
    with connect(info) as conn:
        at_head = migrate.current(main) == migrate.script_directory().get_current_head()
        schema = check_schema(contracts, conn if at_head else None)
        explainer = Explainer(conn, analyze=True, scratch=True)
        recorded = recorded_settings(conn, explainer)
    return Report(
        target=server.describe_target(info), server_version=server.server_version(info), scratch=True,
        analyze=True, results=tuple(results), schema_findings=tuple(schema), pinned=PINNED + SCRATCH_COSTS,
        recorded=tuple(recorded), seeds=tuple(seeds), notes=tuple(notes), skipped=skipped,
    )


def _run_dsn(settings: Settings, queries: list[Query], *, analyze: bool, contracts: dict,
             progress: Progress | None, named: bool = False) -> Report:
    info = server.conninfo(settings)
    with connect(info) as conn:
        distributed = is_distributed(conn)
    queries, skipped_here, placed = for_deployment(queries, distributed, named=named)
    revision = migrate.current(settings)
    head = migrate.script_directory().get_current_head() or "head"
    if revision is None:
        raise ConfigError(f"{server.describe_target(info)} has no chatschema schema (no revision in chatschema_version); "
                          f"nothing to verify")
    runnable = [q for q in queries if _at(revision, q, head)]
    skipped = tuple(
        (q.name, f"needs revision {head if q.revision == 'head' else q.revision}; the database is at {revision}")
        for q in queries if q not in runnable
    ) + skipped_here + _unplannable_writes(info, runnable)
    runnable = [q for q in runnable if q.name not in {name for name, _ in skipped}]
    results: list[QueryResult] = []
    if distributed:
        # Citus runs a cursor over a router query but refuses to EXPLAIN its DECLARE; said, never dropped.
        cursors = tuple((q.name, "not planned on Citus: it refuses EXPLAIN of DECLARE ... CURSOR; the cursor's "
                                 "SELECT filters on conversation_id and user_id, as load_messages does")
                        for q in runnable if q.cursor)
        skipped += cursors
        runnable = [q for q in runnable if not q.cursor]
    # Citus plans each execution of a distributed query with its values: it refuses a generic plan of a
    # multi-table router query and PostgreSQL then keeps custom plans, so only those are checked.
    modes = ("probe", "custom") if distributed else MODES
    if runnable:
        results, _ = verify_database(info, runnable, analyze=analyze, scratch=False,
                                     statement_timeout_ms=_timeout(settings, 30_000), progress=progress,
                                     modes=modes, inline_values=distributed)
    with connect(info) as conn:
        schema = check_schema(contracts, conn) if revision == head else []
        explainer = Explainer(conn, analyze=analyze, scratch=False)
        recorded = recorded_settings(conn, explainer)
    notes = ["growth not measured: it needs the scratch databases of the embedded server", *placed]
    if distributed:
        notes.append("Citus: custom plans only (each execution is planned with its values; generic plans of "
                     "distributed router queries are refused by Citus and never used)")
    if not analyze:
        notes.append("plain EXPLAIN: rows read are the planner's estimates, buffers unmeasured (--analyze measures)")
    return Report(
        target=server.describe_target(info), server_version=server.server_version(info), scratch=False,
        analyze=analyze, results=tuple(results), schema_findings=tuple(schema), skipped=skipped, pinned=PINNED,
        recorded=tuple(recorded), notes=tuple(notes),
    )


def _unplannable_writes(info: str, queries: list[Query]) -> tuple[tuple[str, str], ...]:
    """Write queries the role may not plan: PostgreSQL checks EXPLAIN of a write like the write itself."""
    from ..roles import missing_write_privileges

    out = []
    with connect(info) as conn:
        role = conn.execute("SELECT current_user").fetchone()[0]
        for query in (q for q in queries if q.writes):
            missing = missing_write_privileges(conn, query)
            if missing:
                out.append((query.name, f"not planned: role {role} lacks {', '.join(missing)}, and EXPLAIN of a write "
                                        f"needs the privilege to write (a --dsn run never executes it); plan it as a "
                                        f"role granted chatschema_app"))
    return tuple(out)


def show(
    settings: Settings,
    name: str,
    *,
    case: str | None = None,
    mode: str = "custom",
    analyze: bool | None = None,
    scale: str = "ci",
    messages: int | None = None,
    database: str = "chatschema_plans_show",
    progress: Progress | None = None,
    on_event: Event | None = None,
) -> Shown:
    """Plan one query ('operation.variant') for one parameter case and mode."""
    if "." not in name:
        raise ConfigError(f"NAME: expected operation.variant (for example {name}.optimized), got {name!r}")
    queries = select_queries("all", name)
    if mode not in MODES:
        raise ConfigError(f"--mode: expected one of {', '.join(MODES)}, got {mode!r}")
    if queries[0].variant == "citus" and not settings.dsn:
        raise ConfigError(f"{name} runs on a Citus coordinator where `chatschema distribute` ran: pass --dsn "
                          f"COORDINATOR")
    if settings.dsn:
        info = server.conninfo(settings)
        revision = migrate.current(settings)
        head = migrate.script_directory().get_current_head() or "head"
        if revision is None or not _at(revision, queries[0], head):
            needed = head if queries[0].revision == "head" else queries[0].revision
            raise ConfigError(f"{name} needs revision {needed}; {server.describe_target(info)} is at "
                              f"{revision or 'no revision'}")
        with connect(info) as conn:
            distributed = is_distributed(conn)
        results, _ = verify_database(info, queries, analyze=bool(analyze), scratch=False, modes=(mode,),
                                     statement_timeout_ms=_timeout(settings, 30_000), inline_values=distributed)
    else:
        check_plan_scale(scale, messages, command="plans show")
        results, _, info = scratch_run(scratch_db.fresh(settings, database), queries, scale=scale, messages=messages,
                                       modes=(mode,), stability=False, statement_timeout_ms=_timeout(settings, 60_000),
                                       progress=progress, on_event=on_event)
    result = results[0]
    if result.error:
        raise ConfigError(result.error)
    names = tuple(dict.fromkeys(c.case for c in result.checks))
    chosen = next((c for c in result.checks if (c.case == case if case else c.primary)), None)
    if chosen is None:
        raise ConfigError(f"--case: {name} has the cases {'; '.join(repr(n) for n in names)}, not {case!r}")
    return Shown(result, chosen, names, server.describe_target(info), server.server_version(info))
