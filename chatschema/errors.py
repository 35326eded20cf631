"""The errors chatschema raises. The CLI maps each class to an exit code in one place."""

from __future__ import annotations

import re

__all__ = [
    "redact",
    "QUOTED_QUERY_CHARS",
    "quote_query",
    "ChatSchemaError",
    "ConfigError",
    "UnknownQuery",
    "ConnectionFailed",
    "CannotCreateDatabase",
    "MissingDependency",
    "UnknownRevision",
    "LockTimeout",
    "MigrationFailed",
    "InvalidInput",
    "NotFound",
    "MessageIdConflict",
    "NotAdopted",
    "Stopped",
    "BackfillStopped",
    "Interrupted",
]


class ChatSchemaError(Exception):
    """Base class: something prevented the command from running (exit 2)."""


class ConfigError(ChatSchemaError):
    """A setting or argument is not usable as given."""


class UnknownQuery(ConfigError, LookupError):
    """A query, operation or variant named by the user is not in the query catalog."""


class ConnectionFailed(ChatSchemaError):
    """The PostgreSQL server could not be reached or started."""


class CannotCreateDatabase(ConfigError):
    """The role may not create the scratch database a command needs (no CREATEDB)."""


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


class MessageIdConflict(ChatSchemaError, ValueError):
    """A send reused a stored message's id with another conversation, role or content; nothing was written."""


class NotAdopted(ChatSchemaError):
    """The database's record of its revision does not let chatschema go on: its tables exist with no
    revision recorded (``chatschema stamp`` adopts them), or chatschema's version table holds several rows."""


# A password in a URI's userinfo (scheme://user:PASSWORD@host), in its query (?password=...), and in a
# key/value conninfo (password=PASSWORD or password='...'): every spelling libpq accepts.
_URI_PASSWORD = re.compile(r"(?P<keep>[A-Za-z][A-Za-z0-9+.-]*://[^:/?#@\s'\"]*:)[^@\s'\"]*@")
_QUERY_PASSWORD = re.compile(r"(?P<keep>[?&]password=)[^&\s'\"]*", re.IGNORECASE)
_KV_PASSWORD = re.compile(r"(?P<keep>(?<![?&])\bpassword\s*=\s*)(?:'(?:[^'\\]|\\.)*'|[^\s'\"]+)", re.IGNORECASE)


def redact(text: str) -> str:
    """``text`` with every password in a connection string replaced by ``***``, for any message or log line."""
    text = _URI_PASSWORD.sub(lambda m: f"{m['keep']}***@", text)
    text = _QUERY_PASSWORD.sub(lambda m: f"{m['keep']}***", text)
    return _KV_PASSWORD.sub(lambda m: f"{m['keep']}***", text)


QUOTED_QUERY_CHARS = 160
"""How much of another session's query a message quotes: enough to recognise it, short enough for one line."""
TRUNCATED = "… (truncated)"


def quote_query(query: str) -> str:
    """Another session's query as a message quotes it: whitespace runs made one space, cut at
    QUOTED_QUERY_CHARS with a visible TRUNCATED marker so nobody pastes half a statement as whole.

    The text is pg_stat_activity's: the statement as sent, with ``$1``-style placeholders where the
    client bound parameters; their values are never looked up (pg_stat_activity does not hold them)."""
    flat = re.sub(r"\s+", " ", query)
    return flat if len(flat) <= QUOTED_QUERY_CHARS else flat[:QUOTED_QUERY_CHARS] + TRUNCATED


class Stopped(ChatSchemaError):
    """A batched job (a backfill, retention, delete-conversation) stopped between batches when asked to
    (SIGTERM, Ctrl-C): every committed batch stays and a re-run continues. Not a failure: the CLI prints
    the message and exits 0."""


class BackfillStopped(Stopped):
    """A backfill stopped between batches when asked to (SIGTERM, Ctrl-C): its checkpoint is committed and
    a re-run continues from it. Not a failure: the CLI says "paused; rerun to continue" and exits 0."""


class Interrupted(ChatSchemaError):
    """A command was stopped by Ctrl-C or SIGTERM and has cancelled its statements on the server; the
    message says what was kept. The CLI exits 130 (SIGINT) or 143 (SIGTERM), as shells do."""
