"""`chatschema lint --citus`: what Citus would refuse, read from a database that is not on Citus yet."""

from __future__ import annotations

import psycopg
import pytest
from click.testing import CliRunner

from chatschema import migrate
from chatschema.citus.readiness import query_blockers, schema_blockers
from chatschema.cli import main
from chatschema.queries import Query, load_messages, send_message, send_message_citus
from dataclasses import replace


def lint_citus(settings):
    return CliRunner().invoke(main, ["lint", "--citus", "--dsn", settings.dsn], catch_exceptions=False)


@pytest.fixture(scope="module")
def at_0007(new_database):
    settings = new_database("citus_0007")
    migrate.upgrade(settings, "0007")
    return settings


@pytest.fixture()
def at_head(new_database):
    settings = new_database("citus_head")
    migrate.upgrade(settings, "head")
    return settings


def blocker_names(settings) -> list[tuple[str, str]]:
    with psycopg.connect(settings.dsn) as conn:
        return [(b.kind, b.subject) for b in schema_blockers(conn)]


def test_at_0007_each_blocker_is_named(at_0007):
    assert blocker_names(at_0007) == [
        ("key", "conversations_pkey"),
        ("column", "messages"),
        ("foreign-key", "messages_conversation_id_fkey"),
        ("materialized-view", "user_daily_messages"),
    ]
    result = lint_citus(at_0007)
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0] == ("✗ key conversations_pkey: primary key of conversations (id) does not contain user_id "
                        "(revisions 0012 and 0015) [Citus refuses]")
    assert lines[1] == ("✗ column messages: has no user_id column to distribute by (revision 0009 adds "
                        "messages.user_id) [Citus refuses]")
    assert lines[-1].startswith("✗ 4 blockers to distributing ")


def test_between_the_revisions_the_remaining_blockers_are_named(new_database):
    settings = new_database("citus_0011")
    migrate.upgrade(settings, "0011")
    assert blocker_names(settings) == [
        ("key", "conversations_pkey"),
        ("column", "messages"),  # user_id still allows NULL: 0013 makes it NOT NULL
        ("key", "messages_pkey"),
        ("trigger", "chatschema_messages_fill_user_id"),
        ("foreign-key", "messages_conversation_id_fkey"),
        ("materialized-view", "user_daily_messages"),
    ]


def test_at_head_nothing_blocks(at_head):
    assert blocker_names(at_head) == []
    result = lint_citus(at_head)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("✓ ")


def test_a_trigger_or_a_unique_index_without_user_id_at_head_is_named(at_head):
    with psycopg.connect(at_head.dsn, autocommit=True) as conn:
        conn.execute("CREATE UNIQUE INDEX ux_messages_id ON messages (id)")
        conn.execute("CREATE FUNCTION app_noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$")
        conn.execute("CREATE TRIGGER app_audit BEFORE UPDATE ON conversations FOR EACH ROW EXECUTE FUNCTION app_noop()")
    names = blocker_names(at_head)
    assert ("key", "ux_messages_id") in names
    assert ("trigger", "app_audit") in names
    result = lint_citus(at_head)
    assert result.exit_code == 1
    assert ("✗ key ux_messages_id: unique index of messages (id) does not contain user_id (revisions 0012 and 0015) "
            "[Citus refuses]") in result.output.splitlines()


def test_every_hot_catalog_query_pins_the_owner():
    assert query_blockers() == []


def test_a_query_that_reads_messages_without_the_owner_is_named():
    q = load_messages.OPTIMIZED
    unpinned = replace(q, sql=q.sql.replace("      AND user_id = %(user_id)s\n", ""),
                       params=("conversation_id", "before_at", "before_id", "limit", "user_id"))
    found = query_blockers([unpinned])
    assert [str(b) for b in found] == [
        "query load_messages.optimized: FROM messages without user_id = %(user_id)s: on Citus it runs on every shard "
        "instead of the owner's one"]
    s = send_message.OPTIMIZED
    no_owner = replace(s, sql=s.sql.replace("INSERT INTO messages (id, user_id,", "INSERT INTO messages (id,")
                       .replace("%(message_id)s, conv.user_id,", "%(message_id)s,"))
    assert [b.subject for b in query_blockers([no_owner])] == ["send_message.optimized"]
    # the delegated send's statements are read too: the call itself names no table
    d = send_message_citus.CITUS
    stored = d.delegated[-1]
    unpinned_read = replace(stored, sql=stored.sql.replace("   AND m.user_id = %(user_id)s\n", ""),
                            params=stored.params[:-1])
    found = query_blockers([replace(d, delegated=(*d.delegated[:-1], unpinned_read))])
    assert [str(b) for b in found] == [
        "query send_message.citus: FROM messages without user_id = %(user_id)s: on Citus it runs on every shard "
        "instead of the owner's one"]
    assert query_blockers([d]) == []


def test_distribute_refuses_a_database_without_citus(at_head):
    result = CliRunner().invoke(main, ["distribute", "--dry-run", "--dsn", at_head.dsn], catch_exceptions=False)
    assert result.exit_code == 2
    assert result.output.strip() == ("Error: the citus extension is not installed in this database (CREATE EXTENSION "
                                     "citus, on a coordinator with its workers added); nothing was distributed")


def test_check_names_a_recorded_distribution_the_database_does_not_have(at_head):
    from chatschema.check import check
    from chatschema.citus.distribute import CREATE_RECORD

    assert check(at_head)[2] == []
    with psycopg.connect(at_head.dsn, autocommit=True) as conn:
        conn.execute(CREATE_RECORD)
        conn.execute("INSERT INTO chatschema_distribution (table_name, distribution_column, shard_count) "
                     "VALUES ('messages', 'user_id', 32)")
    assert check(at_head)[2] == [
        "Citus layout: messages recorded as distributed (chatschema_distribution), but the citus extension is "
        "not installed"]
