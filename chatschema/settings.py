"""Settings, resolved once in one order: CLI option > environment > default."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import platformdirs

from .errors import ConfigError

__all__ = ["Settings", "SUPPORTED_EMBEDDED_VERSIONS", "DEFAULT_PG_VERSION", "parse_duration", "format_duration",
           "parse_size", "target_pg_version", "MAX_DURATION_MS"]

SUPPORTED_EMBEDDED_VERSIONS = (16, 18)
DEFAULT_PG_VERSION = 18
DEFAULT_DATABASE = "chatschema"

# lock_timeout and statement_timeout are int milliseconds on the server: anything longer fails there,
# after connecting; every duration option is held to the same range.
MAX_DURATION_MS = 2_147_483_647
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
    ms = int(float(value) * _UNIT_MS[unit])
    if ms > MAX_DURATION_MS:
        raise ConfigError(f"{name}: expected a duration from 0 to {MAX_DURATION_MS}ms (about 24.8 days, "
                          f"PostgreSQL's largest timeout), got {text!r}")
    return ms


def format_duration(ms: int) -> str:
    """The inverse of parse_duration for messages: 0 -> 'none', 1500 -> '1.5s', 900000 -> '15min'."""
    if ms <= 0:
        return "none"
    for unit, size in (("h", 3_600_000), ("min", 60_000), ("s", 1000)):
        if ms >= size and ms % (size // 10 or 1) == 0:
            value = ms / size
            return f"{value:g}{unit}"
    return f"{ms}ms"


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|kB|KB|MB|GB|TB)?\s*$", re.IGNORECASE)
_UNIT_BYTES = {"b": 1, "kb": 1024, "mb": 1024 ** 2, "gb": 1024 ** 3, "tb": 1024 ** 4, None: 1}


def parse_size(text: str | int, *, name: str) -> int:
    """Parse '512MB', '1GB', '64kB', '0' into bytes (a bare number means bytes; units are 1024-based)."""
    if isinstance(text, int):
        return text
    match = _SIZE.match(text)
    if not match:
        raise ConfigError(f"{name}: expected a size such as 64MB or 1GB, got {text!r}")
    value, unit = match.groups()
    return int(float(value) * _UNIT_BYTES[unit.lower() if unit else None])


def _choice(name: str, choices: tuple[str, ...]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in choices:
            raise ConfigError(f"{name}: expected one of {', '.join(choices)}, got {text!r}")
        return text
    return parse


def _count(text: str | int, *, name: str, low: int, high: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"{name}: expected a whole number from {low} to {high}, got {text!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}: expected a whole number from {low} to {high}, got {value}")
    return value


def _duration(name: str) -> Callable[[str], int]:
    return lambda text: parse_duration(text, name=name)


def _bounded(name: str, low: int, high: int) -> Callable[[str], int]:
    return lambda text: _count(text, name=name, low=low, high=high)


# option -> (Settings field, environment variable, parser); the defaults are the dataclass's.
_POLICY: dict[str, tuple[str, str, Callable[[str], int | str]]] = {
    "lock_timeout": ("lock_timeout_ms", "CHATSCHEMA_LOCK_TIMEOUT", _duration("--lock-timeout")),
    "statement_timeout": ("statement_timeout_ms", "CHATSCHEMA_STATEMENT_TIMEOUT", _duration("--statement-timeout")),
    "concurrent_lock_timeout": ("concurrent_lock_timeout_ms", "CHATSCHEMA_CONCURRENT_LOCK_TIMEOUT",
                                _duration("--concurrent-lock-timeout")),
    "concurrent_statement_timeout": ("concurrent_statement_timeout_ms", "CHATSCHEMA_CONCURRENT_STATEMENT_TIMEOUT",
                                     _duration("--concurrent-statement-timeout")),
    "lock_retries": ("lock_retries", "CHATSCHEMA_LOCK_RETRIES", _bounded("--lock-retries", 0, 100)),
    "retry_delay": ("retry_delay_ms", "CHATSCHEMA_RETRY_DELAY", _duration("--retry-delay")),
    "backfill_batch_size": ("backfill_batch_size", "CHATSCHEMA_BACKFILL_BATCH_SIZE",
                            _bounded("--backfill-batch-size", 1, 1_000_000)),
    "backfill_pause": ("backfill_pause_ms", "CHATSCHEMA_BACKFILL_PAUSE", _duration("--backfill-pause")),
    "long_transaction": ("long_transaction_ms", "CHATSCHEMA_LONG_TRANSACTION", _duration("CHATSCHEMA_LONG_TRANSACTION")),
    # The health gates of background work (chatschema.migrate.gates).
    "max_replica_lag": ("max_replica_lag_ms", "CHATSCHEMA_MAX_REPLICA_LAG", _duration("--max-replica-lag")),
    "max_slot_wal": ("max_slot_wal_bytes", "CHATSCHEMA_MAX_SLOT_WAL",
                     lambda text: parse_size(text, name="--max-slot-wal")),
    "vacuum_gate": ("vacuum_gate", "CHATSCHEMA_VACUUM_GATE", _choice("--vacuum-gate", ("wait", "slow", "off"))),
    "max_archive_backlog": ("max_archive_backlog", "CHATSCHEMA_MAX_ARCHIVE_BACKLOG",
                            _bounded("--max-archive-backlog", 0, 1_000_000)),
    "max_wal_rate": ("max_wal_rate_bytes", "CHATSCHEMA_MAX_WAL_RATE",
                     lambda text: parse_size(text, name="--max-wal-rate")),
    "backfill_target_time": ("backfill_target_ms", "CHATSCHEMA_BACKFILL_TARGET_TIME",
                             _duration("--backfill-target-time")),
}


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
    # Health gates checked before every backfill batch (chatschema.migrate.gates); 0 turns one off.
    max_replica_lag_ms: int = 10_000
    max_slot_wal_bytes: int = 1024 ** 3
    vacuum_gate: str = "wait"
    max_archive_backlog: int = 64
    max_wal_rate_bytes: int = 0
    backfill_target_ms: int = 1_000

    @classmethod
    def resolve(
        cls,
        *,
        dsn: str | None = None,
        pg_version: int | None = None,
        data_dir: str | Path | None = None,
        **policy: str | int | None,
    ) -> "Settings":
        """Where to connect and the lock policy: each option given, else its environment variable, else the default.

        ``policy`` takes the options of ``with_policy`` (``lock_timeout="2s"``, ...).
        """
        env = os.environ
        # An empty value is a mistake (an unset secret, a typo in a deploy file), not a request for the
        # throwaway embedded server: migrating that instead and exiting 0 would hide it.
        if dsn is not None and not dsn.strip():
            raise ConfigError("--dsn is empty; give a connection string, or leave it out")
        if dsn is None and "DATABASE_URL" in env and not env["DATABASE_URL"].strip():
            raise ConfigError("DATABASE_URL is set but empty; unset it to use the embedded server, or give a connection string")
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
        where = cls(dsn=dsn, pg_version=version, data_dir=Path(data).expanduser() if data else None)
        return where.with_policy(**{option: policy.get(option) for option in _POLICY}, **{
            option: value for option, value in policy.items() if option not in _POLICY})

    def with_policy(self, **options: str | int | None) -> "Settings":
        """These settings with the lock policy resolved: each option given (not None), else its
        ``CHATSCHEMA_*`` variable, else the default. Options are named as the CLI's, without dashes:
        ``lock_timeout``, ``statement_timeout``, ``concurrent_lock_timeout``,
        ``concurrent_statement_timeout``, ``lock_retries``, ``retry_delay``, ``backfill_batch_size``,
        ``backfill_pause``, ``long_transaction``, and the gates: ``max_replica_lag``, ``max_slot_wal``,
        ``vacuum_gate``, ``max_archive_backlog``, ``max_wal_rate``, ``backfill_target_time``.
        Policy not named keeps its value."""
        unknown = set(options) - set(_POLICY)
        if unknown:
            raise TypeError(f"unknown policy option(s): {', '.join(sorted(unknown))}")
        defaults = Settings()
        changes: dict[str, int | str] = {}
        for option, value in options.items():
            field_name, var, parse = _POLICY[option]
            text = str(value) if value is not None else os.environ.get(var)
            changes[field_name] = getattr(defaults, field_name) if text is None else parse(text)
        return replace(self, **changes)

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
