"""chatschema docs."""

from __future__ import annotations

import sys

import click

from . import main, out


@main.command("docs")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="docs", show_default=True,
              help="Directory of the generated files.")
@click.option("--check", "check_only", is_flag=True,
              help="Write nothing; exit 1 naming each file that is missing or not up to date.")
@click.option("--queries", "queries_dir", type=click.Path(file_okay=False, exists=True), metavar="DIR",
              help="An app team's .sql query files (docs/app-queries.md): schema.md's index -> queries map "
                   "names them beside the catalog's queries.")
def docs_(out_dir: str, check_only: bool, queries_dir: str | None) -> None:
    """Generate the reference docs: queries.md, cli.md, schema.md and plan-rules.md.

    queries.md from the query catalog and the API's signatures and docstrings; cli.md from
    every command's --help; schema.md from the models, indexes, views and migration chain;
    plan-rules.md as `chatschema plans docs` writes it. Connects to nothing. The files are
    committed, and tests/test_docs.py fails when one is stale.

    \b
    Example:
        chatschema docs
        chatschema docs --check || echo "run chatschema docs and commit the result"
        chatschema docs --out app/docs --queries app/queries   # the map with the app's queries
    """
    from pathlib import Path

    from .. import docs

    directory = Path(out_dir)
    app = Path(queries_dir) if queries_dir else None
    if check_only:
        bad = docs.stale(directory, main, app)
        for path in bad:
            out.print(f"✗ {path} is stale; run `chatschema docs`", markup=False)
        if bad:
            sys.exit(1)
        out.print(f"✓ the generated docs in {directory} are up to date", markup=False)
        return
    for path, changed in docs.write(directory, main, app):
        out.print(f"wrote {path}" if changed else f"{path} is up to date", markup=False)


