"""Findings for code hosts: SARIF 2.1.0 logs and GitHub Actions workflow commands.

The plan validator and lint each turn their findings into ``Annotation`` values (a rule, a
message, a file and line) and hand them here, so both speak SARIF and ``::error`` the same way.
SARIF paths are relative to the working directory (``%SRCROOT%``, the checkout in CI) when the
file is under it, so a code host can place the result on the diff; a file elsewhere (an installed
package) gets an absolute ``file:`` URI.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import __version__

__all__ = ["Annotation", "RuleInfo", "sarif", "github", "LEVELS", "SARIF_SCHEMA"]

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = ("error", "warning", "note")
_GITHUB = {"error": "error", "warning": "warning", "note": "notice"}


@dataclass(frozen=True)
class RuleInfo:
    """A rule as SARIF's ``reportingDescriptor``: its id, one-line summary and the fix."""

    id: str
    summary: str
    help: str = ""


@dataclass(frozen=True)
class Annotation:
    """One finding placed in a file: ``path`` absolute or relative, ``line`` 1-based (None: the file)."""

    rule: str
    message: str
    level: str = "error"
    path: str | None = None
    line: int | None = None
    title: str = ""  # GitHub's annotation title; SARIF's logical location (the query, the revision)
    properties: tuple[tuple[str, Any], ...] = field(default=())

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"level must be one of {LEVELS}, got {self.level!r}")


def _relative(path: str) -> str | None:
    try:
        return Path(path).resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return None


def _artifact(path: str) -> dict[str, str]:
    relative = _relative(path)
    if relative is not None:
        return {"uri": relative, "uriBaseId": "%SRCROOT%"}
    return {"uri": Path(path).resolve().as_uri()}


def sarif(tool: str, rules: Sequence[RuleInfo], annotations: Iterable[Annotation]) -> str:
    """A SARIF 2.1.0 log with one run of ``tool``: its rules, and a result per annotation."""
    index = {r.id: i for i, r in enumerate(rules)}
    results = []
    for a in annotations:
        result: dict[str, Any] = {"ruleId": a.rule, "level": a.level, "message": {"text": a.message}}
        if a.rule in index:
            result["ruleIndex"] = index[a.rule]
        location: dict[str, Any] = {}
        if a.path:
            physical: dict[str, Any] = {"artifactLocation": _artifact(a.path)}
            if a.line:
                physical["region"] = {"startLine": a.line}
            location["physicalLocation"] = physical
        if a.title:
            location["logicalLocations"] = [{"name": a.title}]
        if location:
            result["locations"] = [location]
        if a.properties:
            result["properties"] = dict(a.properties)
        results.append(result)
    driver: dict[str, Any] = {
        "name": tool, "version": __version__,
        "rules": [{"id": r.id, "name": r.id, "shortDescription": {"text": r.summary or r.id},
                   **({"help": {"text": r.help}} if r.help else {})} for r in rules],
    }
    run = {"tool": {"driver": driver}, "results": results,
           "originalUriBaseIds": {"%SRCROOT%": {"uri": Path.cwd().resolve().as_uri() + "/"}}}
    log = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(log, indent=2, default=str) + "\n"


def _data(value: str) -> str:
    # GitHub's workflow-command escaping: a message may not carry a raw newline or percent sign.
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(value: str) -> str:
    return _data(value).replace(":", "%3A").replace(",", "%2C")


def github(annotations: Iterable[Annotation]) -> str:
    """One ``::error file=...,line=...,title=...::message`` line per annotation (GitHub Actions)."""
    lines = []
    for a in annotations:
        props = []
        if a.path:
            props.append(f"file={_property(_relative(a.path) or a.path)}")
            if a.line:
                props.append(f"line={a.line}")
        props.append(f"title={_property(f'{a.rule}: {a.title}' if a.title else a.rule)}")
        lines.append(f"::{_GITHUB[a.level]} {','.join(props)}::{_data(a.message)}")
    return "".join(line + "\n" for line in lines)
