"""`chatschema plans verify|show|docs` and `chatschema demo`: exit codes, formats, exact messages."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import psycopg
import pytest
from click.testing import CliRunner

from chatschema import migrate
from chatschema.cli import main

HEAD = migrate.head()


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def plans_clone(seeded_plans, new_database):
    """A copy of the session's verified database, for a test that breaks it."""
    return new_database("plans_clone", template=seeded_plans.settings)


@pytest.mark.parametrize("command", [["plans", "verify"], ["plans", "show"], ["plans", "docs"], ["demo"]],
                         ids=" ".join)
def test_plans_commands_have_help_with_an_example(command):
    result = run(*command, "--help")
    assert result.exit_code == 0 and "Example:" in result.output


def test_verify_on_a_server_exits_0_with_json(seeded_plans):
    result = run("plans", "verify", "--dsn", seeded_plans.settings.dsn, "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["exit_code"] == 0 and not doc["scratch"] and not doc["analyze"]
    assert {q["name"] for q in doc["queries"]} == {
        "list_conversations.optimized", "load_messages.optimized", "conversation_view.optimized",
        "send_message.optimized", "catch_up.optimized", "changed_conversations.optimized",
        "export_messages.optimized", "user_daily_counts.optimized", "daily_totals.optimized"}
    assert doc["pinned"]["max_parallel_workers_per_gather"] == "0"
    assert "random_page_cost" not in doc["pinned"]  # the server's own cost settings, recorded instead
    assert "random_page_cost" in doc["settings"]


def test_verify_junit_and_markdown(seeded_plans):
    result = run("plans", "verify", "--dsn", seeded_plans.settings.dsn, "--analyze", "--format", "junit")
    assert result.exit_code == 0
    root = ET.fromstring(result.stdout)
    [suite] = list(root.iter("testsuite"))
    assert suite.get("name") == "plans.optimized" and suite.get("tests") == "9" and suite.get("failures") == "0"
    result = run("plans", "verify", "--dsn", seeded_plans.settings.dsn, "--format", "markdown")
    assert result.exit_code == 0 and result.stdout.startswith("### chatschema plans: passed")


def test_verify_exits_1_with_findings_and_shows_the_plan(plans_clone):
    with psycopg.connect(plans_clone.dsn, autocommit=True) as conn:
        conn.execute("DROP INDEX ix_conversations_user_activity")
    result = run("plans", "verify", "--dsn", plans_clone.dsn, "--query", "list_conversations", "--analyze")
    assert result.exit_code == 1, result.output
    out = result.stdout
    assert "✗ list_conversations.optimized" in out
    assert ("index-not-used [heaviest user, first page]: list conversations (optimized) does not use "
            "ix_conversations_user_activity on conversations; it reads conversations with ") in out
    assert "hint: ix_conversations_user_activity is conversations (user_id, last_activity_at DESC, id DESC)" in out
    assert "    plan [heaviest user, first page]:" in out
    assert out.splitlines()[-1].startswith("0 passed, 1 failed")


def test_verify_exits_2_when_nothing_can_run(seeded_plans):
    result = run("plans", "verify", "--dsn", seeded_plans.settings.dsn, "--variant", "today")
    assert result.exit_code == 2
    assert f"- list_conversations.today  skipped: needs revision 0001; the database is at {HEAD}" in result.stdout


def test_the_citus_variants_are_skipped_on_one_node_saying_why(seeded_plans):
    result = run("plans", "verify", "--dsn", seeded_plans.settings.dsn, "--variant", "citus")
    assert result.exit_code == 2
    assert ("- send_message.citus  skipped: needs a Citus coordinator where `chatschema distribute` ran"
            in result.stdout)
    # the default (optimized) on one node never swaps in a citus variant: there is none to swap
    plain = run("plans", "verify", "--dsn", seeded_plans.settings.dsn, "--query", "send_message")
    assert "✓ send_message.optimized" in plain.stdout and "in place of" not in plain.stdout


def test_the_citus_variants_without_a_dsn_are_refused_before_any_server(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    result = run("plans", "verify", "--variant", "citus")
    assert result.exit_code == 2
    assert result.output.strip() == ("Error: send_message.citus, user_daily_counts.citus, daily_totals.citus: the "
                                     "citus variants run on a Citus coordinator where `chatschema distribute` ran: "
                                     "pass --dsn COORDINATOR")
    shown = run("plans", "show", "send_message.citus")
    assert shown.exit_code == 2 and "runs on a Citus coordinator" in shown.output


def test_verify_rejects_bad_input_before_connecting():
    result = run("plans", "verify", "--dsn", "postgresql://nobody@127.0.0.1:1/x", "--query", "nosuch")
    assert result.exit_code == 2
    assert result.output.strip().startswith("Error: --query: unknown operation 'nosuch'; operations are ")
    result = run("plans", "verify", "--scale", "huge")
    assert result.exit_code == 2
    assert result.output.strip().endswith("Error: --scale: expected one of tiny, ci, bench, large, got 'huge'")


def test_show_draws_the_plan_with_the_contract_verdict(seeded_plans):
    result = run("plans", "show", "list_conversations.optimized", "--dsn", seeded_plans.settings.dsn, "--analyze")
    assert result.exit_code == 0, result.output
    assert "heaviest user, first page, custom plan" in result.stdout
    assert ("✓ contract: ix_conversations_user_activity with user_id, last_activity_at, id in its Index Cond"
            in result.stdout)
    assert "✓ the contract holds" in result.stdout


def test_show_marks_the_node_that_breaks_the_contract(plans_clone):
    with psycopg.connect(plans_clone.dsn, autocommit=True) as conn:
        conn.execute("DROP INDEX ix_messages_conversation_recent")
    result = run("plans", "show", "conversation_view.optimized", "--dsn", plans_clone.dsn, "--mode", "probe")
    assert result.exit_code == 1
    assert ("✗ index-not-used: conversation view (optimized) does not use ix_messages_conversation_recent"
            in result.stdout)
    assert "DISABLED" in result.stdout


def test_show_names_the_cases_it_has(seeded_plans):
    result = run("plans", "show", "load_messages.optimized", "--dsn", seeded_plans.settings.dsn, "--case", "nope")
    assert result.exit_code == 2
    assert "Error: --case: load_messages.optimized has the cases 'longest conversation, first page'" in result.output


def test_demo_tells_the_whole_story(seeded_plans):
    """The session's plans database is the demo's: `chatschema demo --dsn <server> --messages 50000
    --database <name>` (tests/plans/seeded.py), run once."""
    result = seeded_plans.demo
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "verifying today's queries at revision 0001" in out
    assert "  ✗ list_conversations.seed_proposal: list conversations (seed proposal) aggregates every row" in out
    assert "upgrading the same database to head" in out and f"↑ {HEAD}" in out
    assert out.count("  ✓ ") == 9
    assert "Shared buffers per request (rows read), before and after" in out
    assert "12 of 12 queries of today and the seed plan fail their contracts; 9 of 9 optimized queries pass." in out
