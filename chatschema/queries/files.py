"""App teams' queries, outside chatschema's source: a directory of ``.sql`` files, one query each,
with its plan contract in a comment header.

The format (docs/app-queries.md has a worked example)::

    -- chatschema-query: recent_messages
    -- summary: a conversation's newest messages, a page at a time
    -- revision: head
    -- page-rows: 21
    -- uses: ix_messages_conversation_recent on messages (conversation_id, created_at, id)
    -- max-rows-read: 44
    -- max-buffers: 30
    -- param conversation_id: longest conversation
    -- param limit: 21
    -- case longest conversation, first page: before_at = first page at; before_id = first page id
    -- case longest conversation, deep page: before_at = deep message cursor at; before_id = deep message cursor id
    SELECT ...

Every header line is ``-- key: value`` (a line indented by two more spaces after ``--`` continues
the value above); the header ends at the first line that is not a comment.
``param NAME: SOURCE`` gives a parameter's value in every case, ``case NAME: p = SOURCE; ...`` one
case's values (the first case is the primary one: the capability probe and growth use it). A source
is a row taken from the data (``SOURCES``: the heaviest user, the longest conversation, a deep
cursor...), an integer, or a 'quoted string'. The values are resolved on each database by
``chatschema.plans.app_params``; here they are only parsed and checked. A mistake is a
``QueryFileError`` naming the file and line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError
from .contract import HOT_TABLES, Contract, IndexUse
from .locate import Location
from .query import PARAM, Query, Statement

__all__ = ["FileQuery", "QueryFileError", "SOURCES", "load_file", "load_dir", "VARIANT"]

VARIANT = "app"

SOURCES: dict[str, str] = {
    "heaviest user": "the user with the most conversations",
    "typical user": "the user with the median number of conversations",
    "idle user": "a user with no conversations",
    "longest conversation": "the conversation with the most messages",
    "owner of longest conversation": "the user who owns the longest conversation",
    "typical conversation": "a conversation with the median number of messages",
    "owner of typical conversation": "the user who owns the typical conversation",
    "empty conversation": "a conversation with no messages",
    "owner of empty conversation": "the user who owns the empty conversation",
    "first page at": "the first page's cursor time ('infinity')",
    "first page id": "the first page's cursor id (ffffffff-...)",
    "deep conversation cursor at": "last_activity_at of the row in the middle of the heaviest user's list (head)",
    "deep conversation cursor id": "id of that row",
    "deep conversation offset": "the OFFSET of that row",
    "deep message cursor at": "created_at of the message in the middle of the longest conversation (head)",
    "deep message cursor id": "id of that message",
    "deep message offset": "the OFFSET of that message",
    "range start": "30 days before range end",
    "range end": "the day after the newest message",
}
"""Where a parameter's value comes from, by name, and what it is."""

_NUMBER = re.compile(r"^-?\d+$")
_QUOTED = re.compile(r"^'((?:[^']|'')*)'$")
_USES = re.compile(r"^(?P<index>\w+)(?:\s+or\s+(?P<also>\w+(?:\s*,\s*\w+)*))?\s+on\s+(?P<table>\w+)"
                   r"(?:\s*\((?P<cond>[\w\s,]*)\))?(?P<flags>(?:\s+(?:probe-only|index-only))*)\s*$")
_INTS = {"page-rows": "page_rows", "max-rows-read": "max_rows_read", "max-buffers": "max_buffers",
         "max-sort-rows": "max_sort_rows", "max-subplan-loops": "max_subplan_loops",
         "max-index-searches": "max_index_searches"}
_KEYS = {"chatschema-query", "summary", "revision", "uses", "growth", "no-seq-scan", "writes", *_INTS}


class QueryFileError(ConfigError):
    """A query file whose header chatschema cannot read; the message starts with ``file:line:``."""


@dataclass(frozen=True)
class FileQuery(Query):
    """A query from an app team's ``.sql`` file: operation is its name, variant ``app``.

    ``recipes`` holds the cases: (case name, ((parameter, source), ...)), the first the primary one.
    """

    location: Location | None = field(default=None, compare=False)
    recipes: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()

    def __post_init__(self) -> None:
        Statement(self.sql, self.params)  # one statement, parameters in order of use


def _fail(path: Path, line: int, message: str) -> QueryFileError:
    return QueryFileError(f"{path}:{line}: {message}")


def _source(path: Path, line: int, value: str) -> str:
    value = value.strip()
    if value in SOURCES or _NUMBER.match(value) or _QUOTED.match(value):
        return value
    raise _fail(path, line, f"unknown parameter source {value!r}; use an integer, a 'quoted string' or one of: "
                            f"{', '.join(SOURCES)}")


def _int(path: Path, line: int, key: str, value: str) -> int:
    if not _NUMBER.match(value.strip()) or int(value) < 0:
        raise _fail(path, line, f"{key}: expected a whole number >= 0, got {value.strip()!r}")
    return int(value)


def _use(path: Path, line: int, value: str) -> IndexUse:
    m = _USES.match(value.strip())
    if not m:
        raise _fail(path, line, f"uses: expected 'INDEX [or OTHER] on TABLE (col, ...) [probe-only] [index-only]', "
                                f"got {value.strip()!r}")
    cond = tuple(c.strip() for c in (m["cond"] or "").split(",") if c.strip())
    also = tuple(a.strip() for a in (m["also"] or "").split(",") if a.strip())
    flags = (m["flags"] or "").split()
    return IndexUse(m["index"], m["table"], cond=cond, also=also, chosen="probe-only" not in flags,
                    index_only="index-only" in flags)


def load_file(path: str | Path) -> FileQuery:
    """The query of one ``.sql`` file, its contract and cases checked; QueryFileError names file and line."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise QueryFileError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise QueryFileError(f"{path}: not UTF-8 text") from None
    header: list[tuple[int, str, str]] = []
    body_start = len(lines)
    for i, raw in enumerate(lines, 1):
        text = raw.strip()
        if not text:
            continue
        if not text.startswith("--"):
            body_start = i
            break
        content = text[2:].strip()
        if not content or content.startswith("--"):
            continue  # a blank or '-- -- note' comment
        if text[2:].startswith("  ") and header:  # an indented line continues the value above
            line, key, value = header[-1]
            header[-1] = (line, key, f"{value} {content}".strip())
            continue
        key, sep, value = content.partition(":")
        if not sep:
            raise _fail(path, i, f"expected '-- key: value' in the header, got {text!r}")
        header.append((i, key.strip(), value.strip()))
    if not header or header[0][1] != "chatschema-query":
        raise _fail(path, header[0][0] if header else 1, "the header must start with '-- chatschema-query: NAME'")
    sql = "\n".join(lines[body_start - 1:]).strip().rstrip(";").strip()
    if not sql:
        raise _fail(path, len(lines) or 1, "no SQL after the header")
    fields: dict[str, object] = {}
    uses: list[IndexUse] = []
    defaults: list[tuple[str, str]] = []
    cases: list[tuple[str, list[tuple[str, str]]]] = []
    name = header[0][2]
    if not re.match(r"^[a-z][a-z0-9_]*$", name):
        raise _fail(path, header[0][0], f"chatschema-query: expected a snake_case name, got {name!r}")
    summary, revision, writes = "", "head", False
    no_seq_scan: tuple[str, ...] = HOT_TABLES
    o_page = True
    for line, key, value in header[1:]:
        if key.startswith("param "):
            defaults.append((key[6:].strip(), _source(path, line, value)))
        elif key.startswith("case "):
            assignments = []
            for part in filter(None, (p.strip() for p in value.split(";"))):
                param, eq, source = part.partition("=")
                if not eq:
                    raise _fail(path, line, f"case: expected 'param = source; ...', got {part!r}")
                assignments.append((param.strip(), _source(path, line, source)))
            cases.append((key[5:].strip(), assignments))
        elif key in _INTS:
            fields[_INTS[key]] = _int(path, line, key, value)
        elif key == "uses":
            uses.append(_use(path, line, value))
        elif key == "summary":
            summary = value
        elif key == "revision":
            if value not in ("head", "0001"):
                raise _fail(path, line, f"revision: expected head or 0001, got {value!r}")
            revision = value
        elif key == "growth":
            if value not in ("o-page", "any"):
                raise _fail(path, line, f"growth: expected o-page (cost independent of the table) or any, got {value!r}")
            o_page = value == "o-page"
        elif key == "no-seq-scan":
            no_seq_scan = tuple(t.strip() for t in value.split(",") if t.strip() and t.strip() != "none")
        elif key == "writes":
            if value not in ("yes", "no"):
                raise _fail(path, line, f"writes: expected yes or no, got {value!r}")
            writes = value == "yes"
        else:
            raise _fail(path, line, f"unknown header key {key!r}; keys are {', '.join(sorted(_KEYS))}, "
                                    f"'param NAME' and 'case NAME'")
    if "page_rows" not in fields:
        raise _fail(path, header[0][0], "page-rows is required (the rows one execution returns at most)")
    params = tuple(dict.fromkeys(PARAM.findall(sql)))
    recipes = []
    for case_name, assignments in cases or [("default", [])]:
        values = dict(defaults)
        values.update(assignments)
        missing = [p for p in params if p not in values]
        case_line = next((ln for ln, k, _ in header if k == f"case {case_name}"), header[0][0])
        if missing:
            raise _fail(path, case_line, f"case {case_name!r}: no value for parameter(s) {', '.join(missing)}")
        extra = [p for p in values if p not in params]
        if extra:
            raise _fail(path, case_line, f"case {case_name!r}: {', '.join(extra)} not used by the SQL "
                                         f"(its parameters: {', '.join(params) or 'none'})")
        recipes.append((case_name, tuple((p, values[p]) for p in params)))
    contract = Contract(uses=tuple(uses), no_seq_scan=no_seq_scan, o_page=o_page, summary=summary,
                        **fields)  # type: ignore[arg-type]
    try:
        return FileQuery(operation=name, variant=VARIANT, sql=sql, params=params, revision=revision,
                         contract=contract, writes=writes, notes=summary,
                         location=Location(str(path.resolve()), body_start), recipes=tuple(recipes))
    except ValueError as exc:
        raise _fail(path, body_start, str(exc)) from None


def load_dir(directory: str | Path) -> tuple[FileQuery, ...]:
    """Every ``*.sql`` file of ``directory``, by file name; names must be unique."""
    directory = Path(directory)
    if not directory.is_dir():
        raise QueryFileError(f"--queries: {directory} is not a directory")
    files = sorted(directory.glob("*.sql"))
    if not files:
        raise QueryFileError(f"--queries: {directory} has no .sql files")
    queries = tuple(load_file(f) for f in files)
    seen: dict[str, Path] = {}
    for q, f in zip(queries, files, strict=True):
        if q.operation in seen:
            raise QueryFileError(f"{f}:1: query name {q.operation!r} is also used by {seen[q.operation]}")
        seen[q.operation] = f
    return queries
