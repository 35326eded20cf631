"""The house rules of the package, checked on its source: a guide to where things go (docs/design.md).

- Only ``chatschema/cli/`` imports click, prints or exits; only ``settings.py`` reads the
  environment (and ``server.py`` sets one variable the embedded server's library needs).
- No module imports another package's ``_private`` names (a folder is a package).
- A pipeline stage does not import its orchestrator (``plans/pipeline.py``).
- Modules stay within about 400 lines, except the data modules listed with their reason.

Each rule has a twin below that shows it catches a violation.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import chatschema

PACKAGE = Path(chatschema.__file__).parent
MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "migrations/versions" not in p.as_posix())
MAX_LINES = 400
# Modules that hold data rather than logic may be longer; each says why.
LONG_DATA_MODULES: dict[str, str] = {}
ENVIRONMENT_READERS = {"settings.py", "server.py"}
ORCHESTRATORS = {"plans/pipeline.py": "plans"}


def rel(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_of(path: Path) -> str:
    """The package a module belongs to: its folder (a package's __init__ belongs to the package)."""
    return ".".join(path.relative_to(PACKAGE.parent).parent.parts)


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    hidden: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            hidden.update(id(n) for child in node.body for n in ast.walk(child))
    return hidden


def imports(tree: ast.AST, here: str, is_package: bool) -> list[tuple[str, str | None]]:
    """(module, name) for every import outside ``if TYPE_CHECKING``; relative imports resolved."""
    hidden = _type_checking_nodes(tree)
    out: list[tuple[str, str | None]] = []
    for node in ast.walk(tree):
        if id(node) in hidden:
            continue
        if isinstance(node, ast.Import):
            out += [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = here.split(".")
                anchor = parts if is_package else parts[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            out += [(base, alias.name) for alias in node.names]
    return out


def violations(source: str, path: str) -> list[str]:
    """Every house rule the module at ``path`` (relative to the package) breaks."""
    tree = ast.parse(source)
    file = PACKAGE / path
    here, folder = module_name(file), package_of(file)
    in_cli = path.startswith("cli/")
    found = []
    for module, name in imports(tree, here, file.name == "__init__.py"):
        if not in_cli and (module == "click" or module.startswith("click.")):
            found.append(f"imports click ({module})")
        if module.startswith("chatschema"):
            target = module if name is None else f"{module}.{name}"
            is_package = (PACKAGE.parent / Path(*module.split("."))).is_dir()
            target_folder = module if is_package else module.rpartition(".")[0]
            private = [p for p in target.split(".")[1:] if p.startswith("_") and not p.endswith("__")]
            if private and target_folder != folder:
                found.append(f"imports a private name across a package border: {target}")
        orchestrator = next((o for o, pkg in ORCHESTRATORS.items() if folder.endswith(pkg)), None)
        if orchestrator and path != orchestrator and not path.endswith("__init__.py"):
            if (module, name) in (("chatschema.plans", "pipeline"), ("chatschema.plans.pipeline", name)):
                found.append(f"a stage imports its orchestrator ({orchestrator})")
    for node in ast.walk(tree):
        if in_cli or not isinstance(node, ast.Call):
            continue
        callee = ast.unparse(node.func)
        if callee in ("print", "sys.exit", "exit", "quit"):
            found.append(f"calls {callee}()")
    if Path(path).name not in ENVIRONMENT_READERS and not in_cli and "os.environ" in source:
        found.append("reads the environment (settings.py resolves it once)")
    return found


@pytest.mark.parametrize("path", MODULES, ids=rel)
def test_module_keeps_the_house_rules(path):
    assert violations(path.read_text(encoding="utf-8"), rel(path)) == []


@pytest.mark.parametrize("path", MODULES, ids=rel)
def test_module_is_one_screenful_of_purpose(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    if rel(path) in LONG_DATA_MODULES:
        return
    assert lines <= MAX_LINES, f"{rel(path)} has {lines} lines: split it, or list it as data with its reason"


@pytest.mark.parametrize("source, path, expected", [
    ("import click\n", "doctor.py", "imports click (click)"),
    ("from rich import print\nprint('x')\n", "check.py", "calls print()"),
    ("import sys\nsys.exit(1)\n", "migrate/run.py", "calls sys.exit()"),
    ("import os\nos.environ.get('X')\n", "plans/verify.py", "reads the environment (settings.py resolves it once)"),
    ("from ..api import _uuid\n", "plans/verify.py", "imports a private name across a package border: chatschema.api._uuid"),
    ("from chatschema.migrate.chain import _down\n", "check.py",
     "imports a private name across a package border: chatschema.migrate.chain._down"),
    ("from .pipeline import run\n", "plans/render.py", "a stage imports its orchestrator (plans/pipeline.py)"),
], ids=["click", "print", "exit", "environment", "private-relative", "private-absolute", "orchestrator"])
def test_each_rule_catches_its_violation(source, path, expected):
    assert expected in violations(source, path)


def test_the_rules_allow_what_the_house_allows():
    assert violations("import click\nclick.echo('x')\n", "cli/docs.py") == []
    assert violations("from ._api_common import ConversationPage\n", "api.py") == []
    assert violations("from .findings import Finding\n", "plans/render.py") == []
    assert violations("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import click\n", "docs.py") == []
