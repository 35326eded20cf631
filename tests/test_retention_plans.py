"""The bulk deletes keep plan contracts: every statement of a batch costs O(batch), through the indexes.

Retention and delete-conversation run four statements per batch (``retention.STATEMENTS``). Each has a
contract (``retention.CONTRACTS``) checked like a catalog query's, custom, generic and capability-probe
plans, with EXPLAIN ANALYZE in a transaction rolled back, on the session's seeded database (50,000
messages): the heaviest conversation's oldest messages, the first conversations holding messages
older than the median message after the middle of
the conversations (a later batch of the run). The twin drops the message index and sees the contract fail by name.
"""

from __future__ import annotations

import psycopg
import pytest

from chatschema import retention
from chatschema.testing import failure_message, plan_check

N, K = 500, 50  # messages per batch; conversations per batch, a small share of the table as in production


def cases(info: str) -> dict[str, dict]:
    with psycopg.connect(info) as conn:
        longest = conn.execute("SELECT conversation_id FROM messages GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
                               ).fetchone()[0]
        cutoff = conn.execute("SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY created_at) FROM messages").fetchone()[0]
        # a later batch of the run: the keyset continues after the middle of the conversations
        middle = conn.execute("SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY id) FROM conversations").fetchone()[0]
        ids = [r[0] for r in conn.execute(retention.STATEMENTS["candidates"],
                                          {"after": middle, "cutoff": cutoff, "k": K}).fetchall()]
    assert len(ids) == K
    return {
        "delete_batch": {"cid": longest, "n": N},
        "candidates": {"after": middle, "cutoff": cutoff, "k": K},
        "delete_old": {"ids": ids, "cutoff": cutoff, "n": N},
        "resummarize": {"ids": ids, "ns": [1] * K},
    }


@pytest.mark.parametrize("name", list(retention.STATEMENTS))
def test_each_batch_statement_keeps_its_contract(seeded_plans, name):
    params = cases(seeded_plans.info)[name]
    result = plan_check(seeded_plans.info, retention.STATEMENTS[name], params, retention.CONTRACTS[name](N, K))
    assert result.passed, failure_message(result)


def test_twin_without_the_message_index_the_batch_delete_fails_naming_it(seeded_plans, new_database):
    copy = new_database("retention_plans_twin", template=seeded_plans.settings)
    with psycopg.connect(copy.dsn, autocommit=True) as conn:
        conn.execute("DROP INDEX ix_messages_conversation_recent")
    name = "delete_batch"
    result = plan_check(copy.dsn, retention.STATEMENTS[name], cases(copy.dsn)[name], retention.CONTRACTS[name](N, K))
    assert not result.passed
    assert "ix_messages_conversation_recent" in failure_message(result)
