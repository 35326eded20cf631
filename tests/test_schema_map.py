"""docs/schema.md's map: the Mermaid ER diagram comes from the models, the index -> queries map from
the contracts (catalog and app teams' query files); each check has a twin that changes the input
and sees the output follow."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from chatschema import models
from chatschema.docs.er import er_diagram, index_map, index_map_lines
from chatschema.queries import all_queries
from chatschema.queries.files import load_file

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "queries"
SCHEMA_MD = Path(__file__).resolve().parent.parent / "docs" / "schema.md"


def test_the_diagram_has_every_table_column_and_foreign_key():
    text = "\n".join(er_diagram(models.metadata))
    assert text.startswith("```mermaid\nerDiagram") and text.endswith("```")
    for table in models.metadata.sorted_tables:
        assert f"    {table.name} {{" in text
        for col in table.columns:
            assert f" {col.name}" in text
    assert '    users ||--o{ conversations : "user_id"' in text
    assert '    conversations ||--o{ messages : "user_id, conversation_id"' in text
    assert "        uuid conversation_id FK" in text and "        uuid id PK" in text
    assert '        uuid last_message_id "null"' in text
    assert "\n".join(er_diagram(models.metadata)) in SCHEMA_MD.read_text(encoding="utf-8")


def test_a_new_table_and_key_show_up_in_the_diagram():
    md = sa.MetaData()
    sa.Table("users", md, sa.Column("id", sa.Uuid, primary_key=True))
    sa.Table("attachments", md, sa.Column("id", sa.Uuid, primary_key=True),
             sa.Column("owner_id", sa.Uuid, sa.ForeignKey("users.id"), nullable=True))
    text = "\n".join(er_diagram(md))
    assert '    users |o--o{ attachments : "owner_id"' in text  # a nullable key: zero or one owner
    assert '        uuid owner_id FK "null"' in text
    assert "conversations" not in text


def test_every_index_a_contract_names_maps_to_its_queries():
    found = index_map(all_queries())
    assert ("list_conversations.optimized", ("user_id", "last_activity_at", "id"), "") in \
        found["ix_conversations_user_activity"]
    assert {name for name, _, _ in found["ix_messages_conversation_recent"]} == {
        "load_messages.optimized", "conversation_view.optimized", "catch_up.optimized",
        "export_messages.optimized"}


def test_an_app_teams_query_file_joins_the_map():
    app = load_file(EXAMPLES / "recent_messages.sql")
    before = index_map(all_queries())["ix_messages_conversation_recent"]
    after = index_map([*all_queries(), app])["ix_messages_conversation_recent"]
    assert after == [*before, ("recent_messages.app", ("conversation_id", "created_at", "id"), "")]


def test_an_index_no_contract_names_is_said_so_and_a_dropped_one_is_marked():
    lines = index_map_lines(all_queries(), ["users_pkey", "ix_messages_conversation_recent"])
    assert "| `users_pkey` | – | | named by no contract |" in lines
    assert any(line.startswith("| `ix_messages_conversation_id` | `load_messages.today`")
               and "not in the schema at head" in line for line in lines)
    assert not any("ix_messages_conversation_recent" in line and "not in the schema" in line for line in lines)


def _docs(*args: str):
    from click.testing import CliRunner

    from chatschema.cli import main

    return CliRunner().invoke(main, ["docs", *args], catch_exceptions=False)


def test_docs_with_an_app_teams_queries_maps_their_indexes(tmp_path):
    done = _docs("--out", str(tmp_path), "--queries", str(EXAMPLES))
    assert done.exit_code == 0, done.output
    text = (tmp_path / "schema.md").read_text(encoding="utf-8")
    recent_index = next(line for line in text.splitlines() if line.startswith("| `ix_messages_conversation_recent` |"))
    assert "`recent_messages.app`" in recent_index and "`assistant_replies_by_offset.app`" in recent_index
    assert "|  | `recent_messages.app` | conversation_id, created_at, id |  |" in text
    assert f"the `.app` queries are the query files in {EXAMPLES.as_posix()}" in text
    assert _docs("--out", str(tmp_path), "--queries", str(EXAMPLES), "--check").exit_code == 0


def test_docs_without_queries_leave_them_out_and_check_sees_the_difference(tmp_path):
    """The twin: the committed map (no --queries) names no app query, and --check tells the two apart."""
    assert _docs("--out", str(tmp_path)).exit_code == 0
    text = (tmp_path / "schema.md").read_text(encoding="utf-8")
    assert ".app`" not in text and "`chatschema docs --queries DIR` adds an app team's query files" in text
    assert text == SCHEMA_MD.read_text(encoding="utf-8")
    stale = _docs("--out", str(tmp_path), "--queries", str(EXAMPLES), "--check")
    assert stale.exit_code == 1 and f"✗ {tmp_path / 'schema.md'} is stale" in stale.output


def test_docs_with_a_bad_query_file_is_one_line_and_exit_2(tmp_path):
    queries = tmp_path / "queries"
    queries.mkdir()
    (queries / "bad.sql").write_text("-- chatschema-query: bad\n-- page-rows: many\nSELECT 1;\n", encoding="utf-8")
    done = _docs("--out", str(tmp_path / "docs"), "--queries", str(queries))
    assert done.exit_code == 2 and done.output.startswith("Error: ") and done.output.count("\n") == 1, done.output
    assert "bad.sql:2" in done.output
