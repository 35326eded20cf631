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
