"""App teams' query files (`plans verify --queries DIR`): the header is parsed into a contract and
parameter cases, mistakes are named by file and line, and the shipped examples pass and fail on the
session's seeded database with the same rules as the catalog."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from chatschema.cli import main
from chatschema.plans.app_params import file_cases
from chatschema.plans.params import data_points
from chatschema.plans.verify import connect, verify_database
from chatschema.queries.files import QueryFileError, load_dir, load_file

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "queries"
GOOD = EXAMPLES / "recent_messages.sql"
BAD = EXAMPLES / "assistant_replies_by_offset.sql"


def _sql_line(path: Path) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if line.startswith("SELECT"))


def test_the_header_becomes_a_contract_and_cases():
    q = load_file(GOOD)
    assert q.name == "recent_messages.app" and q.revision == "head"
    c = q.contract
    assert c.page_rows == 21 and c.max_rows_read == 21 and c.max_buffers == 12 and c.max_sort_rows == 0
    [use] = c.uses
    assert (use.index, use.table, use.cond) == ("ix_messages_conversation_recent", "messages",
                                                ("conversation_id", "created_at", "id"))
    assert [name for name, _ in q.recipes] == ["longest conversation, first page", "longest conversation, deep page",
                                               "empty conversation"]
    deep = dict(q.recipes[1][1])
    assert deep == {"conversation_id": "longest conversation", "before_at": "deep message cursor at",
                    "before_id": "deep message cursor id", "limit": "21"}
    assert q.location is not None and q.location.line == _sql_line(GOOD)
    assert "a page costs the same at message 1 and at message 10,000" in c.summary  # continuation lines


def _header(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "q.sql"
    path.write_text(text)
    return path


VALID = """-- chatschema-query: q
-- page-rows: 21
-- param user_id: heaviest user
SELECT id FROM conversations WHERE user_id = %(user_id)s LIMIT 21
"""

MISTAKES = [
    ("-- chatschema-query: q\n-- page-rows: many\n", 2, "page-rows: expected a whole number"),
    ("-- chatschema-query: q\n-- page-rows: 21\n-- param user_id: the richest user\n", 3,
     "unknown parameter source 'the richest user'"),
    ("-- chatschema-query: q\n-- page-rows: 21\n-- pagerows: 21\n", 3, "unknown header key 'pagerows'"),
    ("-- page-rows: 21\n", 1, "the header must start with '-- chatschema-query: NAME'"),
    ("-- chatschema-query: q\n-- param user_id: heaviest user\n", 1, "page-rows is required"),
    ("-- chatschema-query: q\n-- page-rows: 21\n", 1, "no value for parameter(s) user_id"),
    ("-- chatschema-query: q\n-- page-rows: 21\n-- uses: ix_conversations_user_activity messages\n"
     "-- param user_id: heaviest user\n", 3, "uses: expected 'INDEX [or OTHER] on TABLE"),
    ("-- chatschema-query: q\n-- page-rows: 21\n-- param user_id: heaviest user\n-- case deep: limit = 21\n", 4,
     "case 'deep': limit not used by the SQL"),
    ("-- chatschema-query: q\n-- page-rows: 21\n-- just words\n", 3, "expected '-- key: value'"),
]


def test_a_valid_header_loads(tmp_path):
    q = load_file(_header(tmp_path, VALID))
    assert q.params == ("user_id",) and q.recipes == (("default", (("user_id", "heaviest user"),)),)


@pytest.mark.parametrize(("header", "line", "message"), MISTAKES, ids=[m[2][:30] for m in MISTAKES])
def test_a_bad_header_is_named_by_file_and_line(tmp_path, header, line, message):
    body = "SELECT id FROM conversations WHERE user_id = %(user_id)s LIMIT 21\n"
    path = _header(tmp_path, header + body)
    with pytest.raises(QueryFileError) as caught:
        load_file(path)
    assert str(caught.value).startswith(f"{path}:{line}: ") and message in str(caught.value)


def test_a_bad_header_exits_2_with_one_line(tmp_path):
    (tmp_path / "q.sql").write_text("-- chatschema-query: q\n-- page-rows: lots\nSELECT 1\n")
    result = CliRunner().invoke(main, ["plans", "verify", "--queries", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (f"Error: {tmp_path / 'q.sql'}:2: page-rows: expected a whole "
                                                      f"number >= 0, got 'lots'")
    assert "Traceback" not in result.output


def test_a_directory_without_query_files_is_refused(tmp_path):
    with pytest.raises(QueryFileError, match="has no .sql files"):
        load_dir(tmp_path)


def test_two_files_with_one_name_are_refused(tmp_path):
    (tmp_path / "a.sql").write_text(VALID)
    (tmp_path / "b.sql").write_text(VALID)
    with pytest.raises(QueryFileError, match=r"b\.sql:1: query name 'q' is also used by .*a\.sql"):
        load_dir(tmp_path)


def test_parameters_come_from_the_data(seeded_plans):
    with connect(seeded_plans.info) as conn:
        data = data_points(conn)
    first, deep = file_cases(load_file(BAD), data)
    assert first.primary and not deep.primary
    assert deep.params == {"conversation_id": data.ids.longest_conversation_id, "limit": 21,
                           "offset": data.longest_middle}
    assert data.longest_middle > 1000


def test_the_good_example_passes_and_the_bad_one_fails_with_the_catalogs_rules(seeded_plans):
    results, _ = verify_database(seeded_plans.info, load_dir(EXAMPLES), analyze=True, scratch=True)
    by_name = {r.name: r for r in results}
    good, bad = by_name["recent_messages.app"], by_name["assistant_replies_by_offset.app"]
    assert good.passed, [f.message for f in good.findings]
    assert {c.mode for c in good.checks} == {"custom", "generic", "probe"}
    rules = {f.rule for f in bad.findings}
    assert {"index-cond-columns", "rows-read-bound"} <= rules
    deep = next(f for f in bad.findings if f.rule == "rows-read-bound" and "deep page" in f.case)
    assert "the contract allows 42 rows read" in deep.message


def test_cli_reports_the_bad_file_at_its_line_and_not_the_good_one(seeded_plans):
    result = CliRunner().invoke(main, ["plans", "verify", "--queries", str(EXAMPLES), "--dsn",
                                       seeded_plans.settings.dsn, "--analyze", "--format", "github"])
    assert result.exit_code == 1, result.output
    lines = [x for x in result.output.splitlines() if x.startswith("::")]
    rel = BAD.relative_to(ROOT).as_posix() if Path.cwd() == ROOT else str(BAD)
    assert lines and all(f"file={rel},line={_sql_line(BAD)}," in x for x in lines)
    assert not any("recent_messages" in x for x in lines)
    text = CliRunner().invoke(main, ["plans", "verify", "--queries", str(EXAMPLES), "--dsn",
                                     seeded_plans.settings.dsn, "--analyze"]).output
    assert "✓ recent_messages.app" in text and "✗ assistant_replies_by_offset.app" in text
    assert "every index of the schema is named" not in text
