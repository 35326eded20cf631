"""Where a query is written: the file and line a code host should point a finding at.

A catalog query is located at the assignment of the module-level variable that holds it
(``OPTIMIZED = Query(...)`` in ``chatschema/queries/load_messages.py``): the module is searched
for the variable whose value *is* the query (identity, not equality, so two variants with equal
fields cannot be confused), and the line comes from the module's syntax tree, not from a text
search that a comment or a docstring could fool. An app team's query file (``queries.files``)
carries its own path and the line its SQL starts on.
"""

from __future__ import annotations

import ast
import inspect
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from .query import Query

__all__ = ["Location", "locate", "display_path"]


@dataclass(frozen=True)
class Location:
    """A file (absolute) and a 1-based line."""

    path: str
    line: int

    @property
    def display(self) -> str:
        return display_path(self.path)


def display_path(path: str) -> str:
    """``path`` relative to the working directory when it is under it (as code hosts want), else as given."""
    try:
        return Path(path).resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path


@cache
def _assignments(path: str) -> dict[str, int]:
    """Module-level ``NAME = ...`` (and ``NAME: T = ...``) lines of the file at ``path``."""
    tree = ast.parse(Path(path).read_text(encoding="utf-8"), filename=path)
    lines: dict[str, int] = {}
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        for target in targets:
            if isinstance(target, ast.Name):
                lines.setdefault(target.id, node.lineno)
    return lines


def _catalog_modules() -> list[object]:
    from . import (
        analytics,
        catch_up,
        changed_conversations,
        conversation_view,
        export_messages,
        list_conversations,
        load_messages,
        send_message,
        send_message_citus,
    )

    return [list_conversations, load_messages, conversation_view, send_message, send_message_citus, catch_up,
            changed_conversations, export_messages, analytics]


def locate(query: Query) -> Location | None:
    """The file and line where ``query`` is defined; None when it is not a catalog or file query."""
    own = getattr(query, "location", None)
    if isinstance(own, Location):
        return own
    for mod in _catalog_modules():
        for name, value in vars(mod).items():
            if value is query:
                path = inspect.getsourcefile(mod)  # type: ignore[arg-type]
                if path is None:
                    return None
                line = _assignments(path).get(name)
                return Location(str(Path(path).resolve()), line) if line else None
    return None
