"""squawk, the PostgreSQL migration linter, run on the rendered SQL of each revision."""

from __future__ import annotations

import json
import shutil
import subprocess
import sysconfig
from functools import cache
from pathlib import Path
from typing import Any

from ...errors import ChatSchemaError, ConfigError

__all__ = ["squawk_version", "run_squawk"]


def _squawk() -> str:
    # The wheel installs the binary next to the interpreter's scripts, which need not be on PATH.
    candidate = Path(sysconfig.get_path("scripts")) / "squawk"
    found = str(candidate) if candidate.exists() else shutil.which("squawk")
    if not found:
        raise ConfigError("squawk is not installed: pip install squawk-cli (it is a chatschema dependency)")
    return found


@cache
def squawk_version() -> str:
    """'squawk 2.x.y', as the installed binary reports itself."""
    out = subprocess.run([_squawk(), "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip() or "squawk"


def run_squawk(directory: Path, files: list[str], pg_version: str) -> list[dict[str, Any]]:
    """squawk's JSON findings for ``files`` (names relative to ``directory``)."""
    cmd = [_squawk(), "--reporter", "json", "--pg-version", pg_version, *files]
    done = subprocess.run(cmd, cwd=directory, capture_output=True, text=True, check=False)
    if done.returncode not in (0, 1):
        raise ChatSchemaError(f"squawk failed (exit {done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    try:
        return list(json.loads(done.stdout or "[]"))
    except json.JSONDecodeError:
        raise ChatSchemaError(f"squawk printed something that is not JSON: {done.stdout[:200]!r}") from None
