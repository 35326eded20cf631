"""The query catalog: its shape, and the differential test of its variants on skewed data.

``today`` and ``seed_proposal`` run on a database at revision 0001; a copy of it upgraded to head
(which changes no data) is where ``optimized`` runs through the API (tests/conftest.py builds both once). Where a variant
is wrong, a test below shows exactly how.
"""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from dataclasses import astuple, dataclass
from datetime import date
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner

from chatschema import api
from chatschema import queries as catalog
from chatschema.queries import Query, Statement
from chatschema.queries.contract import Contract
from chatschema.errors import ConfigError, NotFound, UnknownQuery
from chatschema.vocabulary import PREVIEW_CHARS

from .skewed import Cases


# --- how the application runs today's and the proposal's SQL --------------------------------------

ALL = 1_000_000  # a LIMIT that returns everything


def rows(conn: psycopg.Connection, statement: Statement | Query, **values: Any) -> list[tuple[Any, ...]]:
    stmt = statement if isinstance(statement, Statement) else Statement(statement.sql, statement.params)
    return conn.execute(stmt.sql, stmt.bind(values)).fetchall()


def today_list(conn, user_id, *, limit=ALL, offset=0):
    """(id, title, created_at, message_count, last_activity_at, preview); the app cuts the preview in Python."""
    found = rows(conn, catalog.get("list_conversations", "today"), user_id=user_id, limit=limit, offset=offset)
    return [(r[0], r[1], r[2], r[4], r[5], r[6][:PREVIEW_CHARS] if r[6] is not None else None) for r in found]


def seed_list(conn, user_id, *, limit=ALL, offset=0):
    found = rows(conn, catalog.get("list_conversations", "seed_proposal"), user_id=user_id, limit=limit, offset=offset)
    # c.* is (id, user_id, title, created_at, updated_at), then count, last message time, preview
    return [(r[0], r[2], r[3], r[5], r[6] if r[6] is not None else r[3], r[7]) for r in found]


def today_load(conn, user_id, conversation_id, *, limit=ALL, offset=0, before=None):
    """Two round trips; ``before`` is accepted and ignored, as the endpoint does today."""
    query = catalog.get("load_messages", "today")
    if not rows(conn, query.preceding[0], user_id=user_id, conversation_id=conversation_id):
        raise NotFound("404")
    found = rows(conn, query, conversation_id=conversation_id, limit=limit, offset=offset)
    return [(r[0], r[2], r[3], r[4]) for r in found]


def seed_load(conn, user_id, conversation_id, *, limit=ALL - 1):
    found = rows(conn, catalog.get("load_messages", "seed_proposal"),
                 conversation_id=conversation_id, user_id=user_id, limit=limit)
    # m.* is (id, conversation_id, role, content, created_at), then c.user_id
    return [(r[0], r[2], r[3], r[4]) for r in found]


def today_view(conn, user_id, conversation_id):
    query = catalog.get("conversation_view", "today")
    conv = rows(conn, query.preceding[0], user_id=user_id, conversation_id=conversation_id)
    if not conv:
        raise NotFound("404")
    messages = rows(conn, query, conversation_id=conversation_id, limit=20)
    return (conv[0][0], conv[0][2], conv[0][3]), [(r[0], r[2], r[3], r[4]) for r in messages]


def seed_view(conn, user_id, conversation_id):
    """The proposal's Python: the first row gives the conversation, has_more = len(messages) == 20."""
    found = rows(conn, catalog.get("conversation_view", "seed_proposal"),
                 conversation_id=conversation_id, user_id=user_id, limit=20)
    if not found:
        raise NotFound("404")
    messages = [(r[5], r[7], r[8], r[9]) for r in found if r[5] is not None]
    return (found[0][0], found[0][2], found[0][3]), messages, len(messages) == 20


def today_send(conn, user_id, conversation_id, role, content):
    query = catalog.get("send_message", "today")
    verify, insert = query.preceding
    if not rows(conn, verify, user_id=user_id, conversation_id=conversation_id):
        raise NotFound("404")
    created = rows(conn, insert, message_id=uuid.uuid4(), conversation_id=conversation_id, role=role, content=content)
    conn.execute(query.sql, {"conversation_id": conversation_id})  # UPDATE ... SET updated_at = now()
    return created[0][0]


# --- optimized, through the API ----------------------------------------------------------------------


def api_list(conn, user_id, *, page=20):
    out, cursor = [], None
    while True:
        got = api.list_conversations(conn, user_id, limit=page, cursor=cursor)
        out += [(c.id, c.title, c.created_at, c.message_count, c.last_activity_at, c.last_message_preview)
                for c in got.items]
        if not got.has_more:
            return out
        cursor = got.next_cursor


def api_load(conn, user_id, conversation_id, *, page=100):
    out, before = [], None
    while True:
        got = api.load_messages(conn, user_id, conversation_id, limit=page, before=before)
        out += [(m.id, m.role, m.content, m.created_at) for m in got.items]
        if not got.has_more:
            return out
        before = got.next_cursor


def in_total_order(found, key):
    """Re-sort rows by the optimized order (key, id) descending, after checking that the rows were
    already in key order: only rows with equal keys, whose order the variant leaves unspecified, move."""
    keys = [key(r) for r in found]
    assert keys == sorted(keys, reverse=True), "not even ordered by its own sort key"
    return sorted(found, key=lambda r: (key(r), r[0]), reverse=True)


SINCE, UNTIL = date(2024, 1, 1), date(2027, 1, 1)


# --- the fixture: baseline at 0001, then the same database at head ------------------------------------


@dataclass(frozen=True)
class Skewed:
    dsn: str
    cases: Cases
    baseline: dict[tuple[str, str, Any], Any]
    # conversation -> the previews of all its messages that share its newest timestamp (when several do)
    tied_previews: dict[uuid.UUID, set[str]]


TIED_PREVIEWS = """
SELECT m.conversation_id, array_agg(left(m.content, 100))
FROM messages m
JOIN (SELECT conversation_id, max(created_at) AS newest FROM messages GROUP BY conversation_id) n
  ON n.conversation_id = m.conversation_id AND n.newest = m.created_at
GROUP BY m.conversation_id
HAVING count(*) > 1
"""


def _capture(conn: psycopg.Connection, cases: Cases) -> dict[tuple[str, str, Any], Any]:
    # A session time zone far from UTC: days must still be cut in UTC by every variant.
    conn.execute("SET TimeZone = 'Pacific/Kiritimati'")
    out: dict[tuple[str, str, Any], Any] = {}
    for user in cases.users:
        out["list", "today", user] = today_list(conn, user)
        out["list", "seed_proposal", user] = seed_list(conn, user)
        out["daily", "today", user] = rows(conn, catalog.get("user_daily_counts", "today"),
                                          user_id=user, since=SINCE, until=UNTIL)
    for owner, conv in cases.conversations:
        out["load", "today", conv] = today_load(conn, owner, conv)
        out["load", "seed_proposal", conv] = seed_load(conn, owner, conv)
        out["view", "today", conv] = today_view(conn, owner, conv)
        out["view", "seed_proposal", conv] = seed_view(conn, owner, conv)
    out["totals", "today", None] = rows(conn, catalog.get("daily_totals", "today"), since=SINCE, until=UNTIL)
    conn.rollback()
    return out


@pytest.fixture(scope="module")
def skewed(skewed_databases) -> Skewed:
    """The baseline read at 0001; ``dsn`` is the same rows at head. Both are the session's (read only)."""
    with psycopg.connect(skewed_databases.at_0001.dsn) as conn:
        baseline = _capture(conn, skewed_databases.cases)
        tied = {conv: set(previews) for conv, previews in conn.execute(TIED_PREVIEWS)}
        conn.rollback()
    return Skewed(skewed_databases.at_head.dsn, skewed_databases.cases, baseline, tied)


@pytest.fixture
def head(skewed):
    """A connection to the skewed database at head; whatever a test writes is rolled back."""
    with psycopg.connect(skewed.dsn) as conn:
        conn.execute("SET TimeZone = 'Pacific/Kiritimati'")
        yield conn
        conn.rollback()


# --- the catalog itself ------------------------------------------------------------------------------


def test_every_operation_has_today_and_optimized_and_the_plan_has_its_proposals():
    have = {(q.operation, q.variant) for q in catalog.all_queries()}
    for operation in catalog.OPERATIONS:
        assert {(operation, "today"), (operation, "optimized")} <= have
    assert {q.operation for q in catalog.all_queries() if q.variant == "seed_proposal"} == {
        "list_conversations", "load_messages", "conversation_view"}
    assert all(q.revision == ("head" if q.variant in catalog.DEPLOYED else "0001") for q in catalog.all_queries())
    assert all(isinstance(q.contract, Contract) for q in catalog.all_queries())


def test_round_trips_are_modelled_honestly():
    trips = {q.name: q.round_trips for q in catalog.all_queries()}
    assert trips["load_messages.today"] == 2
    assert trips["conversation_view.today"] == 2
    assert trips["send_message.today"] == 3
    assert all(n == 1 for name, n in trips.items() if name.endswith((".optimized", ".citus")))
    assert [q.name for q in catalog.all_queries() if q.writes] == ["send_message.today", "send_message.optimized",
                                                                   "send_message.citus"]


def test_optimized_sql_has_no_optional_predicates_and_is_always_scoped_by_user():
    """One SQL text per operation: no `IS NULL OR` (a generic plan would make it a filter), no OFFSET;
    every per-user query names user_id in the same statement (the ownership check, and Citus-shaped)."""
    for query in catalog.all_queries():
        if query.variant not in catalog.DEPLOYED:
            continue
        for statement in query.explained[:-1] if query.delegated else query.statements:
            sql = " ".join(statement.sql.split()).lower()
            assert " is null or " not in sql and "coalesce(%(" not in sql and " offset " not in sql, query.name
            if query.operation != "daily_totals":
                assert "user_id = %(user_id)s" in sql or "values (%(user_id)s" in sql, (query.name, statement.purpose)


def test_lookup_errors_name_what_exists():
    assert catalog.get("load_messages").variant == "optimized"
    with pytest.raises(UnknownQuery, match="send_message has no 'seed_proposal' variant; it has today, optimized"):
        catalog.get("send_message", "seed_proposal")
    with pytest.raises(UnknownQuery, match="unknown operation 'nope'") as caught:
        catalog.by_name("nope")
    assert isinstance(caught.value, ConfigError) and isinstance(caught.value, LookupError)
    assert str(caught.value).startswith("unknown operation 'nope'; operations are list_conversations, ")
    with pytest.raises(UnknownQuery, match="unknown operation 'nope'"):
        catalog.get("nope")
    assert [q.variant for q in catalog.by_name("list_conversations")] == ["today", "seed_proposal", "optimized"]


def test_a_query_whose_params_do_not_match_its_sql_is_refused():
    with pytest.raises(ValueError, match="not those of its SQL"):
        Statement("SELECT %(a)s, %(b)s", ("b", "a"))
    with pytest.raises(ValueError, match="round_trips=1 but it has 2 statements"):
        Query("load_messages", "today", "SELECT 1", (), "0001", Contract(page_rows=1),
              preceding=(Statement("SELECT 2", ()),))


def test_formatted_and_positional_sql():
    text = catalog.formatted_sql(catalog.get("load_messages", "today"))
    assert text.startswith("-- round trip 1: ownership check") and "-- round trip 2: result" in text
    sql, names = catalog.positional_sql(catalog.get("send_message").sql)
    assert names == catalog.get("send_message").params
    assert "%(" not in sql and sql.count("$1") == 2  # message_id, used twice, is one parameter


def test_send_statement_cuts_the_preview_where_the_constraint_does():
    [length] = re.findall(r"left\(%\(content\)s, (\d+)\)", catalog.get("send_message").sql)
    assert int(length) == PREVIEW_CHARS


def test_the_send_statement_follows_preview_chars():
    """The twin: the number in the SQL is PREVIEW_CHARS itself, not a second 100 that happens to agree."""
    code = ("import chatschema.vocabulary as v; v.PREVIEW_CHARS = 7; from chatschema import queries; "
            "print(queries.get('send_message').sql)")
    sql = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert "left(%(content)s, 7)" in sql


def test_cli_lists_and_shows_queries():
    from chatschema.cli import main

    result = CliRunner().invoke(main, ["queries", "list"], catch_exceptions=False)
    assert result.exit_code == 0
    assert "list_conversations" in result.output and "seed_proposal" in result.output
    result = CliRunner().invoke(main, ["queries", "show", "load_messages.optimized"], catch_exceptions=False)
    assert result.exit_code == 0 and "LEFT JOIN LATERAL" in result.output
    result = CliRunner().invoke(main, ["queries", "show", "nope"])
    assert result.exit_code == 2 and "Error: Invalid value for NAME: unknown operation 'nope'" in result.output
    assert "Example:" in CliRunner().invoke(main, ["queries", "show", "--help"]).output


# --- differential: the same rows in the same order ------------------------------------------------------


def without_tied_previews(found, tied):
    """The preview of a conversation whose newest timestamp is shared is one of those messages'
    previews, whichever a variant happens to pick (see the test below); compare everything else."""
    out = []
    for row in found:
        if row[0] in tied:
            assert row[5] in tied[row[0]]
            row = (*row[:5], "<one of the newest>")
        out.append(row)
    return out


def test_list_conversations_agree_for_every_user(skewed, head):
    by_activity = lambda r: r[4]  # noqa: E731
    for user in skewed.cases.users:
        ours = without_tied_previews(api_list(head, user, page=7 if user == skewed.cases.ties_user else 20),
                                     skewed.tied_previews)
        for variant in ("today", "seed_proposal"):
            theirs = without_tied_previews(skewed.baseline["list", variant, user], skewed.tied_previews)
            assert in_total_order(theirs, by_activity) == ours, (variant, user)
    # the data really is skewed: the whale's list is many pages, a typical user's one
    assert len(api_list(head, skewed.cases.heavy_users[0])) > 10 * max(
        len(api_list(head, user)) for user in skewed.cases.typical_users)
    assert all(api_list(head, user) == [] for user in skewed.cases.empty_users)


def test_load_messages_agree_for_every_conversation(skewed, head):
    by_time = lambda r: r[3]  # noqa: E731
    for owner, conv in skewed.cases.conversations:
        ours = api_load(head, owner, conv)
        assert in_total_order(skewed.baseline["load", "today", conv], by_time) == ours, conv
        if ours:  # seed_proposal is right only when there is something to return (see below)
            assert in_total_order(skewed.baseline["load", "seed_proposal", conv], by_time) == ours, conv
    assert len(api_load(head, *skewed.cases.longest[0])) > 50 * max(
        len(api_load(head, *case)) for case in skewed.cases.typical)


def test_conversation_view_agrees_for_every_conversation(skewed, head):
    by_time = lambda r: r[3]  # noqa: E731
    for owner, conv in skewed.cases.conversations:
        view = api.conversation_view(head, owner, conv)
        ours = [(m.id, m.role, m.content, m.created_at) for m in view.messages.items]
        header = (view.id, view.title, view.created_at)
        today_header, today_messages = skewed.baseline["view", "today", conv]
        seed_header, seed_messages, _ = skewed.baseline["view", "seed_proposal", conv]
        assert today_header == seed_header == header
        # a LIMIT without tie-breaker may cut a tie group differently: compare where it cannot
        cut = [m for m in ours if m[3] > ours[-1][3]] if ours else []
        for theirs in (today_messages, seed_messages):
            assert len(theirs) == len(ours)
            assert in_total_order(theirs, by_time)[: len(cut)] == cut


def test_analytics_agree_with_the_live_aggregates(skewed, head):
    for user in skewed.cases.users:
        ours = [astuple(d) for d in api.user_daily_counts(head, user, SINCE, UNTIL)]
        assert ours == [tuple(r) for r in skewed.baseline["daily", "today", user]], user
    ours = [astuple(d) for d in api.daily_totals(head, SINCE, UNTIL)]
    assert ours == [tuple(r) for r in skewed.baseline["totals", "today", None]]
    days = [d.day for d in api.user_daily_counts(head, skewed.cases.ties_user, date(2026, 4, 9), date(2026, 4, 21))]
    assert days == [date(2026, 4, d) for d in range(9, 20)]  # 23:59:59.999999 and 00:00 fall on two UTC days


# --- where the other variants are wrong ----------------------------------------------------------------


@pytest.fixture(scope="module")
def legacy(skewed_databases, new_database):
    """A copy of the data at revision 0001, for the variants that write or page while writing."""
    settings = new_database("legacy", template=skewed_databases.at_0001)
    return settings.dsn, skewed_databases.cases


def test_seed_proposal_cannot_tell_an_empty_conversation_from_someone_elses(skewed, head):
    owner, empty = skewed.cases.empty[0]
    other = next(u for u in skewed.cases.typical_users if u != owner)
    # the proposal: both answers are "no rows", so the API must either 404 an empty conversation
    # or return an empty page for someone else's
    assert skewed.baseline["load", "seed_proposal", empty] == []
    with psycopg.connect(skewed.dsn) as conn:  # same SQL, run at head
        assert seed_load(conn, other, empty) == []
    # optimized: an empty page for the owner, NotFound for anyone else
    assert api.load_messages(head, owner, empty).items == ()
    with pytest.raises(NotFound):
        api.load_messages(head, other, empty)


def test_today_load_messages_ignores_its_cursor(legacy):
    dsn, cases = legacy
    owner, conv = cases.longest[0]
    with psycopg.connect(dsn) as conn:
        first = today_load(conn, owner, conv, limit=10)
        before = first[-1][3]
        again = today_load(conn, owner, conv, limit=10, before=before)
        # the "older than before" page is the newest page again
        assert {m[0] for m in again} == {m[0] for m in first} and all(m[3] >= before for m in again)
    assert not {"before", "before_at", "before_id"} & set(catalog.get("load_messages", "today").all_params)


def test_seed_proposal_load_messages_has_no_cursor_at_all():
    assert catalog.get("load_messages", "seed_proposal").params == ("conversation_id", "user_id", "limit")


def test_seed_proposal_view_says_has_more_for_exactly_twenty_messages(skewed, head):
    owner, conv = skewed.cases.twenty
    _, messages, has_more = skewed.baseline["view", "seed_proposal", conv]
    assert len(messages) == 20 and has_more  # there is no 21st message
    view = api.conversation_view(head, owner, conv)
    assert len(view.messages.items) == 20 and not view.messages.has_more and view.messages.next_cursor is None


def test_today_and_seed_previews_pick_any_of_the_messages_sharing_the_newest_timestamp(skewed, head):
    """A user message and its reply are stored at one timestamp. `first_value(... ORDER BY created_at
    DESC)` and `ORDER BY created_at DESC LIMIT 1` may take either; ours is the newest by (created_at, id),
    the same message the list's last_message_id and load_messages' first row name."""
    user = skewed.cases.heavy_users[0]
    ours = {c.id: c for c in api.list_conversations(head, user, limit=100).items}
    tied = [conv for conv in ours if conv in skewed.tied_previews]
    assert len(tied) >= 5
    for conv in tied:
        newest = api.load_messages(head, user, conv, limit=1).items[0]
        assert (ours[conv].last_message_id, ours[conv].last_message_preview) == (newest.id, newest.content[:100])
        assert len(skewed.tied_previews[conv]) >= 2  # so the others' choice is the plan's, not the data's


def test_today_and_seed_orders_have_ties_that_offset_pages_may_split(skewed):
    """Their ORDER BY has no tie-breaker: rows with equal keys straddle page boundaries, and which of
    them lands on which page is up to the plan; ours orders by a unique key."""
    for variant in ("today", "seed_proposal"):
        found = skewed.baseline["list", variant, skewed.cases.ties_user]
        split = [i for i in range(20, len(found), 20) if found[i - 1][4] == found[i][4]]
        assert split, variant
    found = skewed.baseline["load", "today", skewed.cases.ties[1]]
    assert [i for i in range(10, len(found), 10) if found[i - 1][3] == found[i][3]]


def test_offset_pages_repeat_a_row_when_a_message_arrives_between_pages(legacy):
    """today (and the proposal, which pages the same way): a send between two OFFSET pages pushes the
    last row of page 1 onto page 2. Keyset pages cannot do this (tests/test_api.py)."""
    dsn, cases = legacy
    user = cases.heavy_users[0]
    owner, conv = cases.twenty  # its messages have timestamps of their own
    with psycopg.connect(dsn) as conn:
        top = today_list(conn, user, limit=21)
        assert len({r[4] for r in top}) == 21  # no ties here: the repeat below is OFFSET's doing alone
        page1 = top[:10]
        low = today_list(conn, user, limit=1, offset=40)[0]  # a conversation further down
        today_send(conn, user, low[0], "user", "bump")
        page2 = today_list(conn, user, limit=10, offset=10)
        assert page2[0][0] == page1[-1][0]

        messages1 = today_load(conn, owner, conv, limit=5)
        today_send(conn, owner, conv, "user", "new")
        messages2 = today_load(conn, owner, conv, limit=5, offset=5)
        assert messages2[0] == messages1[-1]
        conn.rollback()


def test_today_send_stamps_transaction_start_so_commit_order_and_time_order_disagree(legacy):
    """created_at = now() is when the transaction began: a message committed later can carry an earlier
    time, and a client that asked for 'newer than the newest I have' never sees it."""
    dsn, cases = legacy
    owner, conv = cases.twenty
    with psycopg.connect(dsn) as slow, psycopg.connect(dsn) as fast:
        slow.execute("SELECT 1")  # the transaction (and its now()) starts here
        fast_at = today_send(fast, owner, conv, "user", "fast")
        fast.commit()
        slow_at = today_send(slow, owner, conv, "user", "slow")
        slow.commit()
        assert slow_at < fast_at  # committed second, stamped first
        newest = today_load(slow, owner, conv, limit=1)[0]
        assert newest[2] == "fast"
        slow.execute("DELETE FROM messages WHERE content IN ('fast', 'slow') AND conversation_id = %s", (conv,))
        slow.commit()


def test_the_delegated_send_runs_the_statements_the_validator_plans():
    from chatschema.queries import send_message_citus as citus

    def words(text: str) -> str:  # the function indents them: compare word by word
        return " ".join(catalog.PARAM.sub(lambda m: f"p_{m.group(1)}", text).split())

    query = catalog.get("send_message", "citus")
    assert query.round_trips == 1 and query.delegated == (citus.LOCK, citus.INSERT, citus.COUNT, citus.STORED)
    # the validator plans the delegated statements before the call, whose plan stays the result's
    assert query.explained == (*query.delegated, query.statements[-1])
    for statement in query.delegated:
        assert words(statement.sql) in words(citus.CREATE_FUNCTION), statement.purpose
    # the twin: a statement the function does not run is not found in it
    assert words(citus.STORED.sql.replace("m.user_id", "m.id")) not in words(citus.CREATE_FUNCTION)
