"""The data-access API's arguments and page cursors: everything checked before any SQL runs.

Private to the API (``_api_common`` uses it). Each check returns the value the SQL is given, or
raises ``InvalidInput`` naming the argument.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
import uuid
from collections.abc import Sequence
from datetime import date, datetime, timedelta, timezone
from typing import Any

from . import queries as catalog
from .errors import InvalidInput
from .vocabulary import ROLES

__all__ = [
    "MAX_LIMIT",
    "MAX_CONTENT_CHARS",
    "LIST_CURSOR",
    "MESSAGE_CURSOR",
    "CATCH_UP_CURSOR",
    "CHANGES_CURSOR",
    "check_uuid",
    "check_limit",
    "check_role",
    "check_content",
    "check_day_range",
    "check_since",
    "encode_cursor",
    "decode_cursor",
    "decode_after",
]

# Documented where the API exports them (``api``).
MAX_LIMIT = 100
MAX_CONTENT_CHARS = 100_000


# --- validation: everything is checked before any SQL runs ----------------------------------------


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_uuid(name: str, value: object) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            pass
    raise InvalidInput(f"{name} must be a UUID, got {_show(value)}")


def check_limit(value: object) -> int:
    # bool is an int subclass: limit=True is a bug in the caller, not a page size of 1
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_LIMIT:
        raise InvalidInput(f"limit must be an integer from 1 to {MAX_LIMIT}, got {_show(value)}")
    return value


def check_role(value: object) -> str:
    if not isinstance(value, str) or value not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}; got {_show(value)}")
    return value


def check_content(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"content must be a str, got {type(value).__name__}")
    if not value:
        raise InvalidInput("content is empty; a message needs at least one character")
    if len(value) > MAX_CONTENT_CHARS:
        raise InvalidInput(f"content is {len(value):,} characters; the limit is {MAX_CONTENT_CHARS:,}")
    nul = value.find("\x00")
    if nul >= 0:
        raise InvalidInput(f"content contains a NUL character (\\x00) at index {nul}; PostgreSQL text cannot store it")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInput(
            f"content is not valid Unicode: a lone surrogate at index {exc.start} cannot be encoded as UTF-8"
        ) from None
    return value


def _day(name: str, value: object) -> date:
    # datetime is a date subclass; a datetime here would silently mean "that day, in UTC"
    if isinstance(value, datetime) or not isinstance(value, date):
        raise InvalidInput(f"{name} must be a datetime.date (a UTC day), got {type(value).__name__}")
    return value


def check_day_range(since: object, until: object) -> dict[str, Any]:
    start, end = _day("since", since), _day("until", until)
    if start > end:
        raise InvalidInput(f"since ({start}) is after until ({end}); the range is since <= day < until")
    return {"since": start, "until": end}


def check_since(value: object) -> datetime:
    # A naive datetime would be read in the session's TimeZone: a different instant on every server.
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise InvalidInput(
            f"since must be a timezone-aware datetime or a next_cursor of changed_conversations, got {_show(value)}")
    return value


# --- cursors ----------------------------------------------------------------------------------
#
# base64url of: version (1 byte) | kind (1) | timestamp in microseconds since the epoch, UTC (8) |
# row id (16) | tag (8). The tag is a keyed BLAKE2b over the rest *and* the list the cursor belongs to
# (the user, or the user and conversation), so a corrupted, hand-edited or foreign cursor is rejected
# before any SQL. The key is not a secret: the tag catches mistakes and tampering, it is not access
# control (every query is scoped by user_id, so a forged cursor can only reach the caller's own rows).

_CURSOR_VERSION = 1
LIST_CURSOR = ord("C")
MESSAGE_CURSOR = ord("M")
CATCH_UP_CURSOR = ord("A")  # a position in a conversation, read forwards (catch_up)
CHANGES_CURSOR = ord("S")  # a position in a user's activity, read forwards (changed_conversations)
_CURSOR = struct.Struct(">BBq16s")
_TAG_BYTES = 8
_CURSOR_KEY = b"chatschema.cursor.v1"
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)
_CURSOR_CHARS = (4 * (_CURSOR.size + _TAG_BYTES) + 2) // 3


def _tag(body: bytes, scope: Sequence[uuid.UUID]) -> bytes:
    h = hashlib.blake2b(body, digest_size=_TAG_BYTES, key=_CURSOR_KEY)
    for part in scope:
        h.update(part.bytes)
    return h.digest()


def encode_cursor(kind: int, at: datetime, row_id: uuid.UUID, scope: Sequence[uuid.UUID]) -> str:
    body = _CURSOR.pack(_CURSOR_VERSION, kind, (at - _EPOCH) // _MICROSECOND, row_id.bytes)
    return base64.urlsafe_b64encode(body + _tag(body, scope)).rstrip(b"=").decode("ascii")


def decode_cursor(name: str, value: object, kind: int, scope: Sequence[uuid.UUID]) -> dict[str, Any]:
    """The SQL parameters (before_at, before_id) a cursor stands for; None means the first page."""
    if value is None:
        return {"before_at": catalog.FIRST_PAGE_AT, "before_id": catalog.FIRST_PAGE_ID}
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a str (a next_cursor) or None, got {type(value).__name__}")
    malformed = InvalidInput(
        f"{name} is malformed or was tampered with: pass back a next_cursor of the same list unchanged, "
        f"or None for the first page"
    )
    if len(value) != _CURSOR_CHARS:
        raise malformed
    try:
        raw = base64.b64decode(value + "=" * (-len(value) % 4), altchars=b"-_", validate=True)
    except ValueError:
        raise malformed from None
    # base64 ignores the unused low bits of the last character: insist on the one canonical spelling
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != value:
        raise malformed
    body, tag = raw[: _CURSOR.size], raw[_CURSOR.size :]
    if len(body) != _CURSOR.size or not hmac.compare_digest(tag, _tag(body, scope)):
        raise malformed
    version, got_kind, micros, row_id = _CURSOR.unpack(body)
    if version != _CURSOR_VERSION or got_kind != kind:
        raise malformed
    try:
        at = _EPOCH + micros * _MICROSECOND
    except OverflowError:
        raise malformed from None
    # Text, not a datetime: the first page passes 'infinity', and one parameter type for every page
    # keeps one prepared statement. ISO 8601 with an offset parses the same under any DateStyle.
    return {"before_at": at.isoformat(), "before_id": uuid.UUID(bytes=row_id)}


def decode_after(name: str, value: object, kind: int, scope: Sequence[uuid.UUID]) -> dict[str, Any]:
    """The SQL parameters (after_at, after_id) of a forward cursor (``value`` not None)."""
    position = decode_cursor(name, value, kind, scope)
    return {"after_at": position["before_at"], "after_id": position["before_id"]}
