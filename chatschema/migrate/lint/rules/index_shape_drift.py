"""With --dsn: an index of the database differs from the models (INCLUDE, WHERE, DESC, opclass...).

*Problem*: An index in the database differs from the models (INCLUDE, WHERE, DESC, opclass,
method), is missing, or is not in the models. Alembic's autogenerate compares none of these.

*Fix*: Build the model's shape under a new name concurrently, then drop the old one concurrently.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..findings import LintFinding
from . import RULES, DatabaseSubject

NAME = "index-shape-drift"


def database(subject: DatabaseSubject) -> Iterator[LintFinding]:
    for diff in subject.differences:
        if diff.kind == "index":
            yield LintFinding(NAME, str(diff), "database", hint=RULES[NAME].fix)
