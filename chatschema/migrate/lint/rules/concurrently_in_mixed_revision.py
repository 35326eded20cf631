"""A CONCURRENTLY index statement in a revision that also does transactional work.

*Problem*: A CONCURRENTLY index statement shares its revision with transactional work.
autocommit_block() commits that work before the build starts; if the build then fails, the
revision is half applied and not stamped, and a re-run repeats the committed part.

*Fix*: Give the concurrent statement a revision of its own
(chatschema.migrations.ops.create_index_concurrently).
"""

from __future__ import annotations

from collections.abc import Iterator

from ..findings import LintFinding
from . import RevisionSubject, first_line

NAME = "concurrently-in-mixed-revision"


def revision(subject: RevisionSubject) -> Iterator[LintFinding]:
    concurrent = [s for s in subject.statements if s.lock.concurrently and "index" in s.lock.kind]
    transactional = [s for s in subject.statements
                     if s.in_transaction and s.lock.kind not in ("query", "DO block: catalog check")]
    if concurrent and transactional:
        other = transactional[0]
        yield subject.finding(
            NAME, concurrent[0],
            f"{concurrent[0].lock.kind} shares revision {subject.revision} with transactional work "
            f"({first_line(other.sql, 60)} at line {other.line}): autocommit_block() commits that work first, so a "
            f"failed build leaves the revision half applied",
        )
