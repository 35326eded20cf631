"""Analytics cases are verified on windows that have data; a case whose parameters select nothing is a finding.

The analytics contracts used to be checked on one 30-day window ending at the longest conversation's
newest message: where that conversation is old, the other users had no message in it, every bound
held by construction, and the report said "passed". Each window now ends the day after its own
subject's newest message (the user's, or of all messages for the totals), and the rule
``case-without-rows`` flags a case meant to have rows that returned none.
"""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest

from chatschema.plans.params import RANGE_DAYS, data_points
from chatschema.plans.render import covered
from chatschema.plans.verify import connect, verify_database
from chatschema.queries import by_name

ANALYTICS = [*by_name("user_daily_counts.optimized"), *by_name("daily_totals.optimized")]
REFRESH = ("REFRESH MATERIALIZED VIEW user_daily_messages", "REFRESH MATERIALIZED VIEW daily_message_totals")


@pytest.fixture()
def clone(seeded_plans, new_database):
    return new_database("windows", template=seeded_plans.settings)


def shift(conn: psycopg.Connection, interval: str, where: str = "true", params: dict | None = None) -> None:
    """Move the messages (and their conversations' activity) selected by ``where`` by ``interval``."""
    conn.execute(f"UPDATE messages SET created_at = created_at + interval '{interval}' WHERE {where}", params)
    conn.execute(f"UPDATE conversations SET last_activity_at = last_activity_at + interval '{interval}' "
                 f"WHERE id IN (SELECT conversation_id FROM messages WHERE {where})", params)


def verified(info: str):
    with connect(info) as conn:
        conn.execute("VACUUM ANALYZE")
    results, data = verify_database(info, ANALYTICS, analyze=True, scratch=True, modes=("custom",))
    return {r.name: r for r in results}, data


def test_each_analytics_case_reads_a_window_with_its_data(clone):
    # The longest conversation two years in the past: a window following it holds nobody else's messages.
    with psycopg.connect(clone.dsn, autocommit=True) as conn:
        longest = data_points(conn).ids.longest_conversation_id
        shift(conn, "-2 years", "conversation_id = %(c)s", {"c": longest})
        for statement in REFRESH:
            conn.execute(statement)
        typical = data_points(conn).ids.typical_user_id
        newest = conn.execute("SELECT max(m.created_at AT TIME ZONE 'UTC')::date FROM messages m JOIN conversations c "
                              "ON c.id = m.conversation_id WHERE c.user_id = %s", (typical,)).fetchone()[0]
    results, data = verified(clone.dsn)
    assert data.window(typical) == {"since": newest + timedelta(days=1 - RANGE_DAYS), "until": newest + timedelta(days=1)}
    for result in results.values():
        cases = [c for c in result.checks if c.expects_rows]
        assert cases and all(c.rows_returned and c.rows_returned > 0 for c in cases), covered(result)
        assert result.passed, [f.message for f in result.findings]
    # The report says what each case covered; the idle user's empty answer is named as meant.
    line = covered(results["user_daily_counts.optimized"])
    assert line.startswith("rows per case: heaviest user, 30 days ")
    assert line.endswith("; user with no conversations, 30 days 0 (meant to be empty)")


def test_a_case_that_selects_nothing_is_a_finding_not_a_pass(clone):
    # The twin: messages two years on and the views never refreshed since. The windows follow the
    # messages; the views hold none of those days, so the optimized analytics return nothing.
    with psycopg.connect(clone.dsn, autocommit=True) as conn:
        shift(conn, "2 years")
    results, _ = verified(clone.dsn)
    for name in ("user_daily_counts.optimized", "daily_totals.optimized"):
        found = [f for f in results[name].findings if f.rule == "case-without-rows"]
        assert not results[name].passed and found, covered(results[name])
    [first, *_] = [f for f in results["user_daily_counts.optimized"].findings if f.rule == "case-without-rows"]
    assert first.message == (
        "user daily counts (optimized) returned no rows for the case 'heaviest user, 30 days': its parameters "
        "select nothing, so the plan and its figures say nothing about a request that has data")
    cases = {f.case for f in results["user_daily_counts.optimized"].findings if f.rule == "case-without-rows"}
    assert cases == {"heaviest user, 30 days", "typical user, 30 days"}  # never the case meant to be empty
