"""A suppression marker that suppresses nothing.

*Problem*: A chatschema-lint ignore marker suppresses nothing (the finding it was for is gone).

*Fix*: Remove the marker, or the rule from it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from ..findings import LintFinding
from ..markers import Marker
from . import RULES

NAME = "unused-ignore"


def markers(found: Sequence[Marker]) -> Iterator[LintFinding]:
    for m in found:
        for rule in m.rules:
            if rule not in m.used:
                yield LintFinding(NAME, f"ignore {rule} suppresses nothing", "chatschema", m.revision, path=m.path,
                                  line=m.line, hint=RULES[NAME].fix)
