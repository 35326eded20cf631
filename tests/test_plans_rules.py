"""Plan rules on captured plans, without a database: every rule fails a bad plan and passes a good one.

Each fixture under tests/plans/cases/pgNN/ is real EXPLAIN output of PostgreSQL 15, 16 or 18 with
the rules it must break (``fails``) and must not break (``passes``).
"""

from __future__ import annotations

import dataclasses

import pytest

from chatschema.queries import all_queries
from chatschema.indexes import INDEXES
from chatschema.plans.findings import Finding
from chatschema.plans.rules import (
    RULES,
    GrowthSubject,
    SchemaSubject,
    StabilitySubject,
    rule,
)
from chatschema.plans.verify import schema_indexes
from chatschema.views import VIEWS
from tests.plans.fixtures import CASE_FILES, CASES_DIR, CITUS_CASE_FILES, VERSIONS, case_id, find, load, rules_found

PLAN_RULES = [r.name for r in RULES if r.scope in ("plan", "query")]


@pytest.mark.parametrize("path", CASE_FILES + CITUS_CASE_FILES, ids=case_id)
def test_captured_plan_breaks_exactly_the_rules_it_should(path):
    case = load(path)
    found = rules_found(case.subject())
    assert set(case.data["fails"]) <= found, f"missing: {set(case.data['fails']) - found}"
    assert not (set(case.data["passes"]) & found), f"unexpected: {set(case.data['passes']) & found}"


@pytest.mark.parametrize("name", PLAN_RULES)
def test_every_plan_rule_has_a_failing_and_a_passing_case(name):
    cases = [load(p) for p in CASE_FILES + CITUS_CASE_FILES]
    assert any(name in c.data["fails"] for c in cases), f"no fixture makes {name} fail"
    assert any(name in c.data["passes"] for c in cases), f"no fixture shows {name} passing"


# Fixtures that exist on one server version only, because the others cannot show what they capture.
ONLY_ON = {"skip_scan_count": (18,)}  # skip scans and "Index Searches" are new in 18
FIXTURE_NAMES = sorted({p.stem for p in CASE_FILES})


def test_fixtures_are_captured_on_every_version_unless_said_otherwise():
    folders = sorted(p.name for p in CASES_DIR.iterdir() if p.is_dir() and p.name.startswith("pg"))
    assert folders == [f"pg{v}" for v in VERSIONS]
    for name in FIXTURE_NAMES:
        have = tuple(v for v in VERSIONS if (CASES_DIR / f"pg{v}" / f"{name}.json").is_file())
        assert have == ONLY_ON.get(name, VERSIONS), name
    assert {"list_seed_whale", "list_today_probe", "list_or_cursor_deep", "list_without_activity_index",
            "count_after_unvacuumed_inserts"} <= set(FIXTURE_NAMES)


@pytest.mark.parametrize("name", [n for n in FIXTURE_NAMES if n not in ONLY_ON])
def test_each_server_version_has_the_same_verdicts(name):
    """The same query on the same data breaks the same rules on 15, 16 and 18, whatever each plans."""
    verdicts = {case.version: rules_found(case.subject()) for case in find(name)}
    assert set(verdicts) == set(VERSIONS)
    assert len({frozenset(v) for v in verdicts.values()}) == 1, verdicts


def test_seed_proposal_list_is_reported_as_aggregating_every_message():
    for case in find("list_seed_whale"):
        messages = [f.message for f in rule("aggregate-whole-table").check(case.subject())]
        assert messages, case.path
        assert "aggregates every row of messages in the database" in messages[0]
        assert "before the join keeps the ones it needs" in messages[0]


def test_today_list_finding_names_rows_buffers_and_rows_returned():
    for case in find("list_today_whale"):
        [finding] = rule("rows-read-bound").check(case.subject())
        assert " rows and " in finding.message and " buffers, for 20 rows returned" in finding.message
        assert "Most of it: " in finding.message
        assert finding.node is not None


def test_or_cursor_is_reported_as_a_filter_of_the_keyset_index():
    for case in find("list_or_cursor_deep"):
        [finding] = rule("index-cond-columns").check(case.subject())
        assert finding.index == "ix_conversations_user_activity"
        assert "last_activity_at, id not in the Index Cond" in finding.message
        assert "Filter: " in finding.message


def test_a_dropped_index_is_named_with_the_query_that_lost_it():
    for case in find("list_without_activity_index") + find("daily_totals_without_index_probe"):
        findings = list(rule("index-not-used").check(case.subject()))
        assert [f.index for f in findings] == [case.contract.uses[0].index]
        assert findings[0].query == case.data["query"]


def test_probe_finds_the_disabled_sort_on_every_version():
    """PostgreSQL 18 marks it "Disabled"; 15 and 16 only carry disable_cost: both normalize to the same node."""
    labels = {}
    for case in find("list_today_probe"):
        [plan] = case.plans[-1:]
        labels[case.version] = [n.node_type for n in plan.nodes() if n.disabled]
    assert set(labels) == {15, 16, 18}
    for version, disabled in labels.items():
        assert "Sort" in disabled or "Incremental Sort" in disabled, (version, disabled)


def test_no_node_is_disabled_outside_the_probe():
    for path in CASE_FILES:
        case = load(path)
        if case.data["mode"] != "probe":
            assert not [n for p in case.plans for n in p.nodes() if n.disabled], case_id(path)


def test_skip_scan_is_only_visible_on_18_with_index_searches():
    [case] = find("skip_scan_count", 18)
    [finding] = rule("skip-scan-searches").check(case.subject())
    assert "descends the index" in finding.message
    for other in find("list_optimized_whale"):
        assert not list(rule("skip-scan-searches").check(other.subject()))


def test_estimated_rows_read_stop_at_the_limit():
    """Without ANALYZE, an index scan under a Limit is expected to read a page, not its full estimate."""
    for case in find("list_optimized_whale_estimated"):
        total, estimated, _ = case.subject().rows_read()
        assert estimated and total <= 2 * 21
    for case in find("list_seed_whale_estimated"):
        total, estimated, _ = case.subject().rows_read()
        assert estimated and total > 10_000


def test_round_trips_counts_the_statements_of_a_query():
    [case] = find("send_today", 18)
    assert case.data["round_trips"] == 3
    assert [f.rule for f in rule("round-trips").check(case.subject())] == ["round-trips"]
    assert not list(rule("round-trips").check(case.subject(round_trips=1)))


def test_sort_allowance_is_exact():
    """The conversation view sorts its 21 rows: allowed at 21, a finding at 20."""
    for case in find("view_optimized_longest"):
        assert not list(rule("sort-above-page").check(case.subject()))
        tighter = dataclasses.replace(case.contract, max_sort_rows=20)
        assert [f.rule for f in rule("sort-above-page").check(case.subject(contract=tighter))] == ["sort-above-page"]


def _growth(name: str, small_name: str, version: int) -> GrowthSubject:
    [large], [small] = find(name, version), find(small_name, version)
    return GrowthSubject(large.data["query"], large.contract, large.data["case"], small.plans[-1].buffers,
                         large.plans[-1].buffers, small.data["table_rows"]["messages"],
                         large.data["table_rows"]["messages"])


@pytest.mark.parametrize("version", [15, 16, 18])
def test_buffer_growth_flags_today_and_passes_optimized(version):
    today = _growth("list_today_whale", "list_today_whale_small", version)
    optimized = _growth("list_optimized_whale", "list_optimized_whale_small", version)
    assert today.table_factor >= 3.5 and today.factor is not None and today.factor > 3
    assert [f.rule for f in rule("buffer-growth").check(today)] == ["buffer-growth"]
    assert optimized.factor is not None and optimized.factor < 1.5
    assert not list(rule("buffer-growth").check(optimized))


def _optimized_contracts() -> dict:
    return {q.name: q.contract for q in all_queries() if q.variant == "optimized"}


def test_every_index_of_the_schema_is_named_by_a_contract():
    subject = SchemaSubject(schema_indexes(), _optimized_contracts())
    assert {name for name, _ in subject.indexes} == {s.name for s in INDEXES} | {v.index for v in VIEWS}
    assert not list(rule("unused-index").check(subject))


def test_an_index_no_contract_names_is_a_finding():
    extra = SchemaSubject(schema_indexes() + (("ix_messages_created_at", "messages"),), _optimized_contracts())
    [finding] = rule("unused-index").check(extra)
    assert finding.index == "ix_messages_created_at" and "named by no query contract" in finding.message
    without_totals = {k: v for k, v in _optimized_contracts().items() if k != "daily_totals.optimized"}
    [finding] = rule("unused-index").check(SchemaSubject(schema_indexes(), without_totals))
    assert finding.index == "ux_daily_message_totals"


def test_a_plan_that_changes_after_analyze_is_unstable():
    [a] = find("list_optimized_whale", 18)
    [b] = find("list_without_activity_index", 18)
    same = StabilitySubject("list_conversations.optimized", "c", "custom", a.plans[0].fingerprint,
                            a.plans[0].fingerprint)
    assert not list(rule("plan-unstable").check(same))
    changed = dataclasses.replace(same, after=b.plans[0].fingerprint)
    [finding] = rule("plan-unstable").check(changed)
    assert "changed plan after ANALYZE" in finding.message


def test_every_catalog_query_has_a_contract():
    for query in all_queries():
        assert query.contract.page_rows >= 1


def test_findings_say_where_they_were_found():
    f = Finding("r", "q", "m", "h", case="heaviest user, first page", mode="generic")
    assert f.where == "heaviest user, first page · generic plan"
    assert Finding("r", "q", "m", "h", case="c", mode="custom").where == "c"
