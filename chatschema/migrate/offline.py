"""The offline script: the SQL a migration would run, for review, for ``psql -f``, and for analysis.

``offline_sql`` is what ``chatschema sql`` prints. ``render`` gives the same script statement by
statement, each with the Python line that emitted it (so lint can point at a revision's line), and
``planned_statements`` adds what the runner would run each statement under: inside the revision's
transaction or in an autocommit block, and with which lock and statement timeouts.
"""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from alembic import command
from alembic.config import Config

from ..errors import UnknownRevision
from ..migrations import VERSION_TABLE
from ..settings import Settings
from . import locks
from .chain import DEFAULT_LOCATION, alembic_config, history, resolve, script_directory

__all__ = ["Emitted", "PlannedStatement", "render", "offline_sql", "planned_statements"]

_ENVIRONMENT = Path(__file__).resolve().parent.parent / "migrations" / "environment.py"


@dataclass(frozen=True)
class Emitted:
    """One statement of the offline script and the Python line that emitted it.

    ``origin`` is the revision file when the statement came from a revision (directly or
    through a helper it called: the revision's own call site is kept), else the env/environment
    file, else 'alembic' (its version table, BEGIN/COMMIT, comments).
    """

    sql: str
    origin: str
    line: int | None


class _Recorder(io.StringIO):
    """An output buffer that remembers, for each write, the innermost frame in a revision file."""

    def __init__(self, versions_dir: Path, env_files: tuple[Path, ...]) -> None:
        super().__init__()
        self.items: list[Emitted] = []
        self._versions = str(versions_dir.resolve())
        self._env = {str(p.resolve()) for p in env_files}

    def write(self, text: str) -> int:
        origin, line = "alembic", None
        frame = sys._getframe(1)
        env_hit: tuple[str, int] | None = None
        while frame is not None:
            name = str(Path(frame.f_code.co_filename).resolve()) if frame.f_code.co_filename[:1] != "<" else ""
            if name.startswith(self._versions):
                origin, line = name, frame.f_lineno
                break
            if env_hit is None and name in self._env:
                env_hit = (name, frame.f_lineno)
            frame = frame.f_back  # type: ignore[assignment]
        else:
            if env_hit:
                origin, line = env_hit
        self.items.append(Emitted(text.rstrip("\n"), origin, line))
        return super().write(text)


def _range_command(cfg: Config, low: str, high: str, location: str) -> None:
    order = {r.revision: i for i, r in enumerate(history(location))}
    order.update({"base": -1, "head": len(order), "heads": len(order)})
    if order[low] <= order[high]:
        command.upgrade(cfg, f"{low}:{high}", sql=True)
    else:
        command.downgrade(cfg, f"{low}:{high}", sql=True)


def _split_range(range_: str | None, location: str) -> tuple[str, str]:
    spec = range_ or "base:head"
    low, _, high = spec.rpartition(":") if ":" in spec else ("base", ":", spec)
    if not high.strip() or low.endswith(":"):
        raise UnknownRevision(f"the range {spec!r} has an empty end; give FROM:TO, e.g. 0001:head, or TO alone")
    return resolve(low or "base", location), resolve(high, location)


def _write_script(buf: io.StringIO, range_: str | None, settings: Settings | None, location: str) -> None:
    low, high = _split_range(range_, location)
    cfg = alembic_config(settings or Settings(), location=location)
    cfg.output_buffer = buf
    cfg.attributes["output_buffer"] = buf
    _range_command(cfg, low, high, location)


def render(range_: str, settings: Settings | None = None, *, location: str = DEFAULT_LOCATION) -> list[Emitted]:
    """The offline script of ``range_`` ('FROM:TO'), statement by statement, each with its origin."""
    scripts = script_directory(location)
    buf = _Recorder(Path(scripts.versions), (Path(scripts.env_py_location), _ENVIRONMENT))
    _write_script(buf, range_, settings, location)
    return buf.items


def offline_sql(range_: str | None = None, settings: Settings | None = None, *, location: str = DEFAULT_LOCATION) -> str:
    """The SQL an upgrade (or a downgrade, for 'HIGH:LOW') would run, one block per revision.

    ``range_`` is 'FROM:TO' ('base:head' when omitted); 'TO' alone means 'base:TO'.
    """
    buf = io.StringIO()
    _write_script(buf, range_, settings, location)
    return buf.getvalue()


@dataclass(frozen=True)
class PlannedStatement:
    sql: str
    lock: locks.StatementLock
    in_transaction: bool
    lock_timeout_ms: int
    statement_timeout_ms: int
    origin: str = "alembic"  # see Emitted
    line: int | None = None


def planned_statements(emitted: list[Emitted], settings: Settings) -> list[PlannedStatement]:
    """The statements of one revision's offline script, with the transaction and timeouts each runs under."""
    out: list[PlannedStatement] = []
    in_tx = False
    lock_ms, stmt_ms = settings.lock_timeout_ms, settings.statement_timeout_ms
    for item in emitted:
        sql = item.sql.strip()
        if setting := locks.timeout_setting(sql):
            name, value = setting
            lock_ms, stmt_ms = (value, stmt_ms) if name == "lock_timeout" else (lock_ms, value)
            continue
        lock = locks.classify(sql)
        if lock.kind == "transaction control":
            in_tx = locks.normalize(sql).upper().startswith(("BEGIN", "START"))
            continue
        if lock.kind in ("comment", "setting") or VERSION_TABLE in sql:
            continue
        out.append(PlannedStatement(sql, lock, in_tx, lock_ms, stmt_ms, item.origin, item.line))
    marked = locks.in_sequence([p.lock for p in out])
    return [replace(p, lock=lock) for p, lock in zip(out, marked)]
