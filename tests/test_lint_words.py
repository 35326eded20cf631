"""`lint head` and `lint base` lint what the words mean, never nothing.

head is the newest revision of the chain linted; base is no revision (the empty database before the
first one), so it is refused with a line saying what to do, rather than linting nothing and passing.
"""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from chatschema import migrate
from chatschema.cli import main

BAD = str(Path(__file__).parent / "bad_migrations")


def run(*args: str):
    return CliRunner().invoke(main, ["lint", *args], catch_exceptions=False)


def test_lint_head_lints_the_head_revision():
    result = run("head", "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["revisions"] == [migrate.head()]
    assert {f["revision"] for f in report["suppressed"]} == {migrate.head()}  # its own markers were read
    assert run("heads", "--format", "json").output == result.output


def test_lint_head_fails_when_the_head_revision_has_a_finding():
    """The twin: the bad chain's head (b009, an unused ignore) is linted and found, so head is not empty."""
    result = run("--script-location", BAD, "head", "--format", "json")
    report = json.loads(result.output)
    assert result.exit_code == 1
    assert report["revisions"] == ["b009"]
    assert [(f["revision"], f["rule"]) for f in report["findings"]] == [("b009", "unused-ignore")]


def test_lint_base_is_refused_with_one_line():
    result = run("base")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.output.strip().splitlines() == [
        "Error: 'base' is no revision to lint: it is the empty database before 0001. Lint the whole chain with "
        "`chatschema lint`, or name revisions (`chatschema lint head` is the newest)"]
    # the twin: with no word at all the whole chain is linted
    whole = json.loads(run("--format", "json").output)
    assert whole["revisions"] == [r.revision for r in migrate.history()]
