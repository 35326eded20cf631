"""`chatschema lint`: our chain passes; each deliberately bad migration fails with its own finding,
pointing at the revision's file and line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from chatschema import migrate, server
from chatschema.cli import main
from chatschema.errors import MigrationFailed

BAD = str(Path(__file__).parent / "bad_migrations")
BAD_VERSIONS = Path(BAD) / "versions"


def run(*args: str):
    return CliRunner().invoke(main, ["lint", *args], catch_exceptions=False)


def lint_json(*args: str) -> tuple[int, dict]:
    result = run("--format", "json", *args)
    return result.exit_code, json.loads(result.output)


def line_of(filename: str, text: str) -> int:
    """The 1-based line of the first source line containing ``text``."""
    lines = (BAD_VERSIONS / filename).read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


def test_our_chain_passes_with_every_exception_explained():
    result = run("--pg-version", "15")
    assert result.exit_code == 0, result.output
    last = re.sub(r"squawk \d+\.\d+\.\d+", "squawk X.Y.Z", result.output.strip().splitlines()[-1])
    assert last == (f"✓ {len(migrate.history())} revisions (upgrade and downgrade): no findings (squawk X.Y.Z "
                    f"--pg-version 15 and chatschema's checks); 65 suppressed with a reason")
    code, report = lint_json("--pg-version", "15")
    assert code == 0 and report["findings"] == []
    assert all(len(f["reason"]) > 20 for f in report["suppressed"])
    assert {(f["revision"], f["rule"]) for f in report["suppressed"]} == {
        ("0001", "prefer-text-field"), ("0001", "ban-drop-table"), ("0003", "prefer-bigint-over-int"),
        ("0003", "ban-drop-column"), ("0003", "ban-drop-constraint"), ("0004", "ban-drop-table"),
        ("0007", "require-concurrent-index-creation"), ("0007", "ban-drop-view"), ("0008", "ban-drop-constraint"),
        ("0009", "ban-drop-column"), ("0009", "ban-drop-constraint"), ("0009", "ban-drop-function"),
        ("0013", "adding-not-nullable-field"), ("0013", "ban-drop-constraint"), ("0013", "ban-drop-not-null"),
        ("0015", "adding-foreign-key-constraint"), ("0015", "adding-serial-primary-key-field"),
        ("0015", "ban-drop-constraint"), ("0015", "ban-drop-function"), ("0015", "constraint-missing-not-valid"),
        ("0015", "require-concurrent-index-creation"), ("0016", "ban-drop-view"),
        ("0016", "require-concurrent-index-creation"), ("0017", "ban-drop-view"), ("0017", "renaming-object"),
        ("0017", "require-concurrent-index-creation"),
    }


def test_the_clean_base_of_the_bad_chain_passes():
    result = run("--script-location", BAD, "b000")
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1].startswith("✓ 1 revision (upgrade and downgrade): no findings")


# (revision, file, {(rule, direction, the source text its line holds)}) — exactly the findings expected
CASES = [
    ("b001", "b001_plain_index.py", {("require-concurrent-index-creation", "upgrade", "op.create_index(")}),
    # squawk also sees the ALTER that autocommit_block commits early (its Alembic-aware prefer-robust-stmts)
    ("b002", "b002_concurrently_mixed.py", {
        ("concurrently-in-mixed-revision", "upgrade", "create_index_concurrently("),
        ("prefer-robust-stmts", "upgrade", "ADD COLUMN archived_at"),
        ("concurrently-in-mixed-revision", "downgrade", "drop_index_concurrently("),
    }),
    ("b003", "b003_backfill_in_ddl.py", {("backfill-in-ddl-revision", "upgrade", "UPDATE conversations")}),
    ("b004", "b004_partial_view_key.py", {("matview-refresh-key", "upgrade", "WHERE n > 0")}),
    ("b005", "b005_expression_view_key.py", {("matview-refresh-key", "upgrade", "(lower(role))")}),
    ("b008", "b008_ignore_without_reason.py", {
        ("ignore-without-reason", None, "# chatschema-lint: ignore ban-drop-column"),
        ("ban-drop-column", "upgrade", "DROP COLUMN created_at"),
    }),
    ("b009", "b009_unused_ignore.py", {("unused-ignore", None, "# chatschema-lint: ignore ban-drop-table")}),
]


@pytest.mark.parametrize(("revision", "filename", "expected"), CASES, ids=[c[0] for c in CASES])
def test_each_bad_migration_fails_with_its_finding_at_its_line(revision, filename, expected):
    code, report = lint_json("--script-location", BAD, "--pg-version", "15", revision)
    assert code == 1
    got = {(f["rule"], f["direction"], f["line"]) for f in report["findings"]}
    want = {(rule, direction, line_of(filename, text)) for rule, direction, text in expected}
    assert got == want
    assert {Path(f["path"]).name for f in report["findings"]} == {filename}
    assert all(f["revision"] == revision for f in report["findings"])
    assert all(f["hint"] for f in report["findings"] if f["source"] == "chatschema")


def test_text_output_names_file_line_rule_and_revision():
    result = run("--script-location", BAD, "b003")
    assert result.exit_code == 1
    first = result.output.splitlines()[0]
    line = line_of("b003_backfill_in_ddl.py", "UPDATE conversations")
    assert first.startswith(
        f"✗ tests/bad_migrations/versions/b003_backfill_in_ddl.py:{line}: backfill-in-ddl-revision [chatschema] "
        "(revision b003 upgrade): a data backfill (UPDATE conversations SET message_count = "
    )
    assert "which also changes the schema (ALTER TABLE conversations ADD COLUMN message_count bigint at line" in first
    assert result.output.strip().splitlines()[-1].startswith("✗ 1 finding in 1 revision (upgrade and downgrade)")


def test_unknown_revision_is_a_usage_error():
    result = run("--script-location", BAD, "b999")
    assert result.exit_code == 2
    assert result.output.strip().startswith("Error: unknown revision 'b999'; known revisions are b000, b001")


@pytest.fixture()
def bad_database(new_database):
    settings = new_database("badchain")
    migrate.upgrade(settings, "b005", location=BAD)
    with psycopg.connect(settings.dsn) as conn:
        conn.execute("INSERT INTO users VALUES ('00000000-0000-0000-0000-000000000001', 'has no conversation')")
    return settings


def test_a_view_keyed_on_a_nullable_column_is_found_only_with_the_database(bad_database):
    migrate.upgrade(bad_database, "b006", location=BAD)
    code, report = lint_json("--script-location", BAD, "--pg-version", "15", "b006")
    assert (code, report["findings"]) == (0, [])  # the text cannot show it
    code, report = lint_json("--script-location", BAD, "--dsn", bad_database.dsn, "b006")
    assert code == 1
    # the views of b004 and b005 are in this database too; each is reported with its own reason
    assert [(f["rule"], f["source"], f["message"]) for f in report["findings"]] == [
        ("matview-refresh-key", "database", "materialized view conversation_sizes: no unique index a concurrent "
                                            "refresh can use: ux_conversation_sizes is partial (WHERE)"),
        ("matview-refresh-key", "database", "materialized view role_counts: no unique index a concurrent refresh can "
                                            "use: ux_role_counts is on an expression"),
        ("matview-refresh-key", "database", "materialized view user_conversations: key column(s) user_id, "
                                            "conversation_id of ux_user_conversations contain NULLs: every concurrent "
                                            "refresh deletes and re-inserts those rows"),
    ]
    assert report["notes"] == ["model drift not checked: the models describe chatschema's own chain"]


def test_a_failed_unique_build_leaves_an_invalid_index_that_lint_reports(bad_database):
    migrate.upgrade(bad_database, "b006", location=BAD)
    with psycopg.connect(bad_database.dsn) as conn:
        conn.execute("INSERT INTO conversations VALUES ('00000000-0000-0000-0000-0000000000c1', "
                     "'00000000-0000-0000-0000-000000000001')")
        conn.execute("INSERT INTO messages (id, conversation_id, role) SELECT gen_random_uuid(), "
                     "'00000000-0000-0000-0000-0000000000c1', 'user' FROM generate_series(1, 2)")
    with pytest.raises(MigrationFailed) as failed:
        migrate.upgrade(bad_database, "b007", location=BAD)
    assert str(failed.value).startswith("revision b007 failed: could not create unique index \"ux_messages_role\"")
    code, report = lint_json("--script-location", BAD, "--dsn", bad_database.dsn, "b007")
    assert code == 1
    assert [(f["rule"], f["message"]) for f in report["findings"] if f["rule"] != "matview-refresh-key"] == [(
        "invalid-index",
        "ux_messages_role on messages is INVALID: CREATE UNIQUE INDEX ux_messages_role ON public.messages "
        "USING btree (role)",
    )]


def test_index_shape_drift_is_found_with_the_database_and_a_matching_one_passes(new_database):
    settings = new_database("lintdrift")
    migrate.upgrade(settings)
    code, report = lint_json("--dsn", settings.dsn, "0007")
    assert (code, report["findings"], report["notes"]) == (0, [], [])
    with psycopg.connect(settings.dsn, autocommit=True) as conn:
        conn.execute("DROP INDEX ix_conversations_user_activity")
        conn.execute("CREATE INDEX ix_conversations_user_activity ON conversations (user_id, last_activity_at DESC)")
    code, report = lint_json("--dsn", settings.dsn, "0007")
    assert code == 1
    assert [(f["rule"], f["source"]) for f in report["findings"]] == [("index-shape-drift", "database")]
    assert report["findings"][0]["message"] == (
        "index ix_conversations_user_activity differs: database has CREATE INDEX ix_conversations_user_activity "
        "ON conversations USING btree (user_id, last_activity_at DESC); models say CREATE INDEX "
        "ix_conversations_user_activity ON conversations USING btree (user_id, last_activity_at DESC, id DESC)"
    )
    assert report["pg_version"] == str(server.server_version(settings.dsn))
