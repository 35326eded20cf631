"""The values the schema constrains, shared by the models, the queries, the API and the seed.

Kept apart from ``models`` so that code which only needs the words (the data-access API) does not
import SQLModel and pydantic. Revisions spell these out literally: a revision is frozen in time.
"""

from __future__ import annotations

__all__ = ["ROLES", "PREVIEW_CHARS", "EARLIEST", "LATEST", "finite_check"]

ROLES = ("system", "user", "assistant", "tool")
"""The roles a message may have (``ck_messages_role``)."""

PREVIEW_CHARS = 100
"""Characters of the newest message kept in ``conversations.last_message_preview``."""

EARLIEST = "0001-01-02 00:00:00+00"
LATEST = "9999-12-31 00:00:00+00"
"""The instants a stored timestamp may take (``ck_*_finite``, revision 0008): EARLIEST inclusive,
LATEST exclusive. Python's datetime spans years 1-9999, so psycopg cannot load 'infinity',
'-infinity', a BC or a year-10000 value (DataError on every list and load of that user). A day
inside those years either side: a value loaded into a session whose TimeZone is up to ±24 h
from UTC still fits."""


def finite_check(column: str) -> str:
    """The CHECK that keeps ``column`` loadable: finite, and between EARLIEST and LATEST."""
    return f"isfinite({column}) AND {column} >= '{EARLIEST}' AND {column} < '{LATEST}'"
