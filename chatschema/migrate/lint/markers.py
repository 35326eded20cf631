"""Suppression markers in revision files, and the Python statement a SQL line belongs to.

A marker is a comment ``# chatschema-lint: ignore RULE[,RULE] -- reason``; the reason may go on in
the comment lines right below it. It applies to the next Python statement (the whole of it: a
comment above ``def downgrade()`` covers the function), or, written at the end of a line, to the
statement on that line.
"""

from __future__ import annotations

import ast
import re
import tokenize
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

__all__ = ["Marker", "markers", "statement_span", "refine"]

_MARKER = re.compile(r"#\s*chatschema-lint:\s*ignore\s+([\w-]+(?:\s*,\s*[\w-]+)*)\s*(?:--\s*(.*?))?\s*$")


@dataclass
class Marker:
    revision: str
    path: str
    line: int
    rules: tuple[str, ...]
    reason: str
    span: tuple[int, int]  # the lines of the statement it covers
    used: set[str] = field(default_factory=set)  # the rules it suppressed a finding of

    def covers(self, path: str | None, line: int | None, rule: str) -> bool:
        return path == self.path and line is not None and self.span[0] <= line <= self.span[1] and rule in self.rules


@cache
def _source(path: str) -> tuple[list[str], list[tuple[int, int]]]:
    text = Path(path).read_text()
    spans = [(n.lineno, n.end_lineno or n.lineno) for n in ast.walk(ast.parse(text)) if isinstance(n, ast.stmt)]
    return text.splitlines(), spans


def statement_span(path: str, line: int, *, starting: bool = False) -> tuple[int, int]:
    """The innermost statement containing ``line`` (or, with ``starting``, the outermost one starting after it)."""
    _, spans = _source(path)
    if starting:
        after = [s for s in spans if s[0] >= line]
        if not after:
            return (line, line)
        first = min(s[0] for s in after)
        return max((s for s in after if s[0] == first), key=lambda s: s[1])
    containing = [s for s in spans if s[0] <= line <= s[1]]
    return min(containing, key=lambda s: s[1] - s[0]) if containing else (line, line)


def markers(revision: str, path: str) -> list[Marker]:
    """Every suppression marker in the revision file ``path``."""
    lines, _ = _source(path)
    out = []
    with open(path, "rb") as handle:
        for tok in tokenize.tokenize(handle.readline):
            if tok.type != tokenize.COMMENT or not (m := _MARKER.search(tok.string)):
                continue
            row = tok.start[0]
            reason = (m.group(2) or "").strip()
            trailing = lines[row - 1][: tok.start[1]].strip() != ""
            last = row
            while not trailing and last < len(lines) and lines[last].strip().startswith("#") \
                    and not _MARKER.search(lines[last]):
                reason = f"{reason} {lines[last].strip().lstrip('#').strip()}".strip()
                last += 1
            span = statement_span(path, row) if trailing else statement_span(path, last + 1, starting=True)
            rules = tuple(r.strip() for r in m.group(1).split(","))
            out.append(Marker(revision, path, row, rules, reason, span))
    return out


def refine(path: str, call_line: int, flagged: str) -> int:
    """The line of the flagged SQL inside the emitting call's source, when it is written there literally."""
    lines, _ = _source(path)
    needle = flagged.strip().rstrip(",;")
    if len(needle) < 8:
        return call_line
    start, end = statement_span(path, call_line)
    for number in range(start, end + 1):
        if needle in lines[number - 1]:
            return number
    return call_line
