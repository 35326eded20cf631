"""Renderers and the generated rule reference, on captured plans (no database)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from click.testing import CliRunner

from chatschema.queries import by_name
from chatschema.cli import main
from chatschema.plans.docs import rules_markdown
from chatschema.plans.explain import PINNED, SCRATCH_COSTS
from chatschema.plans.pipeline import Report
from chatschema.plans.render import as_json, contract_marks, junit, markdown, render, text, tree
from chatschema.plans.rules import check_plan
from chatschema.plans.verify import CheckResult, QueryResult, ordered
from tests.plans.fixtures import find

DOCS = Path(__file__).resolve().parent.parent / "docs" / "plan-rules.md"


def _result(fixture: str) -> QueryResult:
    [case] = find(fixture, 18)
    subject = case.subject()
    findings = check_plan(subject)
    total, estimated, _ = subject.rows_read()
    check = CheckResult(case.data["case"], case.data["mode"], True, subject.plans, tuple(findings), total, estimated,
                        subject.plans[-1].buffers, subject.rows_returned)
    return QueryResult(by_name(case.data["query"])[0], case.contract, (check,), ordered(findings))


def _report() -> Report:
    return Report(target="/tmp/pg18/chatschema_plans", server_version=18, scratch=True, analyze=True,
                  results=(_result("list_seed_whale"), _result("list_optimized_whale")),
                  pinned=PINNED + SCRATCH_COSTS)


def test_text_shows_the_finding_the_offending_plan_part_and_a_hint():
    out = text(_report())
    assert "✗ list_conversations.seed_proposal" in out
    assert ("aggregate-whole-table [heaviest user, first page]: list conversations (seed proposal) "
            "aggregates every row") in out
    assert "hint: Keep the summary on the parent row" in out
    hash_line = next(line for line in out.splitlines() if "HashAggregate" in line and "✗" in line)
    assert "aggregate-whole-table" in hash_line
    assert "✓ list_conversations.optimized  21 rows read" in out
    assert "pinned: max_parallel_workers_per_gather=0, jit=off" in out
    last = out.splitlines()[-1]
    assert last.startswith("1 passed, 1 failed, ") and last.endswith("findings; exit 1")


def test_json_is_complete_and_machine_readable():
    doc = json.loads(as_json(_report()))
    assert doc["exit_code"] == 1 and doc["server_version"] == 18
    seed, optimized = doc["queries"]
    assert seed["passed"] is False and seed["findings"][0]["rule"] == "aggregate-whole-table"
    assert seed["findings"][0]["node"] and seed["contract"]["max_rows_read"] == 44
    assert optimized["passed"] is True and optimized["checks"][0]["buffers"] > 0
    assert doc["pinned"]["jit"] == "off"


def test_junit_has_one_suite_per_variant_and_a_failure_per_failing_query():
    root = ET.fromstring(junit(_report()))
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert suites["plans.seed_proposal"].get("failures") == "1"
    assert suites["plans.optimized"].get("failures") == "0"
    failure = suites["plans.seed_proposal"].find("testcase/failure")
    assert failure is not None and failure.get("type") == "aggregate-whole-table"


def test_markdown_table_for_a_pull_request():
    md = markdown(_report())
    assert md.startswith("### chatschema plans: failed")
    assert "| `list_conversations.optimized` | ✓ | 21 | " in md
    assert "<details><summary><code>list_conversations.seed_proposal</code>" in md


def test_render_refuses_an_unknown_format():
    import pytest

    with pytest.raises(ValueError, match="format must be one of"):
        render(_report(), "yaml")


def test_tree_marks_the_contract_on_its_node():
    good = _result("list_optimized_whale")
    plan = good.checks[0].plans[0]
    lines = tree(plan, contract_marks(good.contract, plan, good.findings, 0))
    assert any("✓ contract: ix_conversations_user_activity with user_id, last_activity_at, id in its Index Cond" in line
               for line in lines)
    bad = _result("list_or_cursor_deep")
    plan = bad.checks[0].plans[0]
    lines = tree(plan, contract_marks(bad.contract, plan, bad.findings, 0))
    assert any("✗ contract: last_activity_at, id missing from the Index Cond" in line for line in lines)
    assert any("✗ index-cond-columns" in line for line in lines)


def test_rule_reference_is_fresh():
    assert DOCS.read_text(encoding="utf-8") == rules_markdown(), "run `chatschema plans docs`"


def test_docs_check_fails_on_a_stale_file(tmp_path):
    stale = tmp_path / "plan-rules.md"
    stale.write_text("# Plan rules\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["plans", "docs", "--check", "--output", str(stale)])
    assert result.exit_code == 1 and "is stale" in result.output
    result = CliRunner().invoke(main, ["plans", "docs", "--output", str(stale)])
    assert result.exit_code == 0
    result = CliRunner().invoke(main, ["plans", "docs", "--check", "--output", str(stale)])
    assert result.exit_code == 0 and "is up to date" in result.output
