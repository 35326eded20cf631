"""A suppression ``# chatschema-lint: ignore RULE`` without a reason.

*Problem*: A chatschema-lint ignore marker gives no reason.

*Fix*: Add the reason after `--`: the next reader needs to know why the rule does not apply.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from ..findings import LintFinding
from ..markers import Marker
from . import RULES

NAME = "ignore-without-reason"


def markers(found: Sequence[Marker]) -> Iterator[LintFinding]:
    for m in found:
        if not m.reason:
            yield LintFinding(NAME, f"ignore {', '.join(m.rules)} gives no reason", "chatschema", m.revision,
                              path=m.path, line=m.line, hint=RULES[NAME].fix)
