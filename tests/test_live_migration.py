"""Migrating a database that is serving traffic: writers keep sending, readers keep listing.

The rollout follows docs/design.md (tests/live_traffic.py): the application inserts plain rows
until 0003 has added the summary columns, then switches to the catalog's one-statement send
(which keeps the summaries), and only then does 0004 backfill. Afterwards every acknowledged message is there, every summary is
exact, and no writer waited longer than the lock timeout plus a margin.
"""

from __future__ import annotations

from dataclasses import replace

import psycopg
import pytest

from chatschema import migrate
from chatschema.check import check

from .live_traffic import READERS, WRITERS, p99, upgrade_under_traffic
from .populate import populate, summary_mismatches

LOCK_TIMEOUT_MS = 1000
MARGIN_S = 2.0  # a 2-core CI machine runs PostgreSQL, the migration and eight clients at once


@pytest.mark.timeout(180)
def test_upgrade_under_traffic_loses_nothing_keeps_summaries_exact_and_never_stalls_writers(
    new_database, capsys: pytest.CaptureFixture[str]
):
    settings = replace(new_database("live"), lock_timeout_ms=LOCK_TIMEOUT_MS, retry_delay_ms=100,
                       backfill_batch_size=500)
    migrate.upgrade(settings, "0001")
    with psycopg.connect(settings.dsn) as conn:
        populate(conn)
    live = upgrade_under_traffic(settings, quiet_s=0.5)
    traffic = live.traffic
    assert traffic.errors == []
    chain = [r.revision for r in migrate.history()]
    assert [r.revision for r in live.applied] == chain[chain.index("0004"):]

    with psycopg.connect(settings.dsn) as conn:
        present = conn.execute("SELECT count(*) FROM messages WHERE id = ANY(%s)", (traffic.acked,)).fetchone()[0]
        assert present == len(traffic.acked)
        assert summary_mismatches(conn) == 0
    assert check(settings)[2] == []

    during, reads = live.during, live.reads_during
    assert len(during) > 100 and reads
    bound = LOCK_TIMEOUT_MS / 1000 + MARGIN_S
    assert max(during) <= bound, f"a writer waited {max(during):.2f}s"
    assert max(reads) <= bound, f"a reader waited {max(reads):.2f}s"
    with capsys.disabled():
        print(f"\n[live migration 0001->head, {len(traffic.acked)} acknowledged writes, {WRITERS} writers, "
              f"{READERS} readers, {live.ended - live.began:.1f}s] writers p99 {p99(during) * 1000:.1f} ms, "
              f"max {max(during) * 1000:.0f} ms; readers p99 {p99(reads) * 1000:.1f} ms; "
              f"lock warnings/retries: {len(live.warnings)}")
