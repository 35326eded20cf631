"""Settings, resolved once in one order: CLI option > environment > default."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

import platformdirs

from .errors import ConfigError

__all__ = ["Settings", "SUPPORTED_EMBEDDED_VERSIONS", "DEFAULT_PG_VERSION", "parse_duration", "format_duration", "target_pg_version"]

SUPPORTED_EMBEDDED_VERSIONS = (16, 18)
DEFAULT_PG_VERSION = 18
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


def format_duration(ms: int) -> str:
    """The inverse of parse_duration for messages: 0 -> 'none', 1500 -> '1.5s', 900000 -> '15min'."""
    if ms <= 0:
        return "none"
    for unit, size in (("h", 3_600_000), ("min", 60_000), ("s", 1000)):
        if ms >= size and ms % (size // 10 or 1) == 0:
            value = ms / size
            return f"{value:g}{unit}"
    return f"{ms}ms"


def _count(text: str | int, *, name: str, low: int, high: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"{name}: expected a whole number from {low} to {high}, got {text!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}: expected a whole number from {low} to {high}, got {value}")
    return value


@dataclass(frozen=True)
class Settings:
    """Where to connect, and the lock policy a migration runs under.

    ``dsn`` None means: start (or reuse) the embedded PostgreSQL in ``data_dir``.
    Timeouts are in milliseconds; ``0`` disables one.

    Two lock classes (see ``chatschema.ddl``): statements whose lock blocks reads or writes
    (SHARE and stronger) get the short ``lock_timeout_ms``/``statement_timeout_ms``, because a
    queued ACCESS EXCLUSIVE request stalls every query behind it; a lock timeout there rolls the
    revision back and it is retried ``lock_retries`` times, waiting ``retry_delay_ms`` doubled
    each time (capped at ``retry_max_delay_ms``) with jitter. CONCURRENTLY builds and other
    SHARE UPDATE EXCLUSIVE statements let reads and writes through while they wait, and a
    cancelled build leaves debris, so they get the long ``concurrent_*`` timeouts.

    The short lock_timeout defaults below PostgreSQL's default deadlock_timeout (1s): when an
    application transaction and a migration wait on each other, the migration's lock timeout then
    fires first and the migration (retried) gives way, instead of the deadlock detector cancelling
    the application's transaction.
    """

    dsn: str | None = None
    pg_version: int = 18
    data_dir: Path | None = None
    database: str = DEFAULT_DATABASE
    lock_timeout_ms: int = 500
    statement_timeout_ms: int = 60_000
    concurrent_lock_timeout_ms: int = 900_000
    concurrent_statement_timeout_ms: int = 0
    lock_retries: int = 5
    retry_delay_ms: int = 1_000
    retry_max_delay_ms: int = 30_000
    backfill_batch_size: int = 2_000
    backfill_pause_ms: int = 0
    # Sessions whose transaction is younger than this are ordinary traffic, not worth naming
    # before a strong lock or a concurrent build.
    long_transaction_ms: int = 1_000

    @classmethod
    def resolve(
        cls,
        *,
        dsn: str | None = None,
        pg_version: int | None = None,
        data_dir: str | Path | None = None,
        lock_timeout: str | None = None,
        statement_timeout: str | None = None,
        concurrent_lock_timeout: str | None = None,
        concurrent_statement_timeout: str | None = None,
        lock_retries: str | int | None = None,
        retry_delay: str | None = None,
        backfill_batch_size: str | int | None = None,
        backfill_pause: str | None = None,
        long_transaction: str | None = None,
    ) -> "Settings":
        env = os.environ
        dsn = dsn or env.get("DATABASE_URL") or None
        version_text = pg_version or env.get("CHATSCHEMA_PG_VERSION") or DEFAULT_PG_VERSION
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

        def pick(value: object, var: str, default: str) -> str:
            return str(value) if value is not None else env.get(var, default)

        settings = cls(
            dsn=dsn,
            pg_version=version,
            data_dir=Path(data).expanduser() if data else None,
            lock_timeout_ms=parse_duration(pick(lock_timeout, "CHATSCHEMA_LOCK_TIMEOUT", "500ms"), name="--lock-timeout"),
            statement_timeout_ms=parse_duration(
                pick(statement_timeout, "CHATSCHEMA_STATEMENT_TIMEOUT", "60s"), name="--statement-timeout"
            ),
            concurrent_lock_timeout_ms=parse_duration(
                pick(concurrent_lock_timeout, "CHATSCHEMA_CONCURRENT_LOCK_TIMEOUT", "15min"), name="--concurrent-lock-timeout"
            ),
            concurrent_statement_timeout_ms=parse_duration(
                pick(concurrent_statement_timeout, "CHATSCHEMA_CONCURRENT_STATEMENT_TIMEOUT", "0"),
                name="--concurrent-statement-timeout",
            ),
            lock_retries=_count(pick(lock_retries, "CHATSCHEMA_LOCK_RETRIES", "5"), name="--lock-retries", low=0, high=100),
            retry_delay_ms=parse_duration(pick(retry_delay, "CHATSCHEMA_RETRY_DELAY", "1s"), name="--retry-delay"),
            backfill_batch_size=_count(
                pick(backfill_batch_size, "CHATSCHEMA_BACKFILL_BATCH_SIZE", "2000"),
                name="--backfill-batch-size", low=1, high=1_000_000,
            ),
            backfill_pause_ms=parse_duration(pick(backfill_pause, "CHATSCHEMA_BACKFILL_PAUSE", "0"), name="--backfill-pause"),
            long_transaction_ms=parse_duration(
                pick(long_transaction, "CHATSCHEMA_LONG_TRANSACTION", "1s"), name="CHATSCHEMA_LONG_TRANSACTION"
            ),
        )
        return settings

    @property
    def embedded_dir(self) -> Path:
        base = self.data_dir or Path(platformdirs.user_data_dir("chatschema"))
        return base / f"pg{self.pg_version}"

    def with_database(self, database: str) -> "Settings":
        return replace(self, database=database)


def target_pg_version(given: int | None = None) -> int:
    """The PostgreSQL major version migrations are written for when no server says: the option,
    else ``$CHATSCHEMA_PG_VERSION``, else the embedded default."""
    if given is not None:
        return given
    text = os.environ.get("CHATSCHEMA_PG_VERSION") or str(DEFAULT_PG_VERSION)
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"CHATSCHEMA_PG_VERSION: expected a major version such as 16, got {text!r}") from None
