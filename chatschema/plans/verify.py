"""Verify the catalog's plans on one database: parameters from the data, three planning modes, every rule.

``verify_database`` works on a database that is already at the right revision and settled
(``VACUUM (ANALYZE)``). ``chatschema.plans.run`` builds the scratch databases on the embedded server
around it, or points it at a ``--dsn`` server.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import psycopg

from .. import server
from ..queries import Query
from ..queries.contract import Contract
from ..indexes import INDEXES
from ..migrations import BOOKKEEPING_TABLES
from ..progress import Progress
from ..views import VIEWS
from .params import Case, DataPoints, cases_for, data_points
from .explain import MODES, Explainer, ExplainFailed
from .findings import Finding
from .metrics import total_buffers
from .rules import RULES, GrowthSubject, PlanSubject, SchemaSubject, StabilitySubject, check_plan
from .tree import Plan

__all__ = [
    "CheckResult",
    "QueryResult",
    "verify_database",
    "check_schema",
    "check_growth",
    "check_stability",
    "schema_indexes",
    "ordered",
    "connect",
]



@dataclass(frozen=True)
class CheckResult:
    """One EXPLAIN of one query: a parameter case in a planning mode."""

    case: str
    mode: str
    primary: bool
    plans: tuple[Plan, ...]
    findings: tuple[Finding, ...]
    rows_read: float
    rows_estimated: bool
    buffers: int | None
    rows_returned: float | None
    expects_rows: bool = True  # False for a case meant to be empty

    @property
    def fingerprint(self) -> str:
        return " ; ".join(p.fingerprint for p in self.plans)


@dataclass(frozen=True)
class QueryResult:
    """Everything verified about one catalog query."""

    query: Query
    contract: Contract
    checks: tuple[CheckResult, ...] = ()
    findings: tuple[Finding, ...] = ()
    error: str | None = None
    growth: GrowthSubject | None = None

    @property
    def name(self) -> str:
        return self.query.name

    @property
    def passed(self) -> bool:
        return not self.findings and self.error is None

    def check(self, mode: str = "custom", case: str | None = None) -> CheckResult | None:
        """The check of ``case`` (default: the primary case) in ``mode``."""
        for c in self.checks:
            if c.mode == mode and (c.case == case if case is not None else c.primary):
                return c
        return None


def connect(info: str) -> psycopg.Connection:
    """A connection for EXPLAIN: autocommit (each EXPLAIN opens its own transaction), never auto-prepared."""
    return server.connect(info, autocommit=True, prepare_threshold=None)


def query_cases(query: Query, data: DataPoints) -> list[Case]:
    """The catalog's cases for its operation; an app team's query file brings its own."""
    from ..queries.files import FileQuery

    if isinstance(query, FileQuery):
        from .app_params import file_cases

        return file_cases(query, data)
    return cases_for(query, data)


def _subject(query: Query, contract: Contract, case: Case, mode: str, plans: tuple[Plan, ...],
             data: DataPoints) -> PlanSubject:
    return PlanSubject(
        query=query.name, operation=query.operation, contract=contract, plans=plans, mode=mode,
        case=case.name, round_trips=query.round_trips, writes=query.writes, table_rows=data.table_rows,
        expects_rows=case.expects_rows,
    )


def _query_rules(subject: PlanSubject) -> list[Finding]:
    return [f for r in RULES if r.scope == "query" for f in r.check(subject)]


def verify_query(explainer: Explainer, query: Query, data: DataPoints, modes: Sequence[str],
                 cases: Sequence[Case] | None = None) -> QueryResult:
    """Every case of ``query`` (or the ``cases`` given, the first the primary one) in every mode."""
    contract = query.contract
    cases = list(cases) if cases is not None else query_cases(query, data)
    checks: list[CheckResult] = []
    findings: list[Finding] = []
    try:
        for mode in modes:
            for case in cases:
                if mode == "probe" and not case.primary:
                    continue  # a structural question: one case answers it
                plans = explainer.explain(query, case.params, mode)
                subject = _subject(query, contract, case, mode, plans, data)
                found = check_plan(subject)
                if mode == "custom" and case.primary:
                    found += _query_rules(subject)
                total, estimated, _ = subject.rows_read()
                checks.append(CheckResult(case.name, mode, case.primary, plans, tuple(found), total, estimated,
                                          total_buffers(plans), subject.rows_returned, case.expects_rows))
                findings.extend(found)
    except ExplainFailed as exc:
        return QueryResult(query, contract, tuple(checks), ordered(findings), error=str(exc))
    return QueryResult(query, contract, tuple(checks), ordered(findings))


_MODE_ORDER = {"custom": 0, "generic": 1, "probe": 2, "": 3}


def ordered(findings: list[Finding]) -> tuple[Finding, ...]:
    """The most telling first: by rule (the rules' order), then the real plan before generic and probe."""
    rule_order = {r.name: i for i, r in enumerate(RULES)}
    return tuple(sorted(findings, key=lambda f: (rule_order.get(f.rule, 99), _MODE_ORDER.get(f.mode, 3))))


def verify_database(
    info: str,
    queries: Iterable[Query],
    *,
    analyze: bool,
    scratch: bool,
    statement_timeout_ms: int = 30_000,
    modes: Sequence[str] = MODES,
    progress: Progress | None = None,
    data: DataPoints | None = None,
    inline_values: bool = False,
) -> tuple[list[QueryResult], DataPoints]:
    """Verify ``queries`` on the database at ``info`` as it is (revision, data, statistics)."""
    # Reads first: on the scratch database a measured write runs (and is rolled back), and its dead
    # tuple would clear a visibility-map bit that a later index-only read is checked against.
    queries = list(queries)
    ordered = sorted(queries, key=lambda q: q.writes)
    results = []
    with connect(info) as conn:
        data = data or data_points(conn)
        explainer = Explainer(conn, analyze=analyze, scratch=scratch, statement_timeout_ms=statement_timeout_ms,
                              inline_values=inline_values)
        for i, query in enumerate(ordered):
            if progress:
                progress(f"verify {query.name}", i, len(ordered))
            results.append(verify_query(explainer, query, data, modes))
        if progress:
            progress("verify", len(ordered), len(ordered))
    order = {q.name: i for i, q in enumerate(queries)}
    results.sort(key=lambda r: order[r.name])
    return results, data


# --- run-level checks -----------------------------------------------------------------------------

_LIVE_INDEXES = """
SELECT ic.relname, tc.relname
  FROM pg_index i
  JOIN pg_class ic ON ic.oid = i.indexrelid
  JOIN pg_class tc ON tc.oid = i.indrelid
 WHERE tc.relnamespace = current_schema()::regnamespace AND tc.relkind IN ('r', 'm')
   AND tc.relname <> ALL(%(ignored)s)
   AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.contype IN ('p', 'u', 'x'))
 ORDER BY ic.relname
"""


def schema_indexes(conn: psycopg.Connection | None = None) -> tuple[tuple[str, str], ...]:
    """(index, table) of every index of the schema at head: the models', the views', and, given a
    connection, every index of the live database that is not a constraint's."""
    found = {spec.name: spec.table for spec in INDEXES}
    found.update({view.index: view.name for view in VIEWS})
    if conn is not None:
        rows = conn.execute(_LIVE_INDEXES, {"ignored": list(BOOKKEEPING_TABLES)}).fetchall()
        found.update({index: table for index, table in rows})
    return tuple(sorted(found.items()))


def check_schema(contracts: dict[str, Contract], conn: psycopg.Connection | None = None) -> list[Finding]:
    if not contracts:
        return []  # an app team's files alone: whether every index is needed is the catalog's question
    subject = SchemaSubject(indexes=schema_indexes(conn), contracts=contracts)
    return [f for r in RULES if r.scope == "schema" for f in r.check(subject)]


def check_growth(small: Sequence[QueryResult], large: Sequence[QueryResult], small_rows: float,
                 large_rows: float) -> list[QueryResult]:
    """``large`` with each query's buffer growth against ``small`` (custom plans, case by case)."""
    by_name = {r.name: r for r in small}
    out = []
    for result in large:
        other = by_name.get(result.name)
        if other is None or result.error or other.error:
            out.append(result)
            continue
        subjects = []
        for check in result.checks:
            if check.mode != "custom":
                continue
            before = other.check("custom", check.case) or _same_role(other, check)
            if before is None or before.buffers is None or check.buffers is None:
                continue
            subjects.append(GrowthSubject(result.name, result.contract, check.case, before.buffers, check.buffers,
                                          small_rows, large_rows))
        if not subjects:
            out.append(result)
            continue
        primary = next((c.case for c in result.checks if c.mode == "custom" and c.primary), None)
        worst = next((s for s in subjects if s.case == primary), subjects[0])
        found = [f for s in subjects for r in RULES if r.scope == "growth" for f in r.check(s)]
        out.append(dataclasses.replace(result, growth=worst, findings=result.findings + tuple(found)))
    return out


def _same_role(result: QueryResult, check: CheckResult) -> CheckResult | None:
    # Deep-page case names carry the depth ("page at row 6,000"), which differs between scales.
    role = check.case.split(" at ")[0]
    for c in result.checks:
        if c.mode == "custom" and c.case.split(" at ")[0] == role:
            return c
    return None


def check_stability(info: str, results: Sequence[QueryResult], data: DataPoints, *,
                    scratch: bool) -> list[QueryResult]:
    """ANALYZE again, plan every custom case again, and flag any plan whose shape changed."""
    with connect(info) as conn:
        conn.execute("SET default_statistics_target = 1000")
        conn.execute("ANALYZE")
        explainer = Explainer(conn, analyze=False, scratch=scratch)
        out = []
        for result in results:
            if result.error:
                out.append(result)
                continue
            found: list[Finding] = []
            for case in query_cases(result.query, data):
                before = result.check("custom", case.name)
                if before is None:
                    continue
                after = " ; ".join(p.fingerprint for p in explainer.explain(result.query, case.params, "custom"))
                subject = StabilitySubject(result.name, case.name, "custom", before.fingerprint, after)
                found += [f for r in RULES if r.scope == "stability" for f in r.check(subject)]
            out.append(dataclasses.replace(result, findings=result.findings + tuple(found)) if found else result)
    return out
