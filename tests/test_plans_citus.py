"""Citus plans (captured on the local cluster, tests/plans/cases/citus/) read as neutral trees, without a database."""

from __future__ import annotations

from chatschema.plans.rules import rule
from chatschema.plans.tree import TASK
from tests.plans.fixtures import CASES_DIR, load


def _case(name: str):
    return load(CASES_DIR / "citus" / f"{name}.json")


def test_the_shards_plan_is_part_of_the_tree_under_its_task():
    [plan] = _case("list_optimized_router").plans
    scan = plan.root
    assert scan.label == "Custom Scan (Citus Adaptive)" and scan.task_count == 1
    [task] = scan.children
    assert task.parent_relationship == TASK
    [index_scan] = [n for n in plan.nodes() if n.index]
    # The shard's names (conversations_1020NN, ix_..._1020NN) read as the table's and index's.
    assert (index_scan.relation, index_scan.index) == ("conversations", "ix_conversations_user_activity")
    assert "user_id" in (index_scan.index_cond or "")


def test_a_router_query_passes_and_a_fan_out_is_named():
    assert not list(rule("router-query").check(_case("list_optimized_router").subject()))
    [finding] = rule("router-query").check(_case("list_without_user_fan_out").subject())
    assert finding.query == "list_conversations.optimized"
    assert "runs on 32 shards" in finding.message and "exactly one" in finding.message


def test_a_plain_postgresql_plan_has_no_tasks():
    case = load(CASES_DIR / "pg18" / "list_optimized_whale.json")
    assert all(n.task_count is None and n.custom_provider is None for p in case.plans for n in p.nodes())
    assert not list(rule("router-query").check(case.subject()))
