"""SARIF 2.1.0 and GitHub Actions annotations, for `plans verify` and `lint`: each finding at the file
and line where its query or revision is written; the SARIF validated against the published schema
(tests/data/sarif-schema-2.1.0.json, OASIS SARIF 2.1.0 errata 01)."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from chatschema.annotations import Annotation, github, sarif
from chatschema.cli import main
from chatschema.plans.render import render
from chatschema.queries import all_queries, get
from chatschema.queries.locate import locate
from tests.test_plans_render import _report

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
BAD = str(Path(__file__).parent / "bad_migrations")


def validate(log: dict) -> None:
    jsonschema.Draft4Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(log)


@pytest.fixture(autouse=True)
def _at_the_checkout(monkeypatch):
    monkeypatch.chdir(ROOT)  # paths are relative to the checkout, as in CI


def _line(path: str, text: str) -> int:
    return next(i for i, line in enumerate((ROOT / path).read_text().splitlines(), 1) if line.startswith(text))


def test_every_catalog_query_is_located_at_its_assignment():
    for q in all_queries():
        where = locate(q)
        assert where is not None, q.name
        lines = Path(where.path).read_text().splitlines()
        assert re.match(r"^[A-Z_]+ = Query\($", lines[where.line - 1]), (q.name, lines[where.line - 1])
        block = "\n".join(lines[where.line: where.line + 4])
        assert f'operation="{q.operation}"' in block and f'variant="{q.variant}"' in block


def test_a_query_that_is_not_in_the_catalog_has_no_location():
    # Equal to a catalog query field by field, but not the catalog's object: not placed on its line.
    copy = dataclasses.replace(get("load_messages"))
    assert copy == get("load_messages") and locate(copy) is None


def test_plans_sarif_validates_and_places_the_finding_on_the_query():
    log = json.loads(render(_report(), "sarif"))
    validate(log)
    [run] = log["runs"]
    results = run["results"]
    assert results, "the seed proposal's findings"
    expected_line = _line("chatschema/queries/list_conversations.py", "SEED_PROPOSAL = Query(")
    for r in results:
        loc = r["locations"][0]
        assert loc["physicalLocation"]["artifactLocation"] == {
            "uri": "chatschema/queries/list_conversations.py", "uriBaseId": "%SRCROOT%"}
        assert loc["physicalLocation"]["region"]["startLine"] == expected_line
        assert loc["logicalLocations"] == [{"name": "list_conversations.seed_proposal"}]
        assert run["tool"]["driver"]["rules"][r["ruleIndex"]]["id"] == r["ruleId"]
    first = next(r for r in results if r["ruleId"] == "aggregate-whole-table")
    assert first["level"] == "error" and "aggregates every row" in first["message"]["text"]
    # one result per query and rule
    assert len({r["ruleId"] for r in results}) == len(results)


def test_the_passing_query_yields_no_sarif_result_and_no_annotation():
    passing = dataclasses.replace(_report(), results=_report().results[1:])
    log = json.loads(render(passing, "sarif"))
    validate(log)
    assert log["runs"][0]["results"] == []
    assert render(passing, "github") == ""


def test_a_broken_sarif_log_fails_the_schema():
    log = json.loads(render(_report(), "sarif"))
    log["runs"][0]["results"][0]["level"] = "fatal"
    with pytest.raises(jsonschema.ValidationError):
        validate(log)
    log = json.loads(render(_report(), "sarif"))
    del log["runs"][0]["results"][0]["message"]
    with pytest.raises(jsonschema.ValidationError):
        validate(log)


def test_plans_github_prints_an_error_line_per_query_and_rule():
    out = render(_report(), "github").splitlines()
    line = _line("chatschema/queries/list_conversations.py", "SEED_PROPOSAL = Query(")
    assert out and all(
        x.startswith(f"::error file=chatschema/queries/list_conversations.py,line={line},title=") for x in out)
    assert any("title=aggregate-whole-table%3A list_conversations.seed_proposal::" in x for x in out)


def test_github_escapes_what_would_end_or_split_a_workflow_command():
    out = github([Annotation("r", "50% of rows\nread", path="a,b:c.sql", line=3)])
    assert out == "::error file=a%2Cb%3Ac.sql,line=3,title=r::50%25 of rows%0Aread\n"
    assert github([Annotation("r", "m", level="warning")]) == "::warning title=r::m\n"


def test_an_annotation_outside_the_checkout_gets_an_absolute_uri(tmp_path):
    log = json.loads(sarif("t", [], [Annotation("r", "m", path=str(tmp_path / "q.sql"), line=2)]))
    validate(log)
    uri = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert uri == {"uri": (tmp_path / "q.sql").as_uri()}


def _lint(fmt: str, *revisions: str):
    return CliRunner().invoke(main, ["lint", "--script-location", BAD, "--pg-version", "15", "--format", fmt,
                                     *revisions], catch_exceptions=False)


def test_lint_sarif_validates_and_matches_the_json_report_file_and_line():
    as_json = json.loads(_lint("json", "b003").output)
    result = _lint("sarif", "b003")
    assert result.exit_code == 1
    log = json.loads(result.output)
    validate(log)
    results = log["runs"][0]["results"]
    assert len(results) == len(as_json["findings"]) > 0
    for r, f in zip(results, as_json["findings"], strict=True):
        physical = r["locations"][0]["physicalLocation"]
        assert r["ruleId"] == f["rule"]
        assert physical["artifactLocation"]["uri"] == Path(f["path"]).resolve().relative_to(ROOT).as_posix()
        assert physical["region"]["startLine"] == f["line"]
    assert any(r["ruleId"] == "backfill-in-ddl-revision" for r in results)


def test_lint_github_names_the_revision_file_and_line_and_a_clean_revision_prints_nothing():
    result = _lint("github", "b003")
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines and all(re.match(r"^::error file=tests/bad_migrations/versions/b003_backfill_in_ddl\.py,line=\d+,", x)
                         for x in lines if "b003" in x)
    assert any("title=backfill-in-ddl-revision%3A revision b003 upgrade::" in x for x in lines)
    clean = _lint("github", "b000")
    assert clean.exit_code == 0 and clean.output == ""
    clean_sarif = json.loads(_lint("sarif", "b000").output)
    validate(clean_sarif)
    assert clean_sarif["runs"][0]["results"] == []
