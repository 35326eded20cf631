"""Parameter values for app teams' query files: each source name of ``queries.files.SOURCES``
resolved on the database being verified, from the same interesting rows and deep cursors the
catalog's cases use (``params.data_points``)."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from ..queries import FIRST_PAGE_AT, FIRST_PAGE_ID
from ..queries.files import FileQuery
from .params import Case, DataPoints

__all__ = ["file_cases", "resolve"]


def _values(data: DataPoints) -> dict[str, Any]:
    ids = data.ids
    whale = data.whale_cursor or (None, None)
    longest = data.longest_cursor or (None, None)
    return {
        "heaviest user": ids.heaviest_user_id, "typical user": ids.typical_user_id, "idle user": ids.idle_user_id,
        "longest conversation": ids.longest_conversation_id,
        "owner of longest conversation": ids.longest_conversation_user_id,
        "typical conversation": ids.typical_conversation_id,
        "owner of typical conversation": ids.typical_conversation_user_id,
        "empty conversation": ids.empty_conversation_id,
        "owner of empty conversation": ids.empty_conversation_user_id,
        "first page at": FIRST_PAGE_AT, "first page id": FIRST_PAGE_ID,
        "deep conversation cursor at": whale[0], "deep conversation cursor id": whale[1],
        "deep conversation offset": data.whale_middle,
        "deep message cursor at": longest[0], "deep message cursor id": longest[1],
        "deep message offset": data.longest_middle,
        "range start": data.since, "range end": data.until,
    }


def resolve(source: str, data: DataPoints) -> Any:
    """The value of one source: a literal, or a row of the data (ConfigError when the data has none)."""
    if source.lstrip("-").isdigit():
        return int(source)
    if source.startswith("'") and source.endswith("'"):
        return source[1:-1].replace("''", "'")
    value = _values(data)[source]
    if value is None:
        raise ConfigError(f"the data has no {source!r} (at this revision or scale)")
    return value


# Sources that name rows with nothing under them: a case bound to one is meant to return nothing.
EMPTY_SOURCES = frozenset({"idle user", "empty conversation", "owner of empty conversation"})


def file_cases(query: FileQuery, data: DataPoints) -> list[Case]:
    """The file's cases with values from ``data``, the first the primary one."""
    try:
        return [Case(name, tuple((p, resolve(src, data)) for p, src in recipe), primary=(i == 0),
                     expects_rows=not any(src in EMPTY_SOURCES for _, src in recipe))
                for i, (name, recipe) in enumerate(query.recipes)]
    except ConfigError as exc:
        where = query.location.display if query.location else query.name
        raise ConfigError(f"{where}: {exc.args[0]}") from None
