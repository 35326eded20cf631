"""``chatschema lint``: squawk on each revision's offline SQL, plus the checks squawk cannot make.

Pipeline: every revision is rendered on its own, upgrade and downgrade (linting the whole
history at once hides everything: every table looks created in the same transaction) →
one SQL file per revision and direction → ``squawk --reporter json --pg-version N`` → each
finding mapped back to its revision, Python file and line → chatschema's own rules on the same
statements → suppressions → findings.

**How a finding gets its Python line.** While Alembic renders the offline script, every
statement it writes is recorded with the innermost stack frame in the revision file: the line
of the ``op.execute``/``op.create_table``/helper call that emitted it (``migrate.render``). That
is exact for the call. When the SQL line squawk flags also appears verbatim in the source of
that call (a literal triple-quoted ``op.execute`` string), the finding points at that line inside it.
Statements Alembic writes itself (its version table, BEGIN/COMMIT) point at env.py; squawk's
findings on Alembic's own ``alembic_version`` DDL are dropped, since chatschema does not write it.

**Suppressing a finding** takes a comment in the revision file, with the reason after ``--``::

    # chatschema-lint: ignore prefer-bigint-over-int -- a per-conversation count stays far
    # below 2^31 (the reason may go on in the comment lines right below)

It applies to the next Python statement (the whole of it: a comment above ``def downgrade()``
covers the function), or to the statement on its own line. A marker without a reason, and a
marker that suppresses nothing, are findings themselves.
"""

from __future__ import annotations

import ast
import bisect
import json
import re
import shutil
import subprocess
import sysconfig
import tempfile
import tokenize
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path

from ... import doctor, migrate, server
from ...errors import ChatSchemaError, ConfigError
from ..locks import BOOKKEEPING_TABLES, normalize
from .. import DEFAULT_LOCATION, PlannedStatement
from ...settings import Settings

__all__ = ["Rule", "RULES", "Finding", "LintReport", "lint", "squawk_version"]


@dataclass(frozen=True)
class Rule:
    name: str
    problem: str
    fix: str


RULES = {r.name: r for r in (
    Rule("concurrently-in-mixed-revision",
         "A CONCURRENTLY index statement shares its revision with transactional work. autocommit_block() commits "
         "that work before the build starts; if the build then fails, the revision is half applied and not "
         "stamped, and a re-run repeats the committed part.",
         "Give the concurrent statement a revision of its own (chatschema.ddl.create_index_concurrently)."),
    Rule("backfill-in-ddl-revision",
         "A data backfill (UPDATE, DELETE, INSERT ... SELECT) runs in a revision that also changes the schema. In "
         "one transaction it holds the DDL's locks for the whole backfill, and it can be neither batched nor resumed.",
         "Move the backfill to a revision of its own that commits keyset batches with a checkpoint "
         "(chatschema.backfill), between the revision that adds the columns and the one that validates them."),
    Rule("matview-refresh-key",
         "A materialized view has no unique index that REFRESH MATERIALIZED VIEW CONCURRENTLY can use (it needs a "
         "valid UNIQUE index on plain columns with no WHERE), or its key columns hold NULLs, which make every "
         "concurrent refresh delete and re-insert those rows.",
         "Create a UNIQUE index on plain, never-NULL columns with no WHERE clause; COALESCE nullable key columns in "
         "the view's query."),
    Rule("index-shape-drift",
         "An index in the database differs from the models (INCLUDE, WHERE, DESC, opclass, method), is missing, or "
         "is not in the models. Alembic's autogenerate compares none of these.",
         "Build the model's shape under a new name concurrently, then drop the old one concurrently."),
    Rule("schema-drift",
         "A column, constraint or storage parameter in the database differs from the models.",
         "Write a revision that brings the database to the models (or the models to the database)."),
    Rule("invalid-index",
         "An index is INVALID: a concurrent build failed or was cancelled. It costs every write and serves no read; "
         "IF NOT EXISTS would silently accept it.",
         "DROP INDEX CONCURRENTLY it, then re-run `chatschema upgrade`, which rebuilds chatschema's indexes."),
    Rule("ignore-without-reason",
         "A chatschema-lint ignore marker gives no reason.",
         "Add the reason after `--`: the next reader needs to know why the rule does not apply."),
    Rule("unused-ignore",
         "A chatschema-lint ignore marker suppresses nothing (the finding it was for is gone).",
         "Remove the marker, or the rule from it."),
)}


@dataclass(frozen=True)
class Finding:
    rule: str
    message: str
    source: str  # squawk | chatschema | database
    revision: str | None = None
    direction: str | None = None
    path: str | None = None
    line: int | None = None
    statement: str | None = None  # the SQL line the finding is about
    hint: str | None = None
    reason: str | None = None  # why it is suppressed, for suppressed findings

    @property
    def where(self) -> str:
        if self.path is None:
            return "database" if self.source == "database" else f"revision {self.revision} {self.direction} (Alembic)"
        return f"{_display(self.path)}:{self.line}" if self.line else _display(self.path)


@dataclass(frozen=True)
class LintReport:
    findings: tuple[Finding, ...]
    suppressed: tuple[Finding, ...]
    notes: tuple[str, ...]
    revisions: tuple[str, ...]
    squawk: str
    pg_version: str
    database: str | None


def _display(path: str) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return path


# --- squawk -----------------------------------------------------------------------------------


def _squawk() -> str:
    # The wheel installs the binary next to the interpreter's scripts, which need not be on PATH.
    candidate = Path(sysconfig.get_path("scripts")) / "squawk"
    found = str(candidate) if candidate.exists() else shutil.which("squawk")
    if not found:
        raise ConfigError("squawk is not installed: pip install squawk-cli (it is a chatschema dependency)")
    return found


@cache
def squawk_version() -> str:
    out = subprocess.run([_squawk(), "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip() or "squawk"


def _run_squawk(directory: Path, files: list[str], pg_version: str) -> list[dict]:
    cmd = [_squawk(), "--reporter", "json", "--pg-version", pg_version, *files]
    done = subprocess.run(cmd, cwd=directory, capture_output=True, text=True, check=False)
    if done.returncode not in (0, 1):
        raise ChatSchemaError(f"squawk failed (exit {done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    try:
        return list(json.loads(done.stdout or "[]"))
    except json.JSONDecodeError:
        raise ChatSchemaError(f"squawk printed something that is not JSON: {done.stdout[:200]!r}") from None


# --- Python side: statement spans and suppression markers -------------------------------------

_MARKER = re.compile(r"#\s*chatschema-lint:\s*ignore\s+([\w-]+(?:\s*,\s*[\w-]+)*)\s*(?:--\s*(.*?))?\s*$")


@dataclass
class _Marker:
    revision: str
    path: str
    line: int
    rules: tuple[str, ...]
    reason: str
    span: tuple[int, int]
    used: set[str] = field(default_factory=set)


@cache
def _source(path: str) -> tuple[list[str], list[tuple[int, int]]]:
    text = Path(path).read_text()
    spans = [(n.lineno, n.end_lineno or n.lineno) for n in ast.walk(ast.parse(text)) if isinstance(n, ast.stmt)]
    return text.splitlines(), spans


def _statement_span(path: str, line: int, *, starting: bool = False) -> tuple[int, int]:
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


def _markers(revision: str, path: str) -> list[_Marker]:
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
            # The reason may go on in the comment lines right below the marker.
            while not trailing and last < len(lines) and lines[last].strip().startswith("#") \
                    and not _MARKER.search(lines[last]):
                reason = f"{reason} {lines[last].strip().lstrip('#').strip()}".strip()
                last += 1
            span = _statement_span(path, row) if trailing else _statement_span(path, last + 1, starting=True)
            rules = tuple(r.strip() for r in m.group(1).split(","))
            out.append(_Marker(revision, path, row, rules, reason, span))
    return out


def _refine(path: str, call_line: int, flagged: str) -> int:
    """The line of the flagged SQL inside the emitting call's source, when it is written there literally."""
    lines, _ = _source(path)
    needle = flagged.strip().rstrip(",;")
    if len(needle) < 8:
        return call_line
    start, end = _statement_span(path, call_line)
    for number in range(start, end + 1):
        if needle in lines[number - 1]:
            return number
    return call_line


# --- chatschema's own rules on the rendered statements ----------------------------------------

_UNIQUE_INDEX = re.compile(
    r"CREATE UNIQUE INDEX (?:CONCURRENTLY )?(?:IF NOT EXISTS )?(?:\S+ )?ON (?:ONLY )?(\S+) (?:USING \w+ )?\((.*)$",
    re.IGNORECASE,
)
_PLAIN_KEY = re.compile(r'^(?:"[^"]+"|[A-Za-z_]\w*)(?:\s+COLLATE\s+\S+)?(?:\s+\w+_ops)?(?:\s+(?:ASC|DESC))?'
                        r"(?:\s+NULLS\s+(?:FIRST|LAST))?$", re.IGNORECASE)


def _unique_index_problem(sql: str) -> tuple[str, str | None] | None:
    """(view, None) for a unique index a concurrent refresh can use, (view, why not) otherwise."""
    m = _UNIQUE_INDEX.match(normalize(sql))
    if not m:
        return None
    view = m.group(1).replace('"', "")
    rest, depth = m.group(2), 1
    for i, ch in enumerate(rest):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth == 0:
            keys, tail = rest[:i], rest[i + 1 :]
            break
    else:
        return view, "its definition could not be read"
    if re.search(r"\bWHERE\b", tail, re.IGNORECASE):
        return view, "it is partial (WHERE)"
    elements = [e.strip() for e in re.split(r",(?![^(]*\))", keys)]
    if not all(_PLAIN_KEY.match(e) for e in elements):
        return view, "it indexes an expression"
    return view, None


def _first_line(sql: str, width: int = 100) -> str:
    text = normalize(sql)
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def _own_rules(revision: str, direction: str, statements: list[PlannedStatement], path: str) -> list[Finding]:
    ours = [s for s in statements if s.origin == path]
    found = []

    def finding(rule: str, st: PlannedStatement, message: str) -> Finding:
        first = next((ln for ln in st.sql.splitlines() if ln.strip()), "")
        line = _refine(path, st.line, first) if st.line else None
        return Finding(rule, message, "chatschema", revision, direction, path, line, _first_line(st.sql),
                       RULES[rule].fix)

    concurrent = [s for s in ours if s.lock.concurrently and "index" in s.lock.kind]
    transactional = [s for s in ours if s.in_transaction and s.lock.kind not in ("query", "DO block: catalog check")]
    if concurrent and transactional:
        other = transactional[0]
        found.append(finding(
            "concurrently-in-mixed-revision", concurrent[0],
            f"{concurrent[0].lock.kind} shares revision {revision} with transactional work ({_first_line(other.sql, 60)}"
            f" at line {other.line}): autocommit_block() commits that work first, so a failed build leaves the "
            f"revision half applied",
        ))

    def relations(s: PlannedStatement) -> set[str]:
        return {lk.relation for lk in s.lock.locks} | set(s.lock.creates)

    backfills = [s for s in ours if s.lock.dml]
    schema = [s for s in ours if (s.lock.ddl or s.lock.creates) and not relations(s) <= set(BOOKKEEPING_TABLES)]
    if backfills and schema:
        found.append(finding(
            "backfill-in-ddl-revision", backfills[0],
            f"a data backfill ({_first_line(backfills[0].sql, 60)}) runs in revision {revision}, which also changes "
            f"the schema ({_first_line(schema[0].sql, 60)} at line {schema[0].line})",
        ))

    views = {lk.relation: s for s in ours if s.lock.kind.startswith("create materialized view")
             for lk in s.lock.locks if lk.new}
    usable: dict[str, bool] = {v: False for v in views}
    problems: dict[str, tuple[PlannedStatement, str]] = {}
    for s in ours:
        shape = _unique_index_problem(s.sql)
        if shape and shape[0] in views:
            if shape[1] is None:
                usable[shape[0]] = True
            else:
                problems.setdefault(shape[0], (s, shape[1]))
    for view, ok in usable.items():
        if not ok:
            st, why = problems.get(view, (views[view], "it has no unique index"))
            found.append(finding("matview-refresh-key", st,
                                 f"materialized view {view} cannot be refreshed concurrently: {why}"))
    return found


# --- the database ---------------------------------------------------------------------------


def _database_rules(settings: Settings, location: str, notes: list[str]) -> list[Finding]:
    from ...check import compare_schema

    info = server.conninfo(settings)
    found: list[Finding] = []
    engine = migrate.engine_for(info)
    try:
        with engine.connect() as conn:
            rev = migrate.MigrationContext.configure(conn).get_current_revision()
            conn.rollback()
            head = migrate.script_directory(location).get_current_head()
            if location != DEFAULT_LOCATION:
                notes.append("model drift not checked: the models describe chatschema's own chain")
            elif rev != head:
                notes.append(f"model drift not checked: the database is at {rev or 'no revision'}, head is {head}")
            else:
                for diff in compare_schema(conn):
                    if diff.kind == "materialized view":
                        continue  # reported below, with the reason, by matview-refresh-key
                    rule = "index-shape-drift" if diff.kind == "index" else "schema-drift"
                    found.append(Finding(rule, str(diff), "database", hint=RULES[rule].fix))
    finally:
        engine.dispose()
    with server.connect(info, autocommit=True) as raw:
        for ix in doctor.invalid_indexes(raw):
            if ix.building_pid is not None:
                notes.append(f"{ix.name} on {ix.table} is being built right now by pid {ix.building_pid}")
                continue
            found.append(Finding("invalid-index", f"{ix.name} on {ix.table} is INVALID: {ix.definition}", "database",
                                 hint=f"DROP INDEX CONCURRENTLY {ix.name}; then re-run `chatschema upgrade`"))
        for view, problem in doctor.refresh_key_problems(raw):
            found.append(Finding("matview-refresh-key", f"materialized view {view}: {problem}", "database",
                                 hint=RULES["matview-refresh-key"].fix))
    return found


# --- putting it together --------------------------------------------------------------------


def lint(
    *,
    revisions: Sequence[str] = (),
    location: str = DEFAULT_LOCATION,
    pg_version: int | str = 18,
    settings: Settings | None = None,
) -> LintReport:
    """Lint the chain's revisions (all, or those named), upgrade and downgrade; check ``settings``' database if given."""
    chain = migrate.history(location)
    wanted = {migrate._resolve(r, location) for r in revisions}
    selected = [r for r in chain if not wanted or r.revision in wanted]
    pg = str(pg_version)
    render_settings = Settings()
    units: dict[str, tuple[str, str, str, list[migrate.Emitted], list[int]]] = {}
    raw: list[Finding] = []
    with tempfile.TemporaryDirectory(prefix="chatschema-lint-") as tmp:
        for info in selected:
            low = info.down_revision or "base"
            for direction, range_ in (("upgrade", f"{low}:{info.revision}"), ("downgrade", f"{info.revision}:{low}")):
                emitted = migrate.render(range_, render_settings, location=location)
                starts, text, line = [], [], 0
                for item in emitted:
                    starts.append(line)
                    text.append(item.sql + "\n\n")
                    line += item.sql.count("\n") + 2
                name = f"{info.revision}.{direction}.sql"
                (Path(tmp) / name).write_text("".join(text))
                units[name] = (info.revision, direction, info.path, emitted, starts)
                statements = migrate.planned_statements(emitted, render_settings)
                raw += _own_rules(info.revision, direction, statements, str(Path(info.path).resolve()))
        results = _run_squawk(Path(tmp), sorted(units), pg) if units else []
    for item in results:
        revision, direction, path, emitted, starts = units[item["file"]]
        index = max(bisect.bisect_right(starts, int(item["line"])) - 1, 0)
        origin = emitted[index]
        flagged_lines = origin.sql.splitlines() or [""]
        flagged = flagged_lines[min(int(item["line"]) - starts[index], len(flagged_lines) - 1)]
        if "alembic_version" in origin.sql:
            continue  # Alembic's own bookkeeping DDL, which chatschema does not write
        line = origin.line
        if origin.origin == str(Path(path).resolve()) and line:
            line = _refine(origin.origin, line, flagged)
        raw.append(Finding(item["rule_name"], item["message"], "squawk", revision, direction,
                           origin.origin if origin.origin != "alembic" else None, line, flagged.strip(),
                           item.get("help")))
    markers = [m for info in selected for m in _markers(info.revision, str(Path(info.path).resolve()))]
    findings, suppressed = [], []
    for f in raw:
        marker = next((m for m in markers if f.path == m.path and f.line is not None
                       and m.span[0] <= f.line <= m.span[1] and f.rule in m.rules), None)
        if marker is None:
            findings.append(f)
            continue
        marker.used.add(f.rule)
        if marker.reason:
            suppressed.append(replace(f, reason=marker.reason))
        else:
            findings.append(f)
    for m in markers:
        if not m.reason:
            findings.append(Finding("ignore-without-reason", f"ignore {', '.join(m.rules)} gives no reason",
                                    "chatschema", m.revision, path=m.path, line=m.line,
                                    hint=RULES["ignore-without-reason"].fix))
        for rule in m.rules:
            if rule not in m.used:
                findings.append(Finding("unused-ignore", f"ignore {rule} suppresses nothing", "chatschema",
                                        m.revision, path=m.path, line=m.line, hint=RULES["unused-ignore"].fix))
    notes: list[str] = []
    database = None
    if settings is not None:
        database = server.describe_target(server.conninfo(settings))
        findings += _database_rules(settings, location, notes)
    order = {r.revision: i for i, r in enumerate(chain)}

    def key(f: Finding) -> tuple:
        return (f.source == "database", order.get(f.revision or "", -1), f.direction != "upgrade", f.path or "",
                f.line or 0, f.rule)

    findings.sort(key=key)
    suppressed.sort(key=key)
    return LintReport(tuple(findings), tuple(suppressed), tuple(notes), tuple(r.revision for r in selected),
                      squawk_version(), pg, database)
