"""The `chatschema` pytest plugin, run as an app team runs it (pytester, the plugin loaded from its
`pytest11` entry point): the seeded session database, copies for tests that write, and the plan
assertion, each passing case beside a failing twin. The inner suite uses the outer suite's server
through DATABASE_URL and a small seed (--chatschema-messages)."""

from __future__ import annotations

import re
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from chatschema import migrate

HEAD = migrate.head()

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "queries"

APP_TESTS = textwrap.dedent(f'''
    import psycopg
    from chatschema.queries.contract import Contract, IndexUse

    GOOD = {str(EXAMPLES / "recent_messages.sql")!r}
    BAD = {str(EXAMPLES / "assistant_replies_by_offset.sql")!r}
    KEYSET = """
    SELECT id, title FROM conversations
    WHERE user_id = %(user_id)s AND (last_activity_at, id) < (%(at)s::timestamptz, %(id)s::uuid)
    ORDER BY last_activity_at DESC, id DESC LIMIT %(limit)s
    """
    BY_TITLE = """
    SELECT id, title FROM conversations
    WHERE user_id = %(user_id)s ORDER BY title LIMIT 21
    """
    CONTRACT = Contract(page_rows=21, max_rows_read=21, uses=(IndexUse(
        "ix_conversations_user_activity", "conversations", cond=("user_id", "last_activity_at", "id")),))


    def _heaviest(dsn):
        with psycopg.connect(dsn) as conn:
            return conn.execute(
                "SELECT user_id FROM conversations GROUP BY user_id ORDER BY count(*) DESC, user_id LIMIT 1"
            ).fetchone()[0]


    def test_catalog_query_passes(chatschema_assert_plan):
        result = chatschema_assert_plan("load_messages.optimized")
        assert result.passed and result.checks


    def test_catalog_query_fails(chatschema_assert_plan):
        chatschema_assert_plan("load_messages.today")


    def test_query_file_passes(chatschema_assert_plan):
        chatschema_assert_plan(GOOD)


    def test_query_file_fails(chatschema_assert_plan):
        chatschema_assert_plan(BAD)


    def test_sql_passes(chatschema_assert_plan, chatschema_database):
        params = {{"user_id": _heaviest(chatschema_database.dsn), "at": "infinity",
                  "id": "ffffffff-ffff-ffff-ffff-ffffffffffff", "limit": 21}}
        chatschema_assert_plan(KEYSET, params, CONTRACT)


    def test_sql_fails(chatschema_assert_plan, chatschema_database):
        chatschema_assert_plan(BY_TITLE, {{"user_id": _heaviest(chatschema_database.dsn)}}, CONTRACT)


    def _users(dsn):
        with psycopg.connect(dsn) as conn:
            return conn.execute("SELECT count(*) FROM users").fetchone()[0]


    def test_seeded_at_head(chatschema_database):
        assert chatschema_database.seed.messages == 20000
        with psycopg.connect(chatschema_database.dsn) as conn:
            assert conn.execute("SELECT version_num FROM chatschema_version").fetchone()[0] == "{HEAD}"


    def test_a_write_stays_in_its_copy_1(chatschema_writable_database, chatschema_database):
        before = _users(chatschema_database.dsn)
        with psycopg.connect(chatschema_writable_database.dsn) as conn:
            conn.execute("INSERT INTO users (id, name) VALUES (gen_random_uuid(), 'written by a test')")
        assert _users(chatschema_writable_database.dsn) == before + 1
        assert _users(chatschema_database.dsn) == before


    def test_a_write_stays_in_its_copy_2(chatschema_writable_database):
        with psycopg.connect(chatschema_writable_database.dsn) as conn:
            found = conn.execute("SELECT count(*) FROM users WHERE name = 'written by a test'").fetchone()[0]
        assert found == 0, "the first test's write leaked into the next copy"


    def test_a_write_to_the_session_database_leaks(chatschema_database):
        # The twin: writing to the shared database (not a copy) is seen by every later copy.
        with psycopg.connect(chatschema_database.dsn) as conn:
            conn.execute("INSERT INTO users (id, name) VALUES (gen_random_uuid(), 'leaked')")


    def test_the_leak_is_seen_by_the_next_copy(chatschema_writable_database):
        with psycopg.connect(chatschema_writable_database.dsn) as conn:
            found = conn.execute("SELECT count(*) FROM users WHERE name = 'leaked'").fetchone()[0]
        assert found == 0, "leaked into the copy"
''')


def test_the_plugin_is_registered_as_chatschema():
    [ep] = [e for e in entry_points(group="pytest11") if e.name == "chatschema"]
    assert ep.value == "chatschema.pytest_plugin"


@pytest.fixture
def inner(pytester, pg_server, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", pg_server.admin)
    pytester.makepyfile(test_app=APP_TESTS)
    return pytester


def test_an_app_suite_passes_and_fails_where_it_should(inner):
    result = inner.runpytest_subprocess("--chatschema-messages", "20000", "-p", "no:cacheprovider", "-q")
    outcomes = result.parseoutcomes()
    failed = {line.split("::")[1].split(" ")[0] for line in result.outlines
              if line.startswith("FAILED test_app.py::")}
    assert failed == {"test_catalog_query_fails", "test_query_file_fails", "test_sql_fails",
                      "test_the_leak_is_seen_by_the_next_copy"}, result.stdout.str()
    assert outcomes["passed"] == 7 and outcomes["failed"] == 4
    out = result.stdout.str()
    # the validator's findings are the failure message
    assert "plan contract of load_messages.today broken:" in out
    assert "plan contract of assistant_replies_by_offset.app broken:" in out
    assert "rows-read-bound [longest conversation, deep page]" in out
    assert "plan contract of sql.app broken:" in out and "sort-above-page" in out


def test_a_bad_scale_fails_the_session_with_one_line(inner):
    result = inner.runpytest_subprocess("--chatschema-scale", "huge", "-p", "no:cacheprovider", "-q",
                                        "-k", "test_seeded_at_head")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*chatschema: cannot build the seeded database: *huge*"])
    assert "Traceback" not in result.stdout.str()


def test_a_plan_assertion_on_too_few_messages_fails_with_one_line(inner):
    """Plans on a few pages mean nothing: the planner rightly scans. The twin is the suite above, at 20,000."""
    result = inner.runpytest_subprocess("--chatschema-scale", "tiny", "-p", "no:cacheprovider", "-q",
                                        "-k", "test_catalog_query_passes")
    outcomes = result.parseoutcomes()
    assert (outcomes.get("passed"), outcomes.get("failed")) == (None, 1), result.stdout.str()
    result.stdout.fnmatch_lines(["*chatschema: --chatschema-scale tiny seeds 5,000 messages, too few for a plan "
                                 "assertion: it needs at least 10,000 messages*Use --chatschema-scale ci, or "
                                 "--chatschema-messages 10000 or more*"])
    assert "Traceback" not in result.stdout.str()


GUARDED = textwrap.dedent('''
    import psycopg
    import sqlalchemy as sa


    def test_an_indexed_page(chatschema_database):
        conversation = chatschema_database.seed.interesting.longest_conversation_id
        with psycopg.connect(chatschema_database.dsn) as conn:
            for _ in range(2):
                conn.execute("SELECT id, role FROM messages WHERE conversation_id = %s "
                             "ORDER BY created_at DESC, id DESC LIMIT 21", (conversation,)).fetchall()
''')

UNDECLARED = textwrap.dedent('''

    def test_a_search_nobody_declared(chatschema_database):
        engine = sa.create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(chatschema_database.dsn))
        with engine.connect() as conn:
            for _ in range(3):
                conn.execute(sa.text("SELECT id FROM messages WHERE content LIKE :pattern "
                                     "ORDER BY created_at DESC LIMIT 21"), {"pattern": "%fox%"}).fetchall()
        engine.dispose()
''')


def _guarded(pytester, source):
    pytester.makepyfile(test_guarded=source)
    return pytester.runpytest_subprocess("--chatschema-messages", "20000", "--chatschema-guard",
                                         "-p", "no:cacheprovider", "-q")


def test_the_guard_passes_indexed_statements(pytester, pg_server, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", pg_server.admin)
    result = _guarded(pytester, GUARDED)
    out = result.stdout.str()
    assert result.ret == 0, out
    assert "chatschema guard: 1 distinct statements planned, 0 with findings" in out


def test_the_guard_names_the_undeclared_slow_statement_once_with_its_test(pytester, pg_server, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", pg_server.admin)
    result = _guarded(pytester, GUARDED + UNDECLARED)
    out = result.stdout.str()
    assert result.ret == 1, out  # every test passed; the guard fails the session
    assert "2 passed" in out
    # SQLAlchemy's own first statements (its dialect's version checks) are planned too, and pass
    assert re.search(r"chatschema guard: \d+ distinct statements planned, 1 with findings", out), out
    assert out.count("✗ SELECT id FROM messages WHERE content LIKE") == 1
    assert "sent by test_guarded.py::test_a_search_nobody_declared (and 2 more times)" in out
    assert "seq-scan-on-hot-table: undeclared statement scans the whole messages table" in out


# --- growth: a read that grows with the table, measured against a quarter-size database ----------------

PAGE_BY_OFFSET = textwrap.dedent('''\
    -- chatschema-query: page_by_offset
    -- summary: The middle page of the longest conversation by OFFSET. Its own bounds are loose on
    --   purpose: only measuring it at two sizes shows that it costs more as the conversation grows.
    -- page-rows: 21
    -- uses: ix_messages_conversation_recent on messages (conversation_id)
    -- param conversation_id: longest conversation
    -- param limit: 21
    -- case longest conversation, deep page: offset = deep message offset
    SELECT m.id FROM messages m
    WHERE m.conversation_id = %(conversation_id)s
    ORDER BY m.created_at DESC, m.id DESC
    LIMIT %(limit)s OFFSET %(offset)s;
''')

GROWTH_TESTS = textwrap.dedent(f'''
    from pathlib import Path

    GOOD = {str(EXAMPLES / "recent_messages.sql")!r}
    OFFSET = str(Path(__file__).parent / "page_by_offset.sql")


    def test_offset_page_passes_without_growth(chatschema_assert_plan):
        assert chatschema_assert_plan(OFFSET, growth=False).passed


    def test_offset_page_fails_on_growth(chatschema_assert_plan):
        chatschema_assert_plan(OFFSET, growth=True)


    def test_keyset_page_passes_on_growth(chatschema_assert_plan, chatschema_small_database):
        result = chatschema_assert_plan(GOOD, growth=True)
        assert result.passed and result.growth is not None and result.growth.factor is not None
''')


def test_the_plan_assertion_fails_a_read_that_grows_with_the_table(pytester, pg_server, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", pg_server.admin)
    pytester.makefile(".sql", page_by_offset=PAGE_BY_OFFSET)
    pytester.makepyfile(test_growth=GROWTH_TESTS)
    result = pytester.runpytest_subprocess("--chatschema-messages", "40000", "-p", "no:cacheprovider", "-q")
    out = result.stdout.str()
    failed = {line.split("::")[1].split(" ")[0] for line in result.outlines if line.startswith("FAILED test_growth.py::")}
    assert failed == {"test_offset_page_fails_on_growth"}, out
    assert "plan contract of page_by_offset.app broken:" in out
    assert re.search(r"buffer-growth \[longest conversation, deep page\]: page by offset \(app\) grows with the "
                     r"table: [\d,]+ -> [\d,]+ buffers \(x\d\.\d\) while messages grew x4\.0", out), out


GROWING_READ = textwrap.dedent('''

    def test_a_count_nobody_declared(chatschema_database):
        conversation = chatschema_database.seed.interesting.longest_conversation_id
        with psycopg.connect(chatschema_database.dsn) as conn:
            conn.execute("SELECT count(*) FROM messages WHERE conversation_id = %s", (conversation,)).fetchone()
''')


def test_the_guard_with_growth_names_a_read_that_grows(pytester, pg_server, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", pg_server.admin)
    pytester.makepyfile(test_guarded=GUARDED + GROWING_READ)
    result = pytester.runpytest_subprocess("--chatschema-messages", "40000", "--chatschema-guard",
                                           "--chatschema-growth", "-p", "no:cacheprovider", "-q")
    out = result.stdout.str()
    assert result.ret == 1 and "2 passed" in out, out
    assert "chatschema guard: 2 distinct statements planned, 1 with findings" in out, out
    assert "✗ SELECT count(*) FROM messages WHERE conversation_id = %s" in out
    assert "sent by test_guarded.py::test_a_count_nobody_declared" in out
    assert re.search(r"buffer-growth: undeclared statement \(as sent\) grows with the table: [\d,]+ -> [\d,]+ "
                     r"buffers \(x\d\.\d\) while messages grew x4\.0", out), out


def test_the_guard_with_growth_passes_an_indexed_page(pytester, pg_server, monkeypatch):
    """The twin: the same guard and growth check, only the page read through the index."""
    monkeypatch.setenv("DATABASE_URL", pg_server.admin)
    pytester.makepyfile(test_guarded=GUARDED)
    result = pytester.runpytest_subprocess("--chatschema-messages", "40000", "--chatschema-guard",
                                           "--chatschema-growth", "-p", "no:cacheprovider", "-q")
    out = result.stdout.str()
    assert result.ret == 0, out
    assert "chatschema guard: 1 distinct statements planned, 0 with findings" in out
