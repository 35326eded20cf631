"""With --dsn: an index left INVALID by a failed concurrent build.

*Problem*: An index is INVALID: a concurrent build failed or was cancelled. It costs every write and
serves no read; IF NOT EXISTS would silently accept it.

*Fix*: DROP INDEX CONCURRENTLY it, then re-run `chatschema upgrade`, which rebuilds chatschema's
indexes.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..findings import LintFinding
from . import DatabaseSubject

NAME = "invalid-index"


def database(subject: DatabaseSubject) -> Iterator[LintFinding]:
    for ix in subject.invalid_indexes:
        yield LintFinding(NAME, f"{ix.name} on {ix.table} is INVALID: {ix.definition}", "database",
                          hint=f"DROP INDEX CONCURRENTLY {ix.name}; then re-run `chatschema upgrade`")
