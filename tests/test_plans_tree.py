"""The neutral plan tree: PostgreSQL 15, 16 and 18 EXPLAIN JSON read into the same values."""

from __future__ import annotations

import json

import pytest

from chatschema.plans.tree import cond_columns, parse_plan
from tests.plans.fixtures import find


def test_fractional_actual_rows_of_18_are_averages_over_loops():
    [case] = find("list_seed_whale", 18)
    subplan_scan = next(n for n in case.plans[0].nodes()
                        if n.index == "ix_messages_conversation_id" and n.actual_loops and n.actual_loops > 1)
    assert isinstance(subplan_scan.actual_rows, float) and not subplan_scan.actual_rows.is_integer()
    assert subplan_scan.rows_out == pytest.approx(subplan_scan.actual_rows * subplan_scan.actual_loops)


def test_integer_actual_rows_of_15_read_the_same_way():
    [case] = find("list_optimized_whale", 15)
    limit = case.plans[0].root
    assert limit.actual_rows == 21 and limit.rows_out == 21 and limit.loops == 1


@pytest.mark.parametrize("version,searches", [(15, False), (16, False), (18, True)])
def test_index_searches_only_where_the_server_prints_them(version, searches):
    [case] = find("list_optimized_whale", version)
    scan = case.plans[0].root.children[0]
    assert (scan.index_searches is not None) is searches


def test_the_same_plan_has_the_same_fingerprint_on_every_version():
    prints = {c.version: c.plans[0].fingerprint for c in find("list_optimized_whale")}
    assert set(prints) == {15, 16, 18}
    assert len(set(prints.values())) == 1
    assert prints[18] == "Limit(Index Scan/conversations/ix_conversations_user_activity)"


def test_disabled_cost_before_18_marks_only_the_node_that_carries_it():
    [case] = find("list_today_probe", 16)
    plan = case.plans[0]
    disabled = [n for n in plan.nodes() if n.disabled]
    assert disabled, "the probe leaves an unavoidable sort"
    for node in disabled:
        parent = plan.parent_of(node.path)
        assert parent is None or not parent.disabled or parent.node_type in ("Sort", "Incremental Sort")


def test_buffers_and_labels():
    [case] = find("list_today_whale", 18)
    plan = case.plans[0]
    assert plan.buffers == plan.root.shared_hit + (plan.root.shared_read or 0)
    labels = [n.label for n in plan.nodes()]
    assert any(label.startswith("Seq Scan on messages") or "Bitmap Heap Scan on conversations" in label
               for label in labels)


@pytest.mark.parametrize("cond,columns", [
    ("((user_id = $1) AND (ROW(last_activity_at, id) < ROW($2, $3)))", ("user_id", "last_activity_at", "id")),
    ("((conversation_id = c.id) AND (ROW(created_at, id) < ROW('infinity'::timestamp with time zone, "
     "'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid)))", ("conversation_id", "created_at", "id")),
    ("(conversation_id = 'db4a0886-0610-80ca-f92c-93647b28cf10'::uuid)", ("conversation_id",)),
    ("((user_id = $1) AND (day >= $2) AND (day < $3))", ("user_id", "day")),
    ("(id = ANY ('{a,b}'::uuid[]))", ("id",)),
    (None, ()),
], ids=["row-cursor", "lateral-cursor", "equality", "range", "any", "none"])
def test_index_cond_columns(cond, columns):
    assert cond_columns(cond) == columns


def test_index_cond_columns_of_a_captured_or_cursor():
    [case] = find("list_or_cursor_deep", 18)
    scan = next(n for n in case.plans[0].nodes() if n.index == "ix_conversations_user_activity")
    assert cond_columns(scan.index_cond) == ("user_id",)
    assert "last_activity_at" in (scan.filter or "")


def test_parse_accepts_the_list_a_string_or_the_document():
    [case] = find("send_optimized", 18)
    doc = case.data["plans"][0]
    assert parse_plan(doc).fingerprint == parse_plan(doc[0]).fingerprint == parse_plan(json.dumps(doc)).fingerprint


def test_parse_rejects_what_is_not_explain_json():
    with pytest.raises(ValueError, match="no 'Plan' key"):
        parse_plan({"QUERY PLAN": []})
    with pytest.raises(ValueError, match="expected one EXPLAIN document"):
        parse_plan([])


def test_triggers_of_a_measured_write():
    [case] = find("send_optimized", 18)
    [plan] = case.plans
    assert plan.analyzed
    assert [t.calls for t in plan.triggers] == [1]
