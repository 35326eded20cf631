"""Settings, resolved once in one order: CLI option > environment > default."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

import platformdirs

from .errors import ConfigError

__all__ = ["Settings", "SUPPORTED_EMBEDDED_VERSIONS", "parse_duration"]

SUPPORTED_EMBEDDED_VERSIONS = (16, 18)
DEFAULT_DATABASE = "chatschema"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|h)?\s*$")
_UNIT_MS = {"ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000, None: 1000}


def parse_duration(text: str | int | float, *, name: str) -> int:
    """Parse '2s', '500ms', '15min', '0' into milliseconds (a bare number means seconds)."""
    if isinstance(text, (int, float)):
        return int(text * 1000)
    match = _DURATION.match(text)
    if not match:
        raise ConfigError(f"{name}: expected a duration such as 500ms, 2s or 15min, got {text!r}")
    value, unit = match.groups()
    return int(float(value) * _UNIT_MS[unit])


@dataclass(frozen=True)
class Settings:
    """Where to connect and how long to wait for locks and statements.

    ``dsn`` None means: start (or reuse) the embedded PostgreSQL in ``data_dir``.
    Timeouts are in milliseconds; ``0`` disables one.
    """

    dsn: str | None = None
    pg_version: int = 18
    data_dir: Path | None = None
    database: str = DEFAULT_DATABASE
    lock_timeout_ms: int = 2_000
    statement_timeout_ms: int = 0
    concurrent_lock_timeout_ms: int = 0

    @classmethod
    def resolve(
        cls,
        *,
        dsn: str | None = None,
        pg_version: int | None = None,
        data_dir: str | Path | None = None,
        lock_timeout: str | None = None,
        statement_timeout: str | None = None,
    ) -> "Settings":
        env = os.environ
        dsn = dsn or env.get("DATABASE_URL") or None
        version_text = pg_version or env.get("CHATSCHEMA_PG_VERSION") or 18
        try:
            version = int(version_text)
        except ValueError:
            raise ConfigError(f"--pg-version: expected one of {SUPPORTED_EMBEDDED_VERSIONS}, got {version_text!r}") from None
        if dsn is None and version not in SUPPORTED_EMBEDDED_VERSIONS:
            raise ConfigError(
                f"--pg-version: the embedded server ships PostgreSQL {' and '.join(map(str, SUPPORTED_EMBEDDED_VERSIONS))}, "
                f"not {version}; pass --dsn to use another server"
            )
        data = data_dir or env.get("CHATSCHEMA_DATA_DIR")
        settings = cls(
            dsn=dsn,
            pg_version=version,
            data_dir=Path(data).expanduser() if data else None,
            lock_timeout_ms=parse_duration(lock_timeout or env.get("CHATSCHEMA_LOCK_TIMEOUT", "2s"), name="--lock-timeout"),
            statement_timeout_ms=parse_duration(
                statement_timeout or env.get("CHATSCHEMA_STATEMENT_TIMEOUT", "0"), name="--statement-timeout"
            ),
        )
        return settings

    @property
    def embedded_dir(self) -> Path:
        base = self.data_dir or Path(platformdirs.user_data_dir("chatschema"))
        return base / f"pg{self.pg_version}"

    def with_database(self, database: str) -> "Settings":
        return replace(self, database=database)
