"""chatschema seed: deterministic, skewed data at any revision, loaded set-based, refused where it would clobber."""

from __future__ import annotations

import re

import psycopg
import pytest
from click.testing import CliRunner

from chatschema import migrate
from chatschema.check import compare_schema
from chatschema.cli import main
from chatschema.errors import ChatSchemaError, ConfigError, LockTimeout, UnknownRevision
from chatschema.seed import SCALES, interesting_ids, load, seed_database

from .populate import checksums, summary_mismatches

SUMMARIES = (
    "SELECT md5(string_agg(id::text || last_activity_at::text || message_count || coalesce(last_message_id::text, '-')"
    " || coalesce(last_message_preview, '-'), ',' ORDER BY id)) FROM conversations"
)


# Every index and constraint of the three tables, as PostgreSQL prints it: what the load drops and
# builds again must come back exactly, whether the load succeeds or fails.
DEFINITIONS = """
SELECT 'index', c.relname, i.indisprimary, i.indisvalid, pg_get_indexdef(i.indexrelid)
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
 WHERE i.indrelid = ANY('{users,conversations,messages}'::regclass[])
UNION ALL
SELECT 'constraint', conname, condeferrable, convalidated, conrelid::regclass::text || ' ' || pg_get_constraintdef(oid)
  FROM pg_constraint
 WHERE conrelid = ANY('{users,conversations,messages}'::regclass[])
"""


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def definitions(dsn: str) -> set[tuple]:
    with psycopg.connect(dsn) as conn:
        return set(conn.execute(DEFINITIONS).fetchall())


def schema_differences(dsn: str) -> list[str]:
    """What ``chatschema check`` would report against the models (only meaningful at head)."""
    engine = migrate.engine_for(dsn)
    try:
        with engine.connect() as conn:
            return [str(d) for d in compare_schema(conn)]
    finally:
        engine.dispose()


def fingerprint(dsn: str, *, summaries: bool = True) -> dict[str, tuple]:
    with psycopg.connect(dsn) as conn:
        found = checksums(conn)
        if summaries:
            found["summaries"] = tuple(conn.execute(SUMMARIES).fetchone())
        return found


def scalar(conn: psycopg.Connection, query: str, params: object = None):
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0]


@pytest.fixture(scope="module")
def tiny(new_database):
    """One database at head seeded at the 'tiny' scale, shared by the read-only tests."""
    settings = new_database("seed_tiny")
    migrate.upgrade(settings)
    report = seed_database(settings.dsn, scale="tiny")
    return settings.dsn, report


def test_report_counts_and_revision(tiny):
    dsn, report = tiny
    scale = SCALES["tiny"]
    assert (report.scale, report.seed, report.revision) == ("tiny", 42, migrate.head())
    assert (report.users, report.conversations, report.messages) == (scale.users, scale.conversations, scale.messages)
    assert report.seconds > 0 and report.messages_per_second == pytest.approx(report.messages / report.seconds)
    assert [name for name, _ in report.phases] == [
        "plan", "users and conversations", "messages", "indexes and constraints", "settle"]
    with psycopg.connect(dsn) as conn:
        assert scalar(conn, "SELECT count(*) FROM users") == scale.users
        assert scalar(conn, "SELECT count(*) FROM conversations") == scale.conversations
        assert scalar(conn, "SELECT count(*) FROM messages") == scale.messages


def test_skew_has_a_whale_idle_users_and_empty_conversations(tiny):
    dsn, report = tiny
    ids = report.interesting
    with psycopg.connect(dsn) as conn:
        assert ids == interesting_ids(conn)
        per_user = [r[0] for r in conn.execute("SELECT count(*) FROM conversations GROUP BY user_id ORDER BY 1")]
        assert ids.heaviest_user_conversations == max(per_user) >= 5 * ids.typical_user_conversations
        assert scalar(conn, "SELECT count(*) FROM users u WHERE NOT EXISTS "
                            "(SELECT 1 FROM conversations c WHERE c.user_id = u.id)") >= 2
        assert scalar(conn, "SELECT count(*) FROM conversations WHERE user_id = %s", (ids.idle_user_id,)) == 0
        empty = scalar(conn, "SELECT count(*) FROM conversations c WHERE NOT EXISTS "
                             "(SELECT 1 FROM messages m WHERE m.conversation_id = c.id)")
        assert 0.03 * report.conversations < empty < 0.15 * report.conversations
        assert scalar(conn, "SELECT message_count FROM conversations WHERE id = %s", (ids.empty_conversation_id,)) == 0
    assert ids.longest_conversation_messages == round(SCALES["tiny"].messages * SCALES["tiny"].longest_share)
    assert ids.longest_conversation_messages >= 50 * ids.typical_conversation_messages


def test_orderings_need_their_tie_breaker(tiny):
    """A user message and its reply share a timestamp; a bulk import stamped whole conversations at once."""
    dsn, _ = tiny
    with psycopg.connect(dsn) as conn:
        tied = scalar(conn, "SELECT sum(n) FROM (SELECT count(*) AS n FROM messages GROUP BY conversation_id, created_at"
                            " HAVING count(*) > 1) t")
        assert tied > 0.5 * scalar(conn, "SELECT count(*) FROM messages")
        assert scalar(conn, "SELECT count(*) FROM (SELECT 1 FROM conversations GROUP BY user_id, last_activity_at"
                            " HAVING count(*) > 1) t") > 0
        imported = scalar(conn, "SELECT count(*) FROM (SELECT 1 FROM messages GROUP BY conversation_id"
                                " HAVING count(*) > 2 AND min(created_at) = max(created_at)) t")
        assert imported > 0


def test_content_roles_and_times_look_like_chat(tiny):
    dsn, _ = tiny
    with psycopg.connect(dsn) as conn:
        shortest, longest, over_btree_limit = conn.execute(
            "SELECT min(length(content)), max(length(content)), count(*) FILTER (WHERE octet_length(content) > 2700)"
            " FROM messages").fetchone()
        assert shortest <= 5 and longest >= 5000 and over_btree_limit > 0
        roles = dict(conn.execute("SELECT role, count(*) FROM messages GROUP BY role").fetchall())
        assert set(roles) == {"system", "user", "assistant", "tool"}
        assert 0.4 < roles["user"] / sum(roles.values()) < 0.6
        assert roles["tool"] < roles["system"] + roles["assistant"] < roles["user"] * 1.1
        assert scalar(conn, "SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id"
                            " WHERE m.created_at < c.created_at") == 0
        days = scalar(conn, "SELECT extract(day FROM max(created_at) - min(created_at)) FROM conversations")
        assert days > 150


def test_summaries_views_and_statistics_are_settled(tiny):
    dsn, _ = tiny
    with psycopg.connect(dsn) as conn:
        assert summary_mismatches(conn) == 0
        conn.execute("UPDATE conversations SET last_message_preview = 'stale' WHERE id = "
                     "(SELECT id FROM conversations WHERE message_count > 0 ORDER BY id LIMIT 1)")
        assert summary_mismatches(conn) == 1  # the check can fail
        conn.rollback()
        assert scalar(conn, "SELECT sum(messages) FROM user_daily_messages") == SCALES["tiny"].messages
        assert scalar(conn, "SELECT sum(messages) FROM daily_message_totals") == SCALES["tiny"].messages
        vacuumed = dict(conn.execute(
            "SELECT relname, last_vacuum IS NOT NULL AND last_analyze IS NOT NULL FROM pg_stat_user_tables").fetchall())
        assert all(vacuumed[t] for t in ("users", "conversations", "messages"))
        pages, visible = conn.execute(
            "SELECT relpages, relallvisible FROM pg_class WHERE oid = 'messages'::regclass").fetchone()
        assert pages > 0 and visible == pages


def test_messages_lie_in_the_heap_in_time_order(tiny):
    """Loaded in time order, so a conversation's messages are scattered over the heap as in production."""
    dsn, _ = tiny
    with psycopg.connect(dsn) as conn:
        assert scalar(conn, "SELECT count(*) FROM (SELECT created_at < lag(created_at) OVER (ORDER BY ctid) AS back"
                            " FROM messages) t WHERE back") == 0
        assert scalar(conn, "SELECT count(DISTINCT conversation_id) FROM (SELECT conversation_id FROM messages"
                            " ORDER BY ctid LIMIT 100) t") > 10


def test_indexes_and_constraints_come_back_as_they_were(tiny, new_database):
    """The load drops them and builds them again: the definitions are the migrations' own."""
    dsn, _ = tiny
    fresh = new_database("seed_fresh")
    migrate.upgrade(fresh)
    assert definitions(dsn) == definitions(fresh.dsn)
    assert schema_differences(dsn) == []
    with psycopg.connect(dsn) as conn:
        kinds = dict(conn.execute(
            "SELECT contype, count(*) FROM pg_constraint WHERE conrelid = 'messages'::regclass GROUP BY 1").fetchall())
        assert kinds["p"] == 1 and kinds["f"] == 1 and kinds["c"] == 2  # ck_messages_role, ck_messages_created_at_finite


def test_same_seed_same_bytes_whatever_the_chunking(new_database, monkeypatch):
    """Every value is a function of (seed, row number): chunk size and session count change nothing."""
    one, two, other = (new_database(f"seed_det_{n}") for n in range(3))
    for settings in (one, two, other):
        migrate.upgrade(settings)
    seed_database(one.dsn, scale="tiny", messages=3000, seed=7)
    monkeypatch.setattr(load, "CHUNK_MESSAGES", 97)
    monkeypatch.setattr(load, "CHUNK_CONVERSATIONS", 13)
    monkeypatch.setattr(load, "LOAD_SESSIONS", 1)
    seed_database(two.dsn, scale="tiny", messages=3000, seed=7)
    seed_database(other.dsn, scale="tiny", messages=3000, seed=8)
    assert fingerprint(one.dsn) == fingerprint(two.dsn)
    theirs = fingerprint(other.dsn)
    assert all(theirs[table] != mine for table, mine in fingerprint(one.dsn).items())


def test_works_at_todays_schema_and_the_backfill_agrees(new_database):
    """At 0001 the same rows are generated; upgrading then backfills exactly the summaries seeded at head."""
    today, head = new_database("seed_0001"), new_database("seed_head")
    migrate.upgrade(today, "0001")
    migrate.upgrade(head)
    report = seed_database(today.dsn, scale="tiny", messages=2000)
    assert report.revision == "0001" and report.messages == 2000
    with psycopg.connect(today.dsn) as conn:
        assert interesting_ids(conn) == report.interesting  # counted from messages: no summary columns
    seed_database(head.dsn, scale="tiny", messages=2000)
    assert fingerprint(today.dsn, summaries=False) == fingerprint(head.dsn, summaries=False)
    migrate.upgrade(today)
    assert fingerprint(today.dsn) == fingerprint(head.dsn)


def test_refuses_a_database_with_rows_unless_replace(new_database):
    settings = new_database("seed_again")
    migrate.upgrade(settings, "0002")
    seed_database(settings.dsn, scale="tiny", messages=1000)
    before = fingerprint(settings.dsn, summaries=False)
    with pytest.raises(ConfigError) as refused:
        seed_database(settings.dsn, scale="tiny", messages=1000, seed=9)
    assert re.fullmatch(
        r".+ already has data \(20 users, 80 conversations, 1,000\+ messages\); seeding needs empty tables\. "
        r"Pass --replace to delete every row first \(TRUNCATE users CASCADE\)\.",
        str(refused.value),
    )
    assert fingerprint(settings.dsn, summaries=False) == before
    report = seed_database(settings.dsn, scale="tiny", messages=1000, replace=True)
    assert report.messages == 1000 and fingerprint(settings.dsn, summaries=False) == before


def test_refuses_a_database_chatschema_never_migrated(new_database):
    settings = new_database("seed_bare")
    with pytest.raises(ConfigError, match=r"has no chatschema tables to seed; run `chatschema upgrade` first "
                                          r"\(any revision from 0001 on\)$"):
        seed_database(settings.dsn, scale="tiny")


def test_refuses_a_revision_it_does_not_know(new_database):
    settings = new_database("seed_future")
    migrate.upgrade(settings, "0001")
    with psycopg.connect(settings.dsn) as conn:
        conn.execute("UPDATE chatschema_version SET version_num = '9f9f'")
    with pytest.raises(UnknownRevision, match="revision '9f9f', which this version of chatschema does not know"):
        seed_database(settings.dsn, scale="tiny")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scale": "huge"}, "--scale: expected one of tiny, ci, bench, large, got 'huge'"),
        ({"messages": 99}, "--messages: expected a whole number from 100 to 100000000, got 99"),
        ({"seed": -1}, "--seed: expected a whole number from 0 to 1099511627775, got -1"),
        ({"lock_timeout_ms": -5}, "--lock-timeout: expected a duration of 0 ms or more, got -5"),
    ],
    ids=["unknown scale", "too few messages", "negative seed", "negative lock timeout"],
)
def test_bad_arguments_are_rejected_before_connecting(kwargs, message):
    with pytest.raises(ConfigError) as rejected:
        seed_database("host=/nonexistent dbname=nothing", **kwargs)
    assert str(rejected.value) == message


def test_lock_timeout_bounds_the_wait_for_the_tables(new_database):
    """Every session gets ``lock_timeout_ms``: a reader holding users makes the seed give up, and
    without it the same seed goes through."""
    settings = new_database("seed_locked")
    migrate.upgrade(settings)
    with psycopg.connect(settings.dsn) as reader:
        reader.execute("LOCK TABLE users IN ACCESS SHARE MODE")
        with pytest.raises(LockTimeout, match=r"^lock_timeout expired while seeding .+ Nothing was seeded\. "
                                              r"Re-run when it ends, or raise --lock-timeout\.$"):
            seed_database(settings.dsn, scale="tiny", messages=1000, lock_timeout_ms=100)
    assert seed_database(settings.dsn, scale="tiny", messages=1000, lock_timeout_ms=100).messages == 1000


def test_cli_passes_its_lock_timeout_to_the_seed(new_database):
    settings = new_database("seed_cli_locked")
    migrate.upgrade(settings)
    with psycopg.connect(settings.dsn) as reader:
        reader.execute("LOCK TABLE messages IN ACCESS SHARE MODE")
        result = run("seed", "--scale", "tiny", "--messages", "1000", "--lock-timeout", "100ms", "--dsn", settings.dsn)
    assert result.exit_code == 2 and "Error: lock_timeout expired while seeding " in result.output
    with psycopg.connect(settings.dsn) as conn:
        assert scalar(conn, "SELECT count(*) FROM users") == 0


def refuse_messages(dsn: str) -> None:
    """Make every load of messages fail, after users and conversations went in."""
    with psycopg.connect(dsn) as conn:
        conn.execute("CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                     "$$ BEGIN RAISE EXCEPTION 'no messages today'; END $$")
        conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON messages FOR EACH STATEMENT EXECUTE FUNCTION refuse()")


@pytest.mark.parametrize("revision", ["0001", "head"])
def test_a_failed_load_leaves_the_tables_empty_and_the_schema_as_it_was(new_database, revision):
    settings = new_database(f"seed_fails_{revision}")
    migrate.upgrade(settings, revision)
    refuse_messages(settings.dsn)
    before = definitions(settings.dsn)
    with pytest.raises(ChatSchemaError, match=r"failed: no messages today; nothing was seeded$"):
        seed_database(settings.dsn, scale="tiny", messages=1000)
    with psycopg.connect(settings.dsn) as conn:
        assert scalar(conn, "SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM conversations)") == 0
    assert definitions(settings.dsn) == before
    if revision == "head":
        assert schema_differences(settings.dsn) == []
    with psycopg.connect(settings.dsn, autocommit=True) as conn:
        key = "messages_conversation_id_fkey" if revision == "0001" else "fk_messages_conversation_owner"
        conn.execute(f"ALTER TABLE messages DROP CONSTRAINT {key}")
    assert definitions(settings.dsn) != before  # the comparison can fail


def test_a_failed_replace_keeps_the_rows_it_was_replacing(new_database):
    """TRUNCATE is part of the load's transaction: a load that fails takes nothing away."""
    settings = new_database("seed_fails_replace")
    migrate.upgrade(settings)
    seed_database(settings.dsn, scale="tiny", messages=1000)
    before = fingerprint(settings.dsn)
    refuse_messages(settings.dsn)
    with pytest.raises(ChatSchemaError, match=r"failed: no messages today; nothing was seeded$"):
        seed_database(settings.dsn, scale="tiny", messages=2000, seed=3, replace=True)
    assert fingerprint(settings.dsn) == before
    assert schema_differences(settings.dsn) == []


def test_loads_around_what_it_cannot_rebuild_exactly(new_database):
    """A foreign key from another table keeps the tables from being truncated alone (so no COPY FREEZE)
    and keeps messages_pkey in place; a commented index stays too: the same rows, settled, all the same."""
    plain, hindered = new_database("seed_plain"), new_database("seed_hindered")
    for settings in (plain, hindered):
        migrate.upgrade(settings)
    with psycopg.connect(hindered.dsn) as conn:
        conn.execute("CREATE TABLE attachments (message_id uuid, user_id uuid, "
                     "FOREIGN KEY (message_id, user_id) REFERENCES messages (id, user_id))")
        conn.execute("COMMENT ON INDEX ix_messages_conversation_recent IS 'keeps the message page fast'")
    before = definitions(hindered.dsn)
    seed_database(plain.dsn, scale="tiny", messages=2000)
    seed_database(hindered.dsn, scale="tiny", messages=2000)
    assert fingerprint(hindered.dsn) == fingerprint(plain.dsn)
    assert definitions(hindered.dsn) == before
    with psycopg.connect(hindered.dsn) as conn:
        assert summary_mismatches(conn) == 0
        assert scalar(conn, "SELECT obj_description('ix_messages_conversation_recent'::regclass, 'pg_class')") == (
            "keeps the message page fast")
        # Unfrozen, the rows leave VACUUM the work; the empty pages COPY extended the table by
        # ahead of need stay out of the visibility map, but every page that holds a row is in it.
        visible = scalar(conn, "SELECT relallvisible FROM pg_class WHERE oid = 'messages'::regclass")
        assert visible == scalar(conn, "SELECT count(DISTINCT (ctid::text::point)[0]) FROM messages") > 0


@pytest.mark.slow
def test_ci_scale_has_the_whale_and_the_long_conversation_plans_need(new_database):
    settings = new_database("seed_ci")
    migrate.upgrade(settings)
    report = seed_database(settings.dsn, scale="ci")
    assert report.messages == 200_000
    assert report.interesting.heaviest_user_conversations >= 10_000
    assert report.interesting.longest_conversation_messages >= 50_000
    assert 10 <= report.interesting.typical_user_conversations <= 60


def test_cli_seeds_then_refuses_to_seed_again(new_database):
    settings = new_database("seed_cli")
    migrate.upgrade(settings)
    result = run("seed", "--scale", "tiny", "--messages", "1500", "--dsn", settings.dsn)
    assert result.exit_code == 0, result.output
    assert re.match(
        rf"Seeded \S+ at revision {migrate.head()} \(scale tiny, seed 42\): 20 users, 120 conversations, 1,500 messages "
        r"in [\d.]+ s \([\d,]+ messages/s; [\d,]+/s while loading messages\)\.\n"
        r"  heaviest user +[0-9a-f-]{36} \(\d+ conversations\)\n",
        result.output.lstrip(),  # the transient progress bar leaves a newline on a non-terminal
    )
    result = run("seed", "--scale", "tiny", "--dsn", settings.dsn)
    assert result.exit_code == 2
    assert result.output.startswith("Error: ") and result.output.rstrip().endswith(
        "Pass --replace to delete every row first (TRUNCATE users CASCADE).")
    result = run("seed", "--messages", "10", "--dsn", settings.dsn)
    assert (result.exit_code, result.output.strip()) == (
        2, "Error: --messages: expected a whole number from 100 to 100000000, got 10")


def test_cli_help_and_scale_choices():
    result = run("seed", "--help")
    assert result.exit_code == 0 and "Example:" in result.output
    assert "[tiny|ci|bench|large]" in result.output and list(SCALES) == ["tiny", "ci", "bench", "large"]


def _with_app_tables(new_database):
    """A seeded database beside an application's tables: audit_log refers to users, audit_note to audit_log."""
    settings = new_database("seed_app_tables")
    migrate.upgrade(settings)
    seed_database(settings.dsn, scale="tiny", messages=1000)
    with psycopg.connect(settings.dsn) as conn:
        conn.execute("CREATE TABLE audit_log (id int PRIMARY KEY, user_id uuid REFERENCES users (id))")
        conn.execute("INSERT INTO audit_log SELECT row_number() OVER (), id FROM users LIMIT 5")
        conn.execute("CREATE TABLE audit_note (id int PRIMARY KEY, log_id int CONSTRAINT fk_note_log REFERENCES audit_log)")
        conn.execute("INSERT INTO audit_note VALUES (1, 1), (2, 2), (3, 3)")
    return settings


def app_rows(dsn: str) -> tuple[int, int]:
    with psycopg.connect(dsn) as conn:
        return scalar(conn, "SELECT count(*) FROM audit_log"), scalar(conn, "SELECT count(*) FROM audit_note")


def test_replace_refuses_to_empty_an_applications_tables(new_database):
    settings = _with_app_tables(new_database)
    before = fingerprint(settings.dsn)
    done = run("seed", "--scale", "tiny", "--messages", "1000", "--seed", "9", "--replace", "--dsn", settings.dsn)
    assert done.exit_code == 2
    assert done.output.count("\n") == 1 and "Traceback" not in done.output
    assert re.fullmatch(
        r"Error: --replace would also empty audit_log \(foreign key audit_log_user_id_fkey -> users\), audit_note "
        r"\(foreign key fk_note_log -> audit_log\) in .+: TRUNCATE \.\.\. CASCADE empties every table whose foreign "
        r"key refers to chatschema's tables, and chatschema does not own these\. Nothing was changed\. To empty them "
        r"too, pass --also-truncate audit_log --also-truncate audit_note\n",
        done.output,
    )
    assert app_rows(settings.dsn) == (5, 3) and fingerprint(settings.dsn) == before
    # Naming one of the two is not enough: the other would still be emptied unnamed.
    with pytest.raises(ConfigError, match=r"^--replace would also empty audit_note \(foreign key fk_note_log"):
        seed_database(settings.dsn, scale="tiny", messages=1000, seed=9, replace=True, also_truncate=["audit_log"])
    assert app_rows(settings.dsn) == (5, 3) and fingerprint(settings.dsn) == before


def test_replace_empties_the_applications_tables_it_is_told_to(new_database):
    """The twin: with every reached table named, the replace goes ahead and empties exactly those."""
    settings = _with_app_tables(new_database)
    with psycopg.connect(settings.dsn) as conn:
        conn.execute("CREATE TABLE unrelated (id int PRIMARY KEY)")
        conn.execute("INSERT INTO unrelated VALUES (1)")
    done = run("seed", "--scale", "tiny", "--messages", "1000", "--seed", "9", "--replace",
               "--also-truncate", "audit_log", "--also-truncate", "audit_note", "--dsn", settings.dsn)
    assert done.exit_code == 0, done.output
    assert app_rows(settings.dsn) == (0, 0)
    with psycopg.connect(settings.dsn) as conn:
        assert scalar(conn, "SELECT count(*) FROM unrelated") == 1
        assert scalar(conn, "SELECT count(*) FROM messages") == 1000


def test_also_truncate_names_only_tables_the_cascade_reaches(new_database):
    settings = _with_app_tables(new_database)
    with psycopg.connect(settings.dsn) as conn:
        conn.execute("CREATE TABLE unrelated (id int PRIMARY KEY)")
    with pytest.raises(ConfigError, match=r"^--also-truncate unrelated: no foreign key of it refers to users, "
                                          r"conversations or messages, so --replace has no reason to empty it"):
        seed_database(settings.dsn, scale="tiny", messages=1000, replace=True,
                      also_truncate=["audit_log", "audit_note", "unrelated"])
    with pytest.raises(ConfigError, match=r"^--also-truncate nosuch: no such table; nothing was changed$"):
        seed_database(settings.dsn, scale="tiny", messages=1000, replace=True, also_truncate=["nosuch"])
    with pytest.raises(ConfigError, match=r"^--also-truncate empties tables only with --replace"):
        seed_database(settings.dsn, scale="tiny", messages=1000, also_truncate=["audit_log"])
    assert app_rows(settings.dsn) == (5, 3)
