"""The errors chatschema raises. The CLI maps each class to an exit code in one place."""

from __future__ import annotations

__all__ = [
    "ChatSchemaError",
    "ConfigError",
    "UnknownQuery",
    "ConnectionFailed",
    "MissingDependency",
    "UnknownRevision",
    "LockTimeout",
    "MigrationFailed",
    "InvalidInput",
    "NotFound",
    "BackfillStopped",
]


class ChatSchemaError(Exception):
    """Base class: something prevented the command from running (exit 2)."""


class ConfigError(ChatSchemaError):
    """A setting or argument is not usable as given."""


class UnknownQuery(ConfigError, LookupError):
    """A query, operation or variant named by the user is not in the query catalog."""


class ConnectionFailed(ChatSchemaError):
    """The PostgreSQL server could not be reached or started."""


class MissingDependency(ChatSchemaError):
    """An optional part of chatschema is used without the extra that installs it; the message says which."""


class UnknownRevision(ChatSchemaError):
    """A revision named by the user, or found in the database, is not in the migration chain."""


class LockTimeout(ChatSchemaError):
    """A statement could not take its lock within lock_timeout; nothing of that revision was kept."""

    def __init__(self, message: str, *, table: str | None = None, blockers: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.table = table
        self.blockers = blockers


class MigrationFailed(ChatSchemaError):
    """A revision failed for a reason other than a lock timeout."""


class InvalidInput(ChatSchemaError, ValueError):
    """An API argument was rejected before any SQL ran."""


class NotFound(ChatSchemaError, LookupError):
    """The conversation does not exist or does not belong to the user (deliberately indistinguishable)."""


class BackfillStopped(ChatSchemaError):
    """A backfill stopped between batches when asked to (SIGTERM, Ctrl-C): its checkpoint is committed and
    a re-run continues from it. Not a failure: the CLI says "paused; rerun to continue" and exits 0."""
