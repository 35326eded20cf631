"""docs/schema.md's map: the ER diagram (Mermaid, which GitHub renders) generated from the models,
and for each index the queries whose plan contracts use it, with the Index Cond columns each needs.

The reverse map reads the contracts, not the SQL: an index is "used by" a query when the query's
contract promises it (``IndexUse``, or one of its ``also`` alternatives). App teams' query files
(``queries.files``) can be passed in beside the catalog, and appear marked as theirs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from ..queries.query import Query

__all__ = ["er_diagram", "index_map", "index_map_lines"]

_TYPES = {"timestamp with time zone": "timestamptz"}


def _type(column: sa.Column) -> str:
    kind = column.type.compile(dialect=postgresql.dialect()).lower()
    kind = _TYPES.get(kind, kind)
    return re.sub(r"\W+", "_", kind).strip("_")  # Mermaid's attribute types are single words


def er_diagram(metadata: sa.MetaData) -> list[str]:
    """A Mermaid ``erDiagram``: an entity per table (columns, PK, FK, nullability), a line per foreign key."""
    lines = ["```mermaid", "erDiagram"]
    for table in metadata.sorted_tables:
        for fk in sorted(table.foreign_key_constraints, key=lambda c: tuple(c.column_keys)):
            parent = fk.referred_table.name
            nullable = any(table.columns[c].nullable for c in fk.column_keys)
            # parent: exactly one (or zero or one when the key is nullable); child: zero or more
            lines.append(f"    {parent} {'|o' if nullable else '||'}--o{{ {table.name} : "
                         f"\"{', '.join(fk.column_keys)}\"")
    for table in metadata.sorted_tables:
        fks = {c for fk in table.foreign_key_constraints for c in fk.column_keys}
        lines.append(f"    {table.name} {{")
        for col in table.columns:
            keys = ",".join(k for k, on in (("PK", col.primary_key), ("FK", col.name in fks)) if on)
            note = ' "null"' if col.nullable else ""
            lines.append(f"        {_type(col)} {col.name}{(' ' + keys) if keys else ''}{note}")
        lines.append("    }")
    return lines + ["```"]


def index_map(queries: Iterable[Query]) -> dict[str, list[tuple[str, tuple[str, ...], str]]]:
    """Index -> (query name, the Index Cond columns its contract needs, how) for every contract naming it."""
    found: dict[str, list[tuple[str, tuple[str, ...], str]]] = {}
    for q in queries:
        for use in q.contract.uses:
            how = "" if use.chosen else "when seq scans are off"
            if use.index_only:
                how = "index-only"
            found.setdefault(use.index, []).append((q.name, use.cond, how))
            for other in use.also:
                found.setdefault(other, []).append((q.name, use.cond, f"instead of {use.index}"))
    return found


def index_map_lines(queries: Iterable[Query], indexes: Iterable[str]) -> list[str]:
    """The reverse map as Markdown: each index of ``indexes``, then any other index a contract names."""
    found = index_map(queries)
    at_head = list(indexes)
    order = list(dict.fromkeys([*at_head, *sorted(found)]))
    lines = ["| index | query | Index Cond columns the contract needs | note |", "|---|---|---|---|"]
    for index in order:
        uses = found.get(index, [])
        if not uses:
            lines.append(f"| `{index}` | – | | named by no contract |")
        for i, (name, cond, how) in enumerate(uses):
            if index not in at_head:
                how = "; ".join(filter(None, (how, "not in the schema at head")))
            lines.append(f"| {f'`{index}`' if i == 0 else ''} | `{name}` | {', '.join(cond) or '–'} | {how} |")
    return lines
