"""The reference docs, generated from the code: queries and API, CLI, schema (and the plan rules).

``chatschema docs`` writes docs/queries.md, docs/cli.md, docs/schema.md and docs/plan-rules.md;
``chatschema docs --check`` and ``tests/test_docs.py`` fail when a committed file differs from what
the code generates now. The prose comes from docstrings, next to the code it describes; only the
short introductions are written here. Nothing here connects to a database, and the CLI is
passed in (its click group) rather than imported, so this package stays below ``cli``.

- ``text``: docstrings and signatures read for every page;
- ``queries``, ``cli``, ``schema``: one page each (plan-rules.md comes from ``chatschema.plans.docs``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..plans.docs import rules_markdown
from ..queries.files import load_dir
from .cli import cli_markdown
from .queries import queries_markdown
from .schema import schema_markdown
from .text import WIDTH, raises

if TYPE_CHECKING:
    import click

__all__ = ["WIDTH", "queries_markdown", "cli_markdown", "schema_markdown", "generate", "stale", "write", "raises"]


def generate(cli: click.Group, queries_dir: Path | None = None) -> dict[str, str]:
    """Every generated reference file: name in docs/ -> its text. With ``queries_dir`` (an app team's
    query files) schema.md maps their contracts' indexes too."""
    app = load_dir(queries_dir) if queries_dir is not None else ()
    return {
        "queries.md": queries_markdown(),
        "cli.md": cli_markdown(cli),
        "schema.md": schema_markdown(app, queries_dir.as_posix() if queries_dir is not None else ""),
        "plan-rules.md": rules_markdown(),
    }


def _read(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.exists() else None


def stale(directory: Path, cli: click.Group, queries_dir: Path | None = None) -> list[Path]:
    """The generated files in ``directory`` that are missing or differ from what the code generates."""
    return [directory / name for name, text in generate(cli, queries_dir).items() if _read(directory / name) != text]


def write(directory: Path, cli: click.Group, queries_dir: Path | None = None) -> list[tuple[Path, bool]]:
    """Write every generated file into ``directory``; each path with whether it changed."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in generate(cli, queries_dir).items():
        path = directory / name
        changed = _read(path) != text
        if changed:
            path.write_text(text, encoding="utf-8")
        written.append((path, changed))
    return written
