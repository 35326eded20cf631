"""The plan validator on a real, seeded database: today's and the seed plan's queries fail their
contracts, the optimized ones pass, and dropping any index a contract names fails the query that
needed it. One seeded database per session (50,000 messages at 0001, upgraded to head) and a quarter
of it for growth; plans and buffers are asserted, never timings.
"""

from __future__ import annotations

import dataclasses

import psycopg
import pytest
from psycopg import sql

from chatschema.queries import Query, all_queries, by_name, positional_sql
from chatschema.plans import select_queries, verify_database
from chatschema.plans.metrics import sort_input_rows
from chatschema.plans.pipeline import run
from chatschema.plans.tree import SORT_NODES
from chatschema.plans.verify import QueryResult, check_schema, connect, schema_indexes

OPTIMIZED = [q.name for q in all_queries() if q.variant == "optimized"]
BEFORE = [q.name for q in all_queries() if q.variant not in ("optimized", "citus")]


def _rules(result) -> set[str]:
    return {f.rule for f in result.findings}


@pytest.mark.parametrize("name", OPTIMIZED)
def test_optimized_query_keeps_its_contract(seeded_plans, name):
    result = seeded_plans.results[name]
    assert result.error is None
    assert result.passed, [f"{f.rule} [{f.where}]: {f.message}" for f in result.findings]
    assert {c.mode for c in result.checks} == {"probe", "custom", "generic"}
    for use in result.contract.uses:
        if use.chosen:
            check = result.check("custom")
            assert any(n.index in use.accepted for p in check.plans for n in p.nodes()), use.index


@pytest.mark.parametrize("name", BEFORE)
def test_today_and_seed_proposal_fail_their_contracts(seeded_plans, name):
    result = seeded_plans.results[name]
    assert result.error is None
    assert not result.passed
    first = result.findings[0]
    assert first.message.startswith(name.split(".")[0].replace("_", " ")), first.message
    assert first.hint


EXPECTED = {
    "list_conversations.today": {"rows-read-bound", "buffers-bound", "sort-above-page", "buffer-growth"},
    "list_conversations.seed_proposal": {"aggregate-whole-table", "subplan-loops", "rows-read-bound",
                                         "seq-scan-on-hot-table", "buffer-growth"},
    "load_messages.today": {"round-trips", "sort-above-page", "rows-read-bound", "no-index-can-serve"},
    "load_messages.seed_proposal": {"sort-above-page", "rows-read-bound", "buffer-growth"},
    "conversation_view.today": {"round-trips", "sort-above-page"},
    "conversation_view.seed_proposal": {"sort-above-page", "rows-read-bound"},
    "send_message.today": {"round-trips"},
    "catch_up.today": {"rows-read-bound", "buffers-bound", "sort-above-page", "no-index-can-serve", "buffer-growth"},
    "export_messages.today": {"sort-above-page", "no-index-can-serve"},
    "changed_conversations.today": {"rows-read-bound", "buffers-bound", "seq-scan-on-hot-table", "sort-above-page",
                                    "buffer-growth"},
    "user_daily_counts.today": {"rows-read-bound", "buffers-bound"},
    "daily_totals.today": {"rows-read-bound", "seq-scan-on-hot-table", "no-index-can-serve"},
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_failure_names_its_problem(seeded_plans, name):
    assert EXPECTED[name] <= _rules(seeded_plans.results[name])


def test_seed_proposal_list_is_said_to_aggregate_every_message_before_filtering(seeded_plans):
    result = seeded_plans.results["list_conversations.seed_proposal"]
    assert result.findings[0].rule == "aggregate-whole-table"
    assert "aggregates every row of messages in the database" in result.findings[0].message
    assert result.findings[0].where == "heaviest user, first page"


def test_today_list_is_said_to_read_far_more_than_a_page(seeded_plans):
    result = seeded_plans.results["list_conversations.today"]
    [finding] = [f for f in result.findings if f.rule == "rows-read-bound" and f.mode == "custom"][:1]
    check = result.check("custom")
    assert check.rows_read > 100 * 20 and check.buffers > 100
    assert f"for {check.rows_returned:.0f} rows returned" in finding.message


def test_parameters_come_from_the_data(seeded_plans):
    cases = [c.case for c in seeded_plans.results["list_conversations.optimized"].checks if c.mode == "custom"]
    assert cases[0] == "heaviest user, first page"
    assert cases[1].startswith("heaviest user, page at row ")
    assert "typical user" in cases and "user with no conversations" in cases
    loads = {c.case for c in seeded_plans.results["load_messages.optimized"].checks}
    assert {"longest conversation, first page", "typical conversation", "empty conversation"} <= loads


def test_deep_page_costs_the_same_as_the_first(seeded_plans):
    result = seeded_plans.results["load_messages.optimized"]
    first, deep = [c for c in result.checks if c.mode == "custom"][:2]
    assert "page at message" in deep.case
    assert deep.rows_read <= first.rows_read + 1 and deep.buffers <= first.buffers + 5
    today = seeded_plans.results["load_messages.today"]
    today_first, today_deep = [c for c in today.checks if c.mode == "custom"][:2]
    assert today_deep.rows_read >= today_first.rows_read  # OFFSET reads every row before the page


@pytest.mark.parametrize("name", [q.name for q in all_queries() if q.variant == "optimized" and q.contract.o_page])
def test_optimized_buffers_do_not_grow_with_the_data(seeded_plans, name):
    growth = seeded_plans.results[name].growth
    assert growth is not None and growth.table_factor >= 3.5
    assert growth.factor is not None and growth.factor <= 1.5 or growth.large_buffers - growth.small_buffers <= 10


@pytest.mark.parametrize("name", ["list_conversations.today", "load_messages.today", "user_daily_counts.today",
                                  "daily_totals.today", "list_conversations.seed_proposal"])
def test_today_buffers_grow_with_the_data(seeded_plans, name):
    growth = seeded_plans.results[name].growth
    assert growth is not None and growth.factor is not None and growth.factor > 2.5
    assert "buffer-growth" in _rules(seeded_plans.results[name])


def test_generic_plans_are_checked_with_the_same_contract(seeded_plans):
    result = seeded_plans.results["list_conversations.optimized"]
    generic = [c for c in result.checks if c.mode == "generic"]
    assert len(generic) == 4 and all(c.buffers is not None for c in generic)
    assert {c.fingerprint for c in generic} == {result.check("custom").fingerprint}


COUNTS = "SELECT (SELECT count(*) FROM messages), (SELECT sum(message_count) FROM conversations)"


def test_writes_are_measured_on_the_scratch_database_and_rolled_back(seeded_plans):
    with psycopg.connect(seeded_plans.info) as conn:
        before = conn.execute(COUNTS).fetchone()
        send = seeded_plans.results["send_message.optimized"]
        assert send.check("custom").plans[0].analyzed
        results, _ = verify_database(seeded_plans.info, by_name("send_message.optimized"), analyze=True,
                                     scratch=True, modes=("custom",))
        assert results[0].passed and results[0].check("custom").rows_returned == 1
        after = conn.execute(COUNTS).fetchone()
    assert before == after


def test_dsn_server_is_only_planned_read_only(seeded_plans):
    """On a --dsn server writes are never executed, even with --analyze, and today's variants are skipped at head."""
    with psycopg.connect(seeded_plans.info) as conn:
        before = conn.execute("SELECT count(*) FROM messages").fetchone()
    report = run(seeded_plans.settings, variant="all", analyze=True)
    assert not report.scratch and report.exit_code == 0
    citus = {q.name for q in all_queries() if q.variant == "citus"}
    assert {name for name, _ in report.skipped} == set(BEFORE) | citus  # needs a Citus coordinator, said
    send = report.result("send_message.optimized")
    assert not send.check("custom").plans[0].analyzed
    assert report.result("list_conversations.optimized").check("custom").plans[0].analyzed
    with psycopg.connect(seeded_plans.info) as conn:
        assert conn.execute("SELECT count(*) FROM messages").fetchone() == before
    estimated = run(seeded_plans.settings, variant="optimized")
    assert estimated.exit_code == 0 and not estimated.analyze
    assert all(c.rows_estimated and c.buffers is None for r in estimated.results for c in r.checks)


def test_a_statement_timeout_is_could_not_run(seeded_plans):
    results, _ = verify_database(seeded_plans.info, by_name("list_conversations.today"), analyze=True,
                                 scratch=False, statement_timeout_ms=1, modes=("custom",))
    assert results[0].error and "statement_timeout (1 ms) cancelled it" in results[0].error


def test_live_schema_indexes_are_all_named(seeded_plans):
    contracts = {q.name: q.contract for q in all_queries() if q.variant == "optimized"}
    with connect(seeded_plans.info) as conn:
        assert dict(schema_indexes(conn)) == dict(schema_indexes())
        assert check_schema(contracts, conn) == []
        conn.execute("CREATE INDEX ix_messages_created_at ON messages (created_at)")
        try:
            [finding] = check_schema(contracts, conn)
        finally:
            conn.execute("DROP INDEX ix_messages_created_at")
    assert finding.rule == "unused-index" and finding.index == "ix_messages_created_at"


NAMED = sorted({use.index for q in all_queries() if q.variant == "optimized" for use in q.contract.uses
                if use.index in dict(schema_indexes())})


def test_every_schema_index_is_dropped_below():
    assert set(NAMED) == set(dict(schema_indexes()))


@pytest.mark.parametrize("index", NAMED)
def test_dropping_an_index_fails_the_query_that_lost_it(seeded_plans, index):
    needs = [q for q in select_queries("optimized") if index in [u.index for u in q.contract.uses]]
    assert needs
    with psycopg.connect(seeded_plans.info, autocommit=True) as conn:
        definition = conn.execute("SELECT pg_get_indexdef(to_regclass(%s))", (index,)).fetchone()[0]
        conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(index)))
        try:
            results, _ = verify_database(seeded_plans.info, needs, analyze=True, scratch=True,
                                         modes=("probe", "custom"))
        finally:
            conn.execute(definition)
    for result in results:
        assert not result.passed
        lost = [f for f in result.findings if f.rule == "index-not-used" and f.index == index]
        assert lost, result.name
        assert lost[0].query == result.name and index in lost[0].message
    # the index is back: the same queries pass again
    again, _ = verify_database(seeded_plans.info, needs, analyze=True, scratch=True, modes=("probe", "custom"))
    assert all(r.passed for r in again), [f.message for r in again for f in r.findings]


def test_a_second_run_plans_every_query_the_same_way(seeded_plans):
    """Determinism: pinned settings and whole-table statistics give the same plan shapes run after run."""
    queries = select_queries("optimized")
    again, _ = verify_database(seeded_plans.info, queries, analyze=False, scratch=True, modes=("custom", "generic"))
    for result in again:
        before = {(c.case, c.mode): c.fingerprint for c in seeded_plans.results[result.name].checks}
        for check in result.checks:
            assert check.fingerprint == before[(check.case, check.mode)], (result.name, check.case, check.mode)


# --- the growth database: a quarter of the data, where averages mislead the planner most ------------


@pytest.mark.parametrize("name", OPTIMIZED)
def test_optimized_query_keeps_its_contract_on_a_quarter_of_the_data(seeded_plans, name):
    """The growth database is measured for buffers only; a contract broken only there would go unseen."""
    result = seeded_plans.small[name]
    assert seeded_plans.small_seed.messages == 12_500
    assert result.passed, [f"{f.rule} [{f.where}]: {f.message}" for f in result.findings]


LONGEST = {"load_messages.optimized": "longest conversation, first page",
           "conversation_view.optimized": "longest conversation"}
INNER_BOUND = "    WHERE conversation_id = %(conversation_id)s\n"


def _by_outer_row(query: Query) -> Query:
    """The query as it was first written: the LATERAL's messages selected by the outer row's ``c.id``."""
    assert query.sql.count(INNER_BOUND) == 1, query.name
    text = query.sql.replace(INNER_BOUND, "    WHERE conversation_id = c.id\n")
    return dataclasses.replace(query, sql=text, params=positional_sql(text)[1])


def _longest(result: QueryResult, mode: str) -> tuple[set[str], float]:
    """In the plan for the longest conversation: how ix_messages_conversation_recent is scanned, and the
    most rows any Sort sorts."""
    check = result.check(mode, LONGEST[result.name])
    assert check is not None
    nodes = [n for plan in check.plans for n in plan.nodes()]
    scans = {n.node_type for n in nodes if n.index == "ix_messages_conversation_recent"}
    sorted_rows = [sort_input_rows(n)[0] for n in nodes if n.node_type in SORT_NODES and n.executed]
    return scans, max(sorted_rows, default=0)


@pytest.mark.parametrize("name", sorted(LONGEST))
def test_the_longest_conversation_is_read_from_the_index_by_its_bound_id(seeded_plans, name):
    """In 12,500 messages the average conversation has about 7 and the longest 3,375. Selected by the outer
    row's c.id, the LATERAL is planned for the average one: a bitmap scan and a sort of all 3,375.
    Selected by the bound id, the planner sees the real conversation and walks the index in order."""
    [query] = by_name(name)
    [ours, by_outer_row], _ = verify_database(seeded_plans.small_info, [query, _by_outer_row(query)],
                                              analyze=True, scratch=True, modes=("custom", "generic"))
    assert ours.passed, [f"{f.rule} [{f.where}]: {f.message}" for f in ours.findings]
    for mode in ("custom", "generic"):
        scans, sorted_rows = _longest(ours, mode)
        assert scans == {"Index Scan"} and sorted_rows <= query.contract.page_rows, mode
    longest = seeded_plans.small_seed.interesting.longest_conversation_messages
    assert _longest(by_outer_row, "custom") == ({"Bitmap Index Scan"}, longest)
    assert "sort-above-page" in _rules(by_outer_row)


def test_an_export_is_its_conversations_length_by_nature_and_the_contract_says_so(seeded_plans):
    """The export's contract checks no growth (its cost is the history); the twin: its buffers do grow."""
    result = seeded_plans.results["export_messages.optimized"]
    assert not result.contract.o_page and result.passed
    assert result.growth is not None and result.growth.factor is not None and result.growth.factor > 2.5
