"""docs/cli.md: the ``--help`` of every command, at a fixed width.

The click group is passed in rather than imported, so this package stays below ``chatschema.cli``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .text import GENERATED, WIDTH

if TYPE_CHECKING:
    import click

__all__ = ["cli_markdown"]

_CLI_INTRO = """\
# Command-line reference

{generated}

Every command's `--help`. Exit codes: 0 all good, 1 findings (drift, a lint finding, a failed plan
contract, a stale file), 2 could not run (usage, configuration, connection). Most commands that
connect take `--dsn` (default `$DATABASE_URL`, else the embedded server).
"""



def _contexts(ctx: click.Context) -> Iterator[click.Context]:
    yield ctx
    command: Any = ctx.command  # a click.Group has list_commands and get_command
    if hasattr(command, "list_commands"):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                yield from _contexts(sub.context_class(sub, info_name=name, parent=ctx, **sub.context_settings))


def cli_markdown(cli: click.Group, name: str = "chatschema") -> str:
    """docs/cli.md: the ``--help`` of ``cli`` and of every command under it, at a fixed width."""
    settings = {**cli.context_settings, "terminal_width": WIDTH, "max_content_width": WIDTH}
    contexts = list(_contexts(cli.context_class(cli, info_name=name, **settings)))
    lines = [_CLI_INTRO.format(generated=GENERATED.format(sources="the click commands in chatschema/cli/")),
             "| command | what it does |", "|---|---|"]
    for ctx in contexts:
        anchor = ctx.command_path.replace(" ", "-")
        lines.append(f"| [`{ctx.command_path}`](#{anchor}) | {ctx.command.get_short_help_str(limit=WIDTH)} |")
    for ctx in contexts:
        lines += ["", f"## `{ctx.command_path}`", "", "```text", ctx.command.get_help(ctx).rstrip(), "```"]
    return "\n".join(lines) + "\n"

