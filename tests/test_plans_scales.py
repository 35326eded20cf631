"""A scale the plan commands offer passes, or they refuse it before running: too few messages to verify.

Below ``PLAN_MIN_MESSAGES`` every table is a few pages and the planner rightly picks a bitmap or a
sequential scan where production reads the index in order: `demo --scale tiny` (5,000 messages) used
to fail list_conversations.optimized (a bitmap plan, 54 rows read against 44) and exit 1.
"""

from __future__ import annotations

import uuid

import pytest
from click.testing import CliRunner

from chatschema import scratch
from chatschema.cli import main
from chatschema.queries import all_queries
from chatschema.plans import pipeline
from chatschema.settings import Settings
from chatschema.seed.scales import PLAN_MIN_MESSAGES

UNREACHABLE = "postgresql://nobody@127.0.0.1:1/x"  # refused before connecting: nothing listens there
WHY = ("below 10,000 the tables are a few pages and the planner rightly picks scans production never gets")


def run(*args: str):
    # Without DATABASE_URL: with it, `plans verify` plans that server's database as it is (no seeding, no
    # scale); without it, the scratch database's scale is checked before the embedded server starts.
    return CliRunner().invoke(main, list(args), catch_exceptions=False, env={"DATABASE_URL": None})


def refusal(result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert lines[-1].startswith("Error: ") and "Traceback" not in result.output
    return lines[-1]


def test_the_demo_refuses_the_tiny_scale_before_connecting():
    assert refusal(run("demo", "--scale", "tiny", "--dsn", UNREACHABLE)) == (
        f"Error: --scale tiny seeds 5,000 messages, too few for demo: it needs at least 10,000 messages; {WHY}. "
        "Use --scale ci, or --messages 10000 or more")
    assert refusal(run("demo", "--messages", str(PLAN_MIN_MESSAGES - 1), "--dsn", UNREACHABLE)).startswith(
        "Error: --messages 9999 is too few for demo: it needs at least 10,000 messages;")


def test_plans_verify_needs_the_growth_database_big_enough_too():
    # Without --dsn it would start the embedded server and seed: the refusal comes first.
    assert refusal(run("plans", "verify", "--scale", "tiny")) == (
        "Error: --scale tiny seeds 5,000 messages, too few for plans verify: it needs at least 40,000 messages "
        f"(10,000 in the growth database, which holds 1/4); {WHY}. Use --scale ci, or --messages 40000 or more")
    line = refusal(run("plans", "verify", "--messages", "9999", "--no-growth"))
    assert line.startswith("Error: --messages 9999 is too few for plans verify: it needs at least 10,000 messages;")
    assert refusal(run("plans", "show", "list_conversations.optimized", "--scale", "tiny")).startswith(
        "Error: --scale tiny seeds 5,000 messages, too few for plans show: it needs at least 10,000 messages;")


def test_the_smallest_accepted_demo_passes(pg_server):
    """The twin: at the minimum, on the tiny shape, the demo runs and every optimized contract holds."""
    name = f"cs_scratch_{uuid.uuid4().hex[:8]}"
    try:
        result = run("demo", "--scale", "tiny", "--messages", str(PLAN_MIN_MESSAGES), "--dsn", pg_server.admin,
                     "--database", name)
    finally:
        scratch.drop(Settings(dsn=pg_server.admin), name)
    assert result.exit_code == 0, result.output
    optimized = sum(q.variant == "optimized" for q in all_queries())
    assert f"{optimized} of {optimized} optimized queries pass" in result.output


@pytest.mark.slow
def test_the_smallest_accepted_verify_passes_with_its_growth_database(pg_server):
    """The twin of the growth minimum: 40,000 messages on the tiny shape, 10,000 in the growth database."""
    admin = Settings(dsn=pg_server.admin)
    name = f"cs_scratch_{uuid.uuid4().hex[:8]}"
    try:
        report = pipeline.run(admin, scale="tiny", messages=4 * PLAN_MIN_MESSAGES, database=name, scratch=True)
    finally:
        scratch.drop(admin, name)
    assert [s.messages for s in report.seeds] == [40_000, 10_000]
    assert report.exit_code == 0, [f.message for f in report.findings]
