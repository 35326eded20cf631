"""chatschema's own lint rules, one module each, for what squawk cannot see.

Every rule module has a kebab-case ``NAME`` (the module is the same name in snake case) and a
docstring whose first line is its summary and whose *Problem* and *Fix* paragraphs explain it (the
fix is also the finding's hint). A module checks what it can see through one or more of:

- ``revision(subject)``: one revision's statements in one direction (``RevisionSubject``);
- ``database(subject)``: what was read from a live database (``DatabaseSubject``, with ``--dsn``);
- ``markers(markers)``: the suppression markers themselves.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ...locks import normalize
from ...offline import PlannedStatement
from ..findings import LintFinding
from ..markers import refine

__all__ = ["LintRule", "RULES", "RevisionSubject", "DatabaseSubject", "first_line"]

_MODULES = (  # also the order of the rule reference
    "concurrently_in_mixed_revision",
    "backfill_in_ddl_revision",
    "matview_refresh_key",
    "index_shape_drift",
    "schema_drift",
    "invalid_index",
    "ignore_without_reason",
    "unused_ignore",
)


def first_line(sql: str, width: int = 100) -> str:
    """The statement on one line, cut to ``width``."""
    text = normalize(sql)
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


@dataclass(frozen=True)
class RevisionSubject:
    """The statements one revision emits itself (not Alembic's), in one direction."""

    revision: str
    direction: str
    path: str
    statements: tuple[PlannedStatement, ...]

    def finding(self, rule: str, statement: PlannedStatement, message: str) -> LintFinding:
        first = next((ln for ln in statement.sql.splitlines() if ln.strip()), "")
        line = refine(self.path, statement.line, first) if statement.line else None
        return LintFinding(rule, message, "chatschema", self.revision, self.direction, self.path, line,
                           first_line(statement.sql), RULES[rule].fix)


@dataclass(frozen=True)
class DatabaseSubject:
    """What lint read from the database: drift from the models, INVALID indexes, views' refresh keys."""

    differences: Sequence[Any] = ()  # chatschema.check.Difference, when the database is at head
    invalid_indexes: Sequence[Any] = ()  # chatschema.doctor.InvalidIndex, builds in progress left out
    refresh_key_problems: Sequence[tuple[str, str]] = ()  # (view, problem)


@dataclass(frozen=True)
class LintRule:
    name: str
    summary: str
    problem: str
    fix: str
    module: str
    revision: Callable[[RevisionSubject], Iterable[LintFinding]] | None = None
    database: Callable[[DatabaseSubject], Iterable[LintFinding]] | None = None
    markers: Callable[[Sequence[Any]], Iterable[LintFinding]] | None = None


def _paragraph(doc: str, heading: str) -> str:
    match = re.search(rf"\*{heading}\*:\s*(.*?)(?:\n\s*\n|\Z)", doc, re.S)
    if not match:
        raise RuntimeError(f"a lint rule's docstring needs a *{heading}* paragraph")
    return " ".join(match.group(1).split())


def _load(module_name: str) -> LintRule:
    module = importlib.import_module(f"{__name__}.{module_name}")
    doc = (module.__doc__ or "").strip()
    if module.NAME.replace("-", "_") != module_name:
        raise RuntimeError(f"lint rule {module.NAME} lives in {module_name}.py; the module must be named after it")
    return LintRule(
        name=module.NAME, summary=doc.splitlines()[0].strip(), problem=_paragraph(doc, "Problem"),
        fix=_paragraph(doc, "Fix"), module=module.__name__, revision=getattr(module, "revision", None),
        database=getattr(module, "database", None), markers=getattr(module, "markers", None),
    )


RULES: dict[str, LintRule] = {}
for _name in _MODULES:
    _rule = _load(_name)
    RULES[_rule.name] = _rule
