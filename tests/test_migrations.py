"""The migration chain: every revision up and down, on a populated database, losing nothing."""

from __future__ import annotations

import psycopg
import pytest

from chatschema import backfill, migrate
from chatschema.check import check

from .populate import checksums, populate, summary_mismatches

REVISIONS = [r.revision for r in migrate.history()]


@pytest.fixture(scope="module")
def populated(new_database):
    settings = new_database("populated")
    migrate.upgrade(settings, "0001")
    with psycopg.connect(settings.dsn) as conn:
        populate(conn)
        before = checksums(conn)
    return settings, before


def test_chain_is_linear_and_named():
    assert REVISIONS == ["0001", "0002", "0003", "0004", "0005", "0006", "0007"]
    assert all(r.title and r.doc for r in migrate.history())


def test_up_down_up_loses_nothing_and_summaries_are_exact(populated):
    settings, before = populated
    migrate.upgrade(settings, "head")
    with psycopg.connect(settings.dsn) as conn:
        assert checksums(conn) == before
        assert summary_mismatches(conn) == 0
        assert conn.execute("SELECT count(*) FROM conversations WHERE message_count > 0").fetchone()[0] > 0
    assert check(settings)[2] == []

    migrate.downgrade(settings, "0001")
    with psycopg.connect(settings.dsn) as conn:
        assert checksums(conn) == before
        columns = {r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'conversations'")}
        assert columns == {"id", "user_id", "title", "created_at", "updated_at"}
        indexes = {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")}
        assert indexes == {"users_pkey", "conversations_pkey", "messages_pkey", "alembic_version_pkc",
                           "ix_conversations_user_id", "ix_messages_conversation_id"}

    migrate.upgrade(settings, "head")
    with psycopg.connect(settings.dsn) as conn:
        assert checksums(conn) == before
        assert summary_mismatches(conn) == 0


@pytest.mark.parametrize("revision", REVISIONS, ids=lambda r: f"rev{r}")
def test_each_revision_goes_down_and_up_again(new_database, revision):
    settings = new_database(f"step{revision}")
    migrate.upgrade(settings, revision)
    parent = next(r.down_revision for r in migrate.history() if r.revision == revision) or "base"
    down = migrate.downgrade(settings, parent)
    assert [r.revision for r in down] == [revision]
    assert migrate.current(settings) == (None if parent == "base" else parent)
    up = migrate.upgrade(settings, revision)
    assert [r.revision for r in up] == [revision]


def test_summary_columns_are_added_without_a_table_rewrite(populated, new_database):
    settings = new_database("rewrite")
    migrate.upgrade(settings, "0002")
    with psycopg.connect(settings.dsn) as conn:
        populate(conn, users=20, conversations=200, messages=2000)
        node = conn.execute("SELECT pg_relation_filenode('conversations')").fetchone()[0]
    migrate.upgrade(settings, "0003")
    with psycopg.connect(settings.dsn) as conn:
        assert conn.execute("SELECT pg_relation_filenode('conversations')").fetchone()[0] == node


def test_backfill_stopped_half_way_resumes_and_ends_exact(new_database):
    settings = new_database("resume")
    migrate.upgrade(settings, "0001")
    with psycopg.connect(settings.dsn) as conn:
        populate(conn, users=50, conversations=1000, messages=8000)
    migrate.upgrade(settings, "0003")
    with psycopg.connect(settings.dsn, autocommit=True) as conn:
        first = backfill.run(conn, batch_size=100, stop_after_batches=3)
        assert first == 300
        done, finished = conn.execute(
            "SELECT rows_done, finished_at FROM chatschema_backfill WHERE name = %s", (backfill.NAME,)).fetchone()
        assert (done, finished) == (300, None)
        assert summary_mismatches(conn) > 0  # the rest is not done yet
    # the revision itself resumes from the checkpoint rather than starting over
    seen: list[int] = []
    migrate.upgrade(settings, "0004", progress=lambda name, n, total: seen.append(n))
    assert seen == [1000]  # one batch of the remaining 700, counted on from 300
    with psycopg.connect(settings.dsn) as conn:
        assert summary_mismatches(conn) == 0
        assert conn.execute("SELECT rows_done FROM chatschema_backfill").fetchone()[0] == 1000
