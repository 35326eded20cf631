"""With --dsn: a column, constraint or storage parameter of the database differs from the models.

*Problem*: A column, constraint or storage parameter in the database differs from the models.

*Fix*: Write a revision that brings the database to the models (or the models to the database).
"""

from __future__ import annotations

from collections.abc import Iterator

from ..findings import LintFinding
from . import RULES, DatabaseSubject

NAME = "schema-drift"

# Reported by matview-refresh-key, with the reason; and indexes by index-shape-drift.
_ELSEWHERE = ("index", "materialized view")


def database(subject: DatabaseSubject) -> Iterator[LintFinding]:
    for diff in subject.differences:
        if diff.kind not in _ELSEWHERE:
            yield LintFinding(NAME, str(diff), "database", hint=RULES[NAME].fix)
