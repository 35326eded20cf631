"""docs/schema.md: the tables, constraints, indexes and materialized views at head."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from .. import indexes, migrate, models, views
from .. import queries as catalog
from ..queries import Query
from .er import er_diagram, index_map_lines
from .text import GENERATED, body

__all__ = ["schema_markdown"]

_SCHEMA_INTRO = """\
# Schema at head (revision {head})

{generated}

{models_doc}

The chain that builds it, from today's schema (`chatschema history`; `chatschema sql` prints the SQL):

| revision | what it does |
|---|---|
"""



def _index_users(app_queries: Sequence[Query] = ()) -> dict[str, list[str]]:
    """Index name -> the catalog queries (and app teams' ``app_queries``) whose plan contract names it."""
    users: dict[str, list[str]] = {}
    for q in (*catalog.all_queries(), *app_queries):
        for use in q.contract.uses:
            users.setdefault(use.index, []).append(f"`{q.name}`")
            for other in use.also:
                users.setdefault(other, []).append(f"`{q.name}` (instead of {use.index})")
    return users


def _view_definitions() -> dict[str, tuple[str, str]]:
    """View name -> (the revision that creates it last, its CREATE statement), from the offline SQL."""
    found, revision, statement = {}, "", None
    for line in migrate.offline_sql("base:head").splitlines():
        if statement is None:
            running = re.match(r"^-- Running upgrade \S+ -> (\S+)$", line)
            revision = running.group(1) if running else revision
            if line.startswith("CREATE MATERIALIZED VIEW"):
                statement = [line]
        else:
            statement.append(line)
        if statement is not None and line.rstrip().endswith(";"):
            name = re.match(r"CREATE MATERIALIZED VIEW (?:IF NOT EXISTS )?(\w+)", statement[0])
            if name:
                found[name.group(1)] = (revision, "\n".join([statement[0], textwrap.dedent("\n".join(statement[1:]))]))
            statement = None
    return found


def _default(col: sa.Column[Any]) -> str:
    default = col.server_default
    if default is None:
        return ""
    arg = getattr(default, "arg", None)
    if isinstance(arg, str):
        # as PostgreSQL shows it: a quoted literal for text, the number itself otherwise
        return f"`'{arg}'`" if isinstance(col.type, sa.String) else f"`{arg}`"
    return f"`{arg.compile(dialect=postgresql.dialect())}`" if arg is not None else ""


def _table(table: sa.Table) -> list[str]:
    dialect = postgresql.dialect()
    lines = [f"### `{table.name}`", "", "| column | type | null | default |", "|---|---|---|---|"]
    for col in table.columns:
        kind = col.type.compile(dialect=dialect).lower()
        lines.append(f"| `{col.name}` | {kind} | {'yes' if col.nullable else 'no'} | {_default(col)} |")
    pk = table.primary_key
    constraints = [f"- `{_pkey(table)}`: PRIMARY KEY ({', '.join(c.name for c in pk.columns)})"]
    for fk in sorted(table.foreign_key_constraints, key=lambda c: tuple(c.column_keys)):
        cols = ", ".join(fk.column_keys)
        target = ", ".join(e.column.name for e in fk.elements)
        on_delete = f" ON DELETE {fk.ondelete}" if fk.ondelete else ""
        constraints.append(f"- `{fk.name or f'{table.name}_{cols}_fkey'}`: FOREIGN KEY ({cols}) REFERENCES "
                           f"{fk.referred_table.name} ({target}){on_delete}")
    checks = sorted((c for c in table.constraints if isinstance(c, sa.CheckConstraint)), key=lambda c: str(c.name))
    constraints += [f"- `{c.name}`: CHECK ({c.sqltext})" for c in checks]
    lines += ["", "Constraints:", "", *constraints]
    storage = table.dialect_options["postgresql"].get("with") or {}
    if storage:
        lines += ["", "Storage parameters: " + ", ".join(f"`{k} = {v}`" for k, v in sorted(storage.items())) + "."]
    names = [_pkey(table), *sorted(str(ix.name) for ix in table.indexes)]
    return lines + ["", "Indexes: " + ", ".join(f"[`{n}`](#indexes)" for n in names) + "."]


def _pkey(table: sa.Table) -> str:
    return str(table.primary_key.name or f"{table.name}_pkey")  # PostgreSQL's default name


def _indexes(app_queries: Sequence[Query] = ()) -> list[str]:
    dialect = postgresql.dialect()
    users = _index_users(app_queries)
    rows = []
    for table in models.metadata.sorted_tables:
        columns = ", ".join(c.name for c in table.primary_key.columns)
        rows.append((_pkey(table), table.name, f"UNIQUE ({columns})", "the primary key: one row by its id",
                     ""))
        for ix in sorted(table.indexes, key=lambda i: str(i.name)):
            created = str(sa.schema.CreateIndex(ix).compile(dialect=dialect))
            definition = re.sub(r"^CREATE (UNIQUE )?INDEX \S+ ON \S+ ", lambda m: m.group(1) or "", created)
            spec = indexes.index_by_name(str(ix.name))
            rows.append((spec.name, table.name, definition, spec.serves, spec.why))
    for v in views.VIEWS:
        rows.append((v.index, v.name, f"UNIQUE ({', '.join(v.key)})",
                     f"{v.serves}: the key `REFRESH MATERIALIZED VIEW CONCURRENTLY` needs", ""))
    lines = ["## Indexes", "", body(indexes), "",
             "| index | on | definition | serves | used by the plan contracts of |", "|---|---|---|---|---|"]
    for name, on, definition, serves, _ in rows:
        lines.append(f"| `{name}` | `{on}` | `{definition}` | {serves} | {', '.join(users.get(name, [])) or '–'} |")
    lines += ["", "Why they have the shape they have:", ""]
    return lines + [f"- `{name}`: {why}" for name, _, _, _, why in rows if why]


def schema_markdown(app_queries: Sequence[Query] = (), app_source: str = "") -> str:
    """docs/schema.md: the tables, constraints, indexes and materialized views at head; ``app_queries``
    (an app team's query files, from ``app_source``) join the catalog's in the index -> queries map."""
    sources = ("chatschema/models/__init__.py, chatschema/indexes.py, chatschema/views.py, the migration chain "
               "and the catalog's contracts") + (f" and the query files in {app_source}" if app_source else "")
    head = migrate.script_directory().get_current_head()
    lines = [_SCHEMA_INTRO.format(head=head, generated=GENERATED.format(sources=sources), models_doc=body(models))
             .rstrip("\n")]
    lines += [f"| {r.revision} | {r.title} |" for r in migrate.history()]
    tables = ", ".join(f"[`{t.name}`](#{t.name})" for t in models.metadata.sorted_tables)
    lines += ["", f"Contents: [diagram](#diagram), [tables](#tables) ({tables}), [indexes](#indexes), "
                  "[index -> queries](#index---queries), [materialized views](#materialized-views)."]
    lines += ["", "## Diagram", "", "The tables at head and their foreign keys (the materialized views are "
              "derived from `messages` and `conversations`, below).", "", *er_diagram(models.metadata)]
    lines += ["", "## Tables"]
    for table in models.metadata.sorted_tables:
        lines += [""] + _table(table)
    lines += [""] + _indexes(app_queries)
    named = [_pkey(t) for t in models.metadata.sorted_tables] + [i.name for i in indexes.INDEXES] + [
        v.index for v in views.VIEWS]
    lines += ["", "## Index -> queries", "",
              "Each index and the catalog queries whose plan contracts use it, with the index columns the "
              "contract requires in the Index Cond (from the contracts"
              + (f"; the `.app` queries are the query files in {app_source}" if app_source else
                 "; `chatschema docs --queries DIR` adds an app team's query files") + ").", "",
              *index_map_lines([*catalog.all_queries(), *app_queries], named)]
    definitions = _view_definitions()
    lines += ["", "## Materialized views", "", body(views), "",
              "| view | serves | unique key (index) |", "|---|---|---|"]
    for v in views.VIEWS:
        lines.append(f"| [`{v.name}`](#{v.name}) | {v.serves} | ({', '.join(v.key)}) [`{v.index}`](#indexes) |")
    for v in views.VIEWS:
        revision, sql = definitions[v.name]
        what = (f"{v.serves.capitalize()}. Key ({', '.join(v.key)}), unique index `{v.index}`; "
                f"created by revision {revision}:")
        lines += ["", f"### `{v.name}`", "", what, "", "```sql", sql, "```"]
    return "\n".join(lines) + "\n"

