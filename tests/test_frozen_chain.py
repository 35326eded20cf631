"""A revision is frozen in time: the chain's offline script is exactly the one committed in tests/frozen/.

Revisions import only alembic, sqlalchemy and chatschema.migrations.ops, and ops keeps every helper a
revision calls unchanged (a changed helper gets a new name). If this test fails, history was
rewritten: restore the helper and add a new one, or, for a new revision, regenerate the files with
``chatschema sql base:head > tests/frozen/upgrade.sql`` and ``chatschema sql head:base > tests/frozen/downgrade.sql``.
"""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from chatschema import migrate
from chatschema.migrations import ops

FROZEN = Path(__file__).parent / "frozen"
VERSIONS = Path(migrate.script_directory().versions)
ALLOWED = {"__future__", "alembic", "sqlalchemy", "chatschema.migrations", "chatschema.migrations.ops"}


@pytest.mark.parametrize("range_, name", [("base:head", "upgrade.sql"), ("head:base", "downgrade.sql")])
def test_the_offline_script_is_the_committed_one(range_, name):
    assert migrate.offline_sql(range_) == (FROZEN / name).read_text(encoding="utf-8")


def test_editing_a_helper_a_revision_calls_changes_the_script(monkeypatch):
    """The twin: the comparison above sees a change to what 0004 runs."""
    edited = dataclasses.replace(ops.SUMMARY_BACKFILL, apply=ops.SUMMARY_BACKFILL.apply.replace("100", "120"))
    monkeypatch.setattr(ops, "SUMMARY_BACKFILL", edited)
    assert migrate.offline_sql("base:head") != (FROZEN / "upgrade.sql").read_text(encoding="utf-8")


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.add(node.module or "")
            if node.module == "chatschema.migrations":
                found.update(f"chatschema.migrations.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize("path", sorted(VERSIONS.glob("*.py")), ids=lambda p: p.stem)
def test_revisions_import_only_alembic_sqlalchemy_and_ops(path):
    assert _imports(path) <= ALLOWED, f"{path.name} imports live code: {sorted(_imports(path) - ALLOWED)}"


def test_the_import_check_sees_live_code(tmp_path):
    revision = tmp_path / "0099_bad.py"
    revision.write_text("from alembic import op\nfrom chatschema.migrate import backfill\n", encoding="utf-8")
    assert _imports(revision) - ALLOWED == {"chatschema.migrate"}
