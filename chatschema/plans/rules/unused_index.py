"""An index in the schema that no query contract names.

*Problem*: every index costs writes (each insert and each non-HOT update maintains it), WAL, vacuum
work, cache and disk. An index no canonical query needs is paid for on every write and never
repaid; worse, a query may depend on it without anyone knowing, and it will be dropped one day as
"unused". Either way the catalog and the schema disagree.

*Fix*: name the index in the contract of the query it serves (``IndexUse(index=...)`` in
``chatschema/catalog.py``), or drop it with a migration (``DROP INDEX CONCURRENTLY``). Primary keys
and unique constraints are integrity, not access paths, and are not required to be named.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..findings import Finding
from . import SchemaSubject

NAME = "unused-index"
SCOPE = "schema"


def check(subject: SchemaSubject) -> Iterator[Finding]:
    named = {name for contract in subject.contracts.values() for name in contract.indexes}
    for index, table in subject.indexes:
        if index in named:
            continue
        yield Finding(
            rule=NAME,
            query="(schema)",
            index=index,
            message=f"index {index} on {table} is named by no query contract: it is maintained on every write "
                    f"and no canonical query is known to need it",
            hint=f"Name {index} in the contract of the query it serves, or drop it: DROP INDEX CONCURRENTLY {index}.",
        )
