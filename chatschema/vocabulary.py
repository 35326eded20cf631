"""The values the schema constrains, shared by the models, the queries, the API and the seed.

Kept apart from ``models`` so that code which only needs the words (the data-access API) does not
import SQLModel and pydantic. Revisions spell these out literally: a revision is frozen in time.
"""

from __future__ import annotations

__all__ = ["ROLES", "PREVIEW_CHARS"]

ROLES = ("system", "user", "assistant", "tool")
"""The roles a message may have (``ck_messages_role``)."""

PREVIEW_CHARS = 100
"""Characters of the newest message kept in ``conversations.last_message_preview``."""
