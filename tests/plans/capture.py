"""Capture the plan fixtures under tests/plans/cases/ from a real server.

    python -m tests.plans.capture --pg-version 18          # embedded PostgreSQL 18
    python -m tests.plans.capture --pg-version 16
    python -m tests.plans.capture --dsn postgresql://postgres@127.0.0.1:5432/postgres   # writes cases/pg15

Each fixture is one EXPLAIN (FORMAT JSON) output per statement, exactly as the server returned it,
with the contract it is checked against and the rules it must and must not break (the spec below).
The rule tests read them without a database. Never edit a fixture's plans by hand: re-capture.

The data: a scratch database seeded with 50,000 messages (``chatschema seed`` shape, seed 42) at
revision 0001 for today's and the seed plan's queries, upgraded to head for the optimized ones;
a second one with 12,500 messages for the growth fixture.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from psycopg import sql

from chatschema import migrate, server
from chatschema import queries as catalog
from chatschema.queries import Query
from chatschema.queries.contract import Contract, IndexUse
from chatschema.plans.params import cases_for, data_points
from chatschema.plans.explain import Explainer
from chatschema.plans.pipeline import settle
from chatschema.scratch import drop, fresh
from chatschema.seed import seed_database
from chatschema.settings import Settings

from .fixtures import MESSAGES, SMALL_MESSAGES

CASES = Path(__file__).parent / "cases"

# A query designed as index-only: the per-conversation count the summary backfill reconciles with.
COUNT_CONTRACT = Contract(
    page_rows=1,
    uses=(IndexUse("ix_messages_conversation_recent", "messages", cond=("conversation_id",), index_only=True),),
    max_rows_read=None,
    o_page=False,
    summary="count a conversation's messages from the index alone",
)
OR_CURSOR = """
SELECT id, title, created_at, last_activity_at, message_count, last_message_id, last_message_preview
FROM conversations
WHERE user_id = %(user_id)s
  AND (last_activity_at < %(before_at)s::timestamptz
       OR (last_activity_at = %(before_at)s::timestamptz AND id < %(before_id)s::uuid))
ORDER BY last_activity_at DESC, id DESC
LIMIT %(limit)s
"""
COUNT = "SELECT count(*) FROM messages WHERE conversation_id = %(conversation_id)s"
COUNT_WITH_CONTENT = "SELECT count(content) FROM messages WHERE conversation_id = %(conversation_id)s"
SKIP_SCAN = "SELECT count(*) FROM messages WHERE created_at >= %(since)s::date"


@dataclass(frozen=True)
class Spec:
    """One fixture: what to plan, how, and what the rules must say about it."""

    name: str
    query: str  # catalog name; the SQL comes from the catalog unless ``sql`` is given
    case: int = 0  # index into the operation's parameter cases
    mode: str = "custom"
    analyze: bool = True
    sql: str | None = None
    contract: Contract | None = None  # default: the catalog query's
    setup: tuple[str, ...] = ()  # statements run first in the same transaction (rolled back)
    fails: tuple[str, ...] = ()
    passes: tuple[str, ...] = ()
    versions: tuple[int, ...] = (15, 16, 18)
    small: bool = False  # plan on the small database (growth)
    settings: tuple[tuple[str, str], ...] = ()
    values: tuple[tuple[str, Any], ...] = ()  # parameter values in place of the case's


ALL_PLAN_RULES = ("index-not-used", "index-cond-columns", "aggregate-whole-table", "rows-read-bound", "buffers-bound",
                  "seq-scan-on-hot-table", "sort-above-page", "subplan-loops", "skip-scan-searches",
                  "index-only-heap-fetches", "no-index-can-serve", "round-trips")

SPECS: tuple[Spec, ...] = (
    Spec("list_optimized_whale", "list_conversations.optimized", passes=ALL_PLAN_RULES),
    Spec("list_optimized_whale_deep", "list_conversations.optimized", case=1, passes=ALL_PLAN_RULES),
    Spec("list_optimized_whale_estimated", "list_conversations.optimized", analyze=False, passes=ALL_PLAN_RULES),
    Spec("list_optimized_probe", "list_conversations.optimized", mode="probe", analyze=False, passes=ALL_PLAN_RULES),
    Spec("list_optimized_generic", "list_conversations.optimized", mode="generic", passes=ALL_PLAN_RULES),
    Spec("list_today_whale", "list_conversations.today",
         fails=("rows-read-bound", "buffers-bound", "sort-above-page"),
         passes=("aggregate-whole-table", "subplan-loops", "round-trips", "index-not-used")),
    Spec("list_today_probe", "list_conversations.today", mode="probe", analyze=False, fails=("no-index-can-serve",)),
    Spec("list_seed_whale", "list_conversations.seed_proposal",
         fails=("aggregate-whole-table", "rows-read-bound", "buffers-bound", "seq-scan-on-hot-table",
                "sort-above-page", "subplan-loops"),
         passes=("round-trips", "index-not-used", "skip-scan-searches")),
    Spec("list_seed_whale_estimated", "list_conversations.seed_proposal", analyze=False,
         fails=("aggregate-whole-table", "rows-read-bound", "seq-scan-on-hot-table", "sort-above-page",
                "subplan-loops"),
         passes=("buffers-bound",)),
    Spec("list_or_cursor_deep", "list_conversations.optimized", case=1, sql=OR_CURSOR,
         fails=("index-cond-columns",), passes=("index-not-used", "round-trips")),
    Spec("list_without_activity_index", "list_conversations.optimized",
         setup=("DROP INDEX ix_conversations_user_activity",),
         fails=("index-not-used", "sort-above-page", "rows-read-bound"), passes=("round-trips",)),
    Spec("load_today_longest", "load_messages.today",
         fails=("round-trips", "sort-above-page", "rows-read-bound", "buffers-bound"),
         passes=("seq-scan-on-hot-table", "aggregate-whole-table", "index-cond-columns")),
    Spec("load_optimized_longest_deep", "load_messages.optimized", case=1, passes=ALL_PLAN_RULES),
    Spec("load_optimized_generic", "load_messages.optimized", mode="generic", passes=ALL_PLAN_RULES),
    Spec("view_optimized_longest", "conversation_view.optimized", passes=ALL_PLAN_RULES),
    Spec("view_seed_longest", "conversation_view.seed_proposal",
         fails=("sort-above-page", "rows-read-bound", "buffers-bound"), passes=("round-trips",)),
    Spec("send_optimized", "send_message.optimized", passes=ALL_PLAN_RULES),
    Spec("send_today", "send_message.today", fails=("round-trips",),
         passes=("rows-read-bound", "buffers-bound", "seq-scan-on-hot-table", "index-not-used")),
    Spec("daily_totals_optimized", "daily_totals.optimized", passes=ALL_PLAN_RULES),
    Spec("user_daily_heaviest", "user_daily_counts.optimized", passes=(*ALL_PLAN_RULES, "case-without-rows")),
    # A 30-day window before the data begins: the case selects nothing, and every bound holds by construction.
    Spec("user_daily_empty_window", "user_daily_counts.optimized",
         values=(("since", date(2000, 1, 1)), ("until", date(2000, 1, 31))),
         fails=("case-without-rows",), passes=ALL_PLAN_RULES),
    Spec("daily_totals_optimized_probe", "daily_totals.optimized", mode="probe", analyze=False,
         passes=ALL_PLAN_RULES),
    Spec("daily_totals_without_index_probe", "daily_totals.optimized", mode="probe", analyze=False,
         setup=("DROP INDEX ux_daily_message_totals",), fails=("index-not-used", "no-index-can-serve")),
    Spec("count_index_only", "load_messages.optimized", sql=COUNT, contract=COUNT_CONTRACT,
         passes=("index-only-heap-fetches", "index-not-used", "index-cond-columns")),
    Spec("count_with_content", "load_messages.optimized", case=2, sql=COUNT_WITH_CONTENT, contract=COUNT_CONTRACT,
         fails=("index-only-heap-fetches",), passes=("index-not-used",)),
    Spec("count_after_unvacuumed_inserts", "load_messages.optimized", sql=COUNT, contract=COUNT_CONTRACT,
         setup=("INSERT INTO messages (id, user_id, conversation_id, role, content, created_at) "
                "SELECT md5('capture' || g)::uuid, c.user_id, c.id, 'user', 'x', now() "
                "FROM conversations c, generate_series(1, 2000) AS g WHERE c.id = %(conversation_id)s",),
         fails=("index-only-heap-fetches",), passes=("index-not-used",)),
    Spec("skip_scan_count", "load_messages.optimized", sql=SKIP_SCAN,
         contract=COUNT_CONTRACT, fails=("skip-scan-searches",), versions=(18,),
         settings=(("enable_seqscan", "off"), ("enable_bitmapscan", "off"))),
    Spec("list_today_whale_small", "list_conversations.today", small=True,
         fails=("rows-read-bound",), passes=("round-trips",)),
    Spec("list_optimized_whale_small", "list_conversations.optimized", small=True, passes=ALL_PLAN_RULES),
)


def _query(spec: Spec) -> Query:
    base = catalog.by_name(spec.query)[0]
    if spec.sql is None:
        return base
    params = tuple(dict.fromkeys(re.findall(r"%\((\w+)\)s", spec.sql)))
    return dataclasses.replace(base, sql=spec.sql, params=params, preceding=(), round_trips=1, writes=False)


def _contract_json(contract: Contract) -> dict[str, Any]:
    return dataclasses.asdict(contract)


def _explain(info: str, spec: Spec, query: Query, data: Any) -> tuple[list[Any], dict[str, Any]]:
    cases = cases_for(catalog.by_name(spec.query)[0], data)
    values = {**cases[spec.case].params, **dict(spec.values)}
    if spec.sql is not None:
        values = {k: v for k, v in {**values, "since": data.since}.items() if k in query.all_params}
    from chatschema.plans.verify import connect

    with connect(info) as conn:
        explainer = Explainer(conn, analyze=spec.analyze, scratch=True)
        if not spec.setup and not spec.settings:
            return list(explainer.documents(query, values, spec.mode)), values
        # Setup statements and extra settings share the EXPLAIN's transaction, which is rolled back.
        conn.execute("BEGIN")
        try:
            for name, value in explainer.settings(spec.mode) + list(spec.settings):
                conn.execute("SELECT set_config(%s, %s, true)", (name, value))
            for statement in spec.setup:
                conn.execute(statement, values if "%(" in statement else None)
            options = sql.SQL("FORMAT JSON, ANALYZE, BUFFERS, TIMING OFF" if spec.analyze else "FORMAT JSON")
            docs = []
            for statement in query.statements:
                row = conn.execute(sql.SQL("EXPLAIN ({}) ").format(options) + sql.SQL(statement.sql),  # type: ignore[arg-type]
                                   statement.bind(values)).fetchone()
                assert row is not None
                docs.append(row[0])
            return docs, values
        finally:
            conn.execute("ROLLBACK")


def _prepare(settings: Settings, name: str, messages: int) -> tuple[Settings, str]:
    db = fresh(settings, name)
    info = server.conninfo(db)
    migrate.upgrade(db, "0001")
    seed_database(info, messages=messages)
    settle(info)
    return db, info


def capture(settings: Settings, only: str | None = None) -> list[Path]:
    version = server.server_version(server.conninfo(settings if settings.dsn else settings.with_database("postgres")))
    out_dir = CASES / f"pg{version}"
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for small in (False, True):
        specs = [s for s in SPECS if s.small == small and version in s.versions
                 and (only is None or re.search(only, s.name))]
        if not specs:
            continue
        name = f"capture_plans{'_small' if small else ''}"
        db, info = _prepare(settings, name, SMALL_MESSAGES if small else MESSAGES)
        for at_head in (False, True):
            if at_head:
                migrate.upgrade(db, "head")
                settle(info)
            with server.connect(info, autocommit=True) as conn:
                data = data_points(conn)
            # Writes last: a measured write (rolled back) leaves a dead tuple that clears a visibility-map
            # bit, and the index-only fixtures are captured against a freshly vacuumed table.
            for spec in sorted(specs, key=lambda s: _query(s).writes or any("INSERT" in st for st in s.setup)):
                query = _query(spec)
                if (query.revision == "head") != at_head:
                    continue
                docs, values = _explain(info, spec, query, data)
                contract = spec.contract or catalog.by_name(spec.query)[0].contract
                path = out_dir / f"{spec.name}.json"
                path.write_text(json.dumps({
                    "name": spec.name,
                    "server_version": version,
                    "query": spec.query,
                    "sql": spec.sql,
                    "setup": list(spec.setup),
                    "case": cases_for(catalog.by_name(spec.query)[0], data)[spec.case].name,
                    "mode": spec.mode,
                    "analyze": spec.analyze,
                    "round_trips": query.round_trips,
                    "table_rows": dict(data.table_rows),
                    "contract": _contract_json(contract),
                    "fails": list(spec.fails),
                    "passes": list(spec.passes),
                    "plans": docs,
                }, indent=1, default=str) + "\n", encoding="utf-8")
                written.append(path)
        drop(settings, name)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg-version", type=int, default=18)
    parser.add_argument("--dsn")
    parser.add_argument("--only", metavar="REGEX", help="capture only the fixtures whose name matches")
    args = parser.parse_args()
    settings = Settings(dsn=args.dsn) if args.dsn else Settings(pg_version=args.pg_version)
    for path in capture(settings, args.only):
        print(path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path)


if __name__ == "__main__":
    main()
