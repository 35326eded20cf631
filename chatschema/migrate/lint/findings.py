"""What lint reports: a finding, where it is, and why a suppressed one was allowed."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["LintFinding", "LintReport"]


def _display(path: str) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return path


@dataclass(frozen=True)
class LintFinding:
    rule: str
    message: str
    source: str  # squawk | chatschema | database
    revision: str | None = None
    direction: str | None = None
    path: str | None = None
    line: int | None = None
    statement: str | None = None  # the SQL line the finding is about
    hint: str | None = None
    reason: str | None = None  # why it is suppressed, for suppressed findings

    @property
    def where(self) -> str:
        if self.path is None:
            return "database" if self.source == "database" else f"revision {self.revision} {self.direction} (Alembic)"
        return f"{_display(self.path)}:{self.line}" if self.line else _display(self.path)


@dataclass(frozen=True)
class LintReport:
    findings: tuple[LintFinding, ...]
    suppressed: tuple[LintFinding, ...]
    notes: tuple[str, ...]
    revisions: tuple[str, ...]
    squawk: str
    pg_version: str
    database: str | None

    def as_dict(self) -> dict[str, Any]:
        """The report as ``chatschema lint --format json`` prints it."""
        return {
            "findings": [asdict(f) for f in self.findings],
            "suppressed": [asdict(f) for f in self.suppressed],
            "notes": list(self.notes), "revisions": list(self.revisions),
            "squawk": self.squawk, "pg_version": self.pg_version, "database": self.database,
        }
