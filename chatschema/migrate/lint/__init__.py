"""``chatschema lint``: squawk on each revision's offline SQL, plus the checks squawk cannot make.

Pipeline: every revision is rendered on its own, upgrade and downgrade (linting the whole
history at once hides everything: every table looks created in the same transaction) →
one SQL file per revision and direction → ``squawk --reporter json --pg-version N`` → each
finding mapped back to its revision, Python file and line → chatschema's own rules on the same
statements (``rules/``, one module each) → suppressions (``markers``) → findings.

**How a finding gets its Python line.** While Alembic renders the offline script, every
statement it writes is recorded with the innermost stack frame in the revision file: the line
of the ``op.execute``/``op.create_table``/helper call that emitted it (``migrate.render``). That
is exact for the call. When the SQL line squawk flags also appears verbatim in the source of
that call (a literal triple-quoted ``op.execute`` string), the finding points at that line inside it.
Statements Alembic writes itself (its version table, BEGIN/COMMIT) point at env.py; squawk's
findings on Alembic's version table DDL (``chatschema_version``) are dropped, since chatschema does not write it.

**Suppressing a finding** takes a comment in the revision file, with the reason after ``--``::

    # chatschema-lint: ignore prefer-bigint-over-int -- a per-conversation count stays far
    # below 2^31 (the reason may go on in the comment lines right below)

It applies to the next Python statement (the whole of it: a comment above ``def downgrade()``
covers the function), or to the statement on its own line. A marker without a reason, and a
marker that suppresses nothing, are findings themselves.
"""

from __future__ import annotations

import bisect
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ... import doctor, server
from ...errors import ConfigError
from ...migrations import LEGACY_VERSION_TABLE, VERSION_TABLE
from ...settings import Settings, target_pg_version
from ..chain import DEFAULT_LOCATION, RevisionInfo, connection, database_revision, head, history, resolve
from ..offline import Emitted, planned_statements, render
from .findings import LintFinding, LintReport
from .markers import Marker, markers, refine
from .rules import RULES, DatabaseSubject, LintRule, RevisionSubject
from .squawk import run_squawk, squawk_version

__all__ = ["LintRule", "RULES", "LintFinding", "LintReport", "lint", "squawk_version"]


@dataclass(frozen=True)
class _Unit:
    """One revision in one direction, rendered to one SQL file for squawk."""

    revision: str
    direction: str
    path: str
    emitted: list[Emitted]
    starts: list[int]  # the SQL file's line where each emitted statement starts


def _render_units(selected: list[RevisionInfo], location: str, directory: Path) -> tuple[dict[str, _Unit], list[LintFinding]]:
    settings = Settings()
    units: dict[str, _Unit] = {}
    found: list[LintFinding] = []
    for info in selected:
        low = info.down_revision or "base"
        path = str(Path(info.path).resolve())
        for direction, range_ in (("upgrade", f"{low}:{info.revision}"), ("downgrade", f"{info.revision}:{low}")):
            emitted = render(range_, settings, location=location)
            starts, text, line = [], [], 0
            for item in emitted:
                starts.append(line)
                # squawk recognises an Alembic script by Alembic's default version table (its
                # prefer-robust-stmts, for one, depends on it): it reads chatschema's under that name.
                text.append(item.sql.replace(VERSION_TABLE, LEGACY_VERSION_TABLE) + "\n\n")
                line += item.sql.count("\n") + 2
            name = f"{info.revision}.{direction}.sql"
            (directory / name).write_text("".join(text))
            units[name] = _Unit(info.revision, direction, info.path, emitted, starts)
            ours = tuple(s for s in planned_statements(emitted, settings) if s.origin == path)
            subject = RevisionSubject(info.revision, direction, path, ours)
            for rule in RULES.values():
                if rule.revision is not None:
                    found += rule.revision(subject)
    return units, found


def _squawk_findings(units: dict[str, _Unit], results: list[dict[str, Any]]) -> list[LintFinding]:
    found = []
    for item in results:
        unit = units[item["file"]]
        index = max(bisect.bisect_right(unit.starts, int(item["line"])) - 1, 0)
        origin = unit.emitted[index]
        flagged_lines = origin.sql.splitlines() or [""]
        flagged = flagged_lines[min(int(item["line"]) - unit.starts[index], len(flagged_lines) - 1)]
        if VERSION_TABLE in origin.sql:
            continue  # Alembic's own bookkeeping DDL, which chatschema does not write
        line = origin.line
        if origin.origin == str(Path(unit.path).resolve()) and line:
            line = refine(origin.origin, line, flagged)
        found.append(LintFinding(item["rule_name"], item["message"], "squawk", unit.revision, unit.direction,
                                 origin.origin if origin.origin != "alembic" else None, line, flagged.strip(),
                                 item.get("help")))
    return found


def _suppress(raw: list[LintFinding], found_markers: list[Marker]) -> tuple[list[LintFinding], list[LintFinding]]:
    findings, suppressed = [], []
    for f in raw:
        marker = next((m for m in found_markers if m.covers(f.path, f.line, f.rule)), None)
        if marker is None:
            findings.append(f)
            continue
        marker.used.add(f.rule)
        if marker.reason:
            suppressed.append(replace(f, reason=marker.reason))
        else:
            findings.append(f)
    for rule in RULES.values():
        if rule.markers is not None:
            findings += rule.markers(found_markers)
    return findings, suppressed


def _database_subject(settings: Settings, location: str, notes: list[str]) -> DatabaseSubject:
    from ...check import head_differences  # check imports the models (SQLModel): only with --dsn

    differences = []
    with connection(settings) as (info, conn):
        rev = database_revision(conn)
        conn.rollback()
        newest = head(location)
        if location != DEFAULT_LOCATION:
            notes.append("model drift not checked: the models describe chatschema's own chain")
        elif rev != newest:
            notes.append(f"model drift not checked: the database is at {rev or 'no revision'}, head is {newest}")
        else:
            differences = head_differences(settings, conn, newest)
    # Read-only, like check and doctor: it works on a hot standby and under a SELECT-only role.
    with server.connect(info) as raw:
        raw.execute("SET TRANSACTION READ ONLY")
        invalid = []
        for ix in doctor.invalid_indexes(raw):
            if ix.building_pid is not None:
                notes.append(f"{ix.name} on {ix.table} is being built right now by pid {ix.building_pid}")
            else:
                invalid.append(ix)
        problems = doctor.refresh_key_problems(raw)
        raw.rollback()
    return DatabaseSubject(differences, invalid, problems)


def _revision_to_lint(revision: str, location: str, chain: list[RevisionInfo]) -> str:
    """A named revision as an id: 'head' is the newest revision; 'base' names none (it is the empty
    database before the first revision), so it is refused rather than linting nothing and passing."""
    found = resolve(revision, location)
    if found == "base":
        first = chain[0].revision if chain else "the first revision"
        raise ConfigError(f"'base' is no revision to lint: it is the empty database before {first}. Lint the whole "
                          f"chain with `chatschema lint`, or name revisions (`chatschema lint head` is the newest)")
    return head(location) if found in ("head", "heads") else found


def lint(
    *,
    revisions: Sequence[str] = (),
    location: str = DEFAULT_LOCATION,
    pg_version: int | str | None = None,
    settings: Settings | None = None,
) -> LintReport:
    """Lint the chain's revisions (all, or those named), upgrade and downgrade; check ``settings``' database if given.

    ``pg_version`` is the version squawk lints for; by default the server's of ``settings``, else
    ``$CHATSCHEMA_PG_VERSION``, else the embedded default.
    """
    if pg_version is None:
        pg_version = server.server_version(server.conninfo(settings)) if settings else target_pg_version()
    chain = history(location)
    wanted = {_revision_to_lint(r, location, chain) for r in revisions}
    selected = [r for r in chain if not wanted or r.revision in wanted]
    pg = str(pg_version)
    with tempfile.TemporaryDirectory(prefix="chatschema-lint-") as tmp:
        units, raw = _render_units(selected, location, Path(tmp))
        raw += _squawk_findings(units, run_squawk(Path(tmp), sorted(units), pg) if units else [])
    found_markers = [m for info in selected for m in markers(info.revision, str(Path(info.path).resolve()))]
    findings, suppressed = _suppress(raw, found_markers)
    notes: list[str] = []
    database = None
    if settings is not None:
        database = server.describe_target(server.conninfo(settings))
        subject = _database_subject(settings, location, notes)
        for rule in RULES.values():
            if rule.database is not None:
                findings += rule.database(subject)
    order = {r.revision: i for i, r in enumerate(chain)}

    def key(f: LintFinding) -> tuple:
        return (f.source == "database", order.get(f.revision or "", -1), f.direction != "upgrade", f.path or "",
                f.line or 0, f.rule)

    findings.sort(key=key)
    suppressed.sort(key=key)
    return LintReport(tuple(findings), tuple(suppressed), tuple(notes), tuple(r.revision for r in selected),
                      squawk_version(), pg, database)
