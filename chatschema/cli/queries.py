"""chatschema queries list / show: the query catalog."""

from __future__ import annotations

import click
from rich.table import Table

from ..errors import UnknownQuery
from . import main, out


@main.group()
def queries() -> None:
    """The query catalog: the application's canonical queries in every variant."""


@queries.command("list")
def queries_list() -> None:
    """List every query: operation, variant, schema revision, round trips, whether it writes.

    \b
    Example:
        chatschema queries list
    """
    from .. import queries as catalog

    table = Table("operation", "variant", "revision", "round trips", "writes", box=None, pad_edge=False)
    for q in catalog.all_queries():
        table.add_row(q.operation, q.variant, q.revision, str(q.round_trips), "yes" if q.writes else "")
    out.print(table)


@queries.command("show")
@click.argument("name")
def queries_show(name: str) -> None:
    """Print the formatted SQL of NAME: 'operation.variant', or 'operation' for all its variants.

    \b
    Example:
        chatschema queries show list_conversations.optimized
    """
    from .. import queries as catalog

    try:
        found = catalog.by_name(name)
    except UnknownQuery as exc:
        # Click's usage error, as for any other bad argument (the error handler would print it
        # without the usage line).
        raise click.BadParameter(str(exc), param_hint="NAME") from None
    for q in found:
        click.echo(f"-- {q.name} (revision {q.revision}, {q.round_trips} round trip{'s' * (q.round_trips != 1)})")
        if q.notes:
            click.echo("\n".join(f"-- {line}" for line in _wrap(q.notes)))
        click.echo(catalog.formatted_sql(q) + "\n")


def _wrap(text: str) -> list[str]:
    import textwrap

    return textwrap.wrap(text, 100)


