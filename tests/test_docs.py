"""`chatschema docs`: the generated reference files are fresh, a stale one is caught, and what they
say about the API (its errors, its async twin) is what the code does. No database."""

from __future__ import annotations

import inspect
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from chatschema import api, api_async, docs
from chatschema.cli import main
from chatschema.errors import InvalidInput, NotFound

DOCS = Path(__file__).resolve().parent.parent / "docs"
GENERATED = ("queries.md", "cli.md", "schema.md", "plan-rules.md")
USER, CONVERSATION = uuid.uuid4(), uuid.uuid4()
CALLS: dict[str, dict[str, Any]] = {
    "list_conversations": {"user_id": USER},
    "load_messages": {"user_id": USER, "conversation_id": CONVERSATION},
    "conversation_view": {"user_id": USER, "conversation_id": CONVERSATION},
    "send_message": {"user_id": USER, "conversation_id": CONVERSATION, "role": "user", "content": "hi"},
    "user_daily_counts": {"user_id": USER, "since": date(2026, 4, 1), "until": date(2026, 5, 1)},
    "daily_totals": {"since": date(2026, 4, 1), "until": date(2026, 5, 1)},
}


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def generated() -> dict[str, str]:
    return docs.generate(main)


def test_generate_covers_every_committed_reference_file(generated):
    assert tuple(generated) == GENERATED


@pytest.mark.parametrize("name", GENERATED)
def test_committed_file_is_fresh(generated, name):
    assert (DOCS / name).read_text(encoding="utf-8") == generated[name], f"docs/{name} is stale: run `chatschema docs`"


def test_check_names_each_stale_file_and_docs_rewrites_only_those(tmp_path):
    result = run("docs", "--out", str(tmp_path))
    assert result.exit_code == 0
    assert result.output.splitlines() == [f"wrote {tmp_path / name}" for name in GENERATED]
    assert run("docs", "--check", "--out", str(tmp_path)).output == (
        f"✓ the generated docs in {tmp_path} are up to date\n")

    (tmp_path / "schema.md").write_text("# Schema at head\n", encoding="utf-8")
    (tmp_path / "cli.md").unlink()
    result = run("docs", "--check", "--out", str(tmp_path))
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"✗ {tmp_path / 'cli.md'} is stale; run `chatschema docs`",
        f"✗ {tmp_path / 'schema.md'} is stale; run `chatschema docs`",
    ]

    result = run("docs", "--out", str(tmp_path))
    assert result.exit_code == 0
    assert result.output.splitlines() == [
        f"{tmp_path / 'queries.md'} is up to date", f"wrote {tmp_path / 'cli.md'}",
        f"wrote {tmp_path / 'schema.md'}", f"{tmp_path / 'plan-rules.md'} is up to date",
    ]
    assert run("docs", "--check", "--out", str(tmp_path)).exit_code == 0


def test_a_changed_docstring_makes_queries_md_stale(monkeypatch):
    """The twin of the freshness test: the generator reads the code, not a copy of it."""
    assert docs.stale(DOCS, main) == []
    monkeypatch.setattr(api.send_message, "__doc__", "Store a message, somehow.")
    assert docs.stale(DOCS, main) == [DOCS / "queries.md"]


def test_plans_docs_still_writes_the_rule_reference_alone(tmp_path):
    output = tmp_path / "plan-rules.md"
    assert run("plans", "docs", "--output", str(output)).exit_code == 0
    assert output.read_text(encoding="utf-8") == (DOCS / "plan-rules.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", api_async.__all__)
def test_async_function_mirrors_the_sync_one(name):
    """queries.md documents both from the sync docstring: they must say and take the same."""
    sync, async_ = getattr(api, name), getattr(api_async, name)
    assert inspect.iscoroutinefunction(async_)
    assert "Raises:" in (inspect.getdoc(sync) or "")  # both got the shared docstring, not both none
    assert inspect.getdoc(async_) == inspect.getdoc(sync)
    sync_sig, async_sig = inspect.signature(sync), inspect.signature(async_)
    assert list(async_sig.parameters)[1:] == list(sync_sig.parameters)[1:]
    assert [p.default for p in async_sig.parameters.values()] == [p.default for p in sync_sig.parameters.values()]
    assert async_sig.return_annotation == sync_sig.return_annotation


class _NoRows:
    """A connection on which every statement returns no rows: what a missing or foreign conversation gives."""

    def cursor(self, row_factory: object = None) -> _NoRows:
        return self

    def __enter__(self) -> _NoRows:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def execute(self, sql: str, params: object) -> None:
        return None

    def fetchall(self) -> list[tuple[Any, ...]]:
        return []


@pytest.mark.parametrize("name", CALLS)
def test_documented_errors_are_the_errors_raised(name):
    fn, kwargs = getattr(api, name), CALLS[name]
    documented = docs.raises(fn)
    assert "InvalidInput" in documented
    bad = {**kwargs, "user_id": "not-a-uuid"} if "user_id" in kwargs else {**kwargs, "since": "2026-04-01"}
    with pytest.raises(InvalidInput):
        fn(_NoRows(), **bad)
    if "NotFound" in documented:
        with pytest.raises(NotFound):
            fn(_NoRows(), **kwargs)
    else:
        result = fn(_NoRows(), **kwargs)
        assert not (result.items if isinstance(result, api.ConversationPage) else result)
