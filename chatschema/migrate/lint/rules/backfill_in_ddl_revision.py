"""A data backfill (UPDATE, DELETE, INSERT ... SELECT) in a revision that also changes the schema.

*Problem*: A data backfill (UPDATE, DELETE, INSERT ... SELECT) runs in a revision that also
changes the schema. In one transaction it holds the DDL's locks for the whole backfill, and it can
be neither batched nor resumed.

*Fix*: Move the backfill to a revision of its own that commits keyset batches with a checkpoint
(chatschema.migrations.ops.backfill), between the revision that adds the columns and the one that
validates them.
"""

from __future__ import annotations

from collections.abc import Iterator

from ....migrations import BOOKKEEPING_TABLES
from ...offline import PlannedStatement
from ..findings import LintFinding
from . import RevisionSubject, first_line

NAME = "backfill-in-ddl-revision"


def _relations(statement: PlannedStatement) -> set[str]:
    return {lk.relation for lk in statement.lock.locks} | set(statement.lock.creates)


def revision(subject: RevisionSubject) -> Iterator[LintFinding]:
    backfills = [s for s in subject.statements if s.lock.dml]
    schema = [s for s in subject.statements
              if (s.lock.ddl or s.lock.creates) and not _relations(s) <= set(BOOKKEEPING_TABLES)]
    if backfills and schema:
        yield subject.finding(
            NAME, backfills[0],
            f"a data backfill ({first_line(backfills[0].sql, 60)}) runs in revision {subject.revision}, which also "
            f"changes the schema ({first_line(schema[0].sql, 60)} at line {schema[0].line})",
        )
