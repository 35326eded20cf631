"""The data-access API on a Citus coordinator: the idempotent send as one delegated call, one task.

On Citus the optimized one-statement send runs as four distributed steps (docs/design.md, "Idempotent
send on Citus"); the catalog's ``send_message.citus`` is the call of ``chatschema_send_message``, which
``chatschema distribute`` creates from the catalog's statements and delegates to the worker of the
owner's shards (``chatschema.queries.send_message_citus``). An application deployed on Citus imports
this module's ``send_message`` instead of ``api.send_message``: the choice is the deployment's, made
once, so no call pays a round trip to ask the server what it is. ``plans verify`` on a coordinator
checks the citus variant in place of the optimized one.

``send_message`` validates like ``api.send_message`` and returns the same ``SentMessage``; the
analytics read the rollup tables ``distribute`` adds (``user_daily_counts`` and ``daily_totals``, the
catalog's citus variants, same checks and results as ``api``'s; as fresh as the last ``chatschema
views refresh``). The other reads are router queries as they are, so ``api``'s functions serve them
on Citus unchanged.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date, datetime
from typing import Any

import psycopg

from . import _api_common as shared
from ._api_common import DailyTotal, SentMessage, UserDailyCount
from ._api_resume import _sent, _SendRow
from ._api_resume import send_message as _validated
from .api import _run
from .queries import get
from .queries.send_message_citus import CITUS, CREATE_FUNCTION, DISTRIBUTE_FUNCTION, FUNCTION

__all__ = ["FUNCTION", "CREATE_FUNCTION", "DISTRIBUTE_FUNCTION", "CALL", "send_message", "user_daily_counts",
           "daily_totals"]

CALL = CITUS.sql
"""The delegated call, as the catalog's send_message.citus has it."""


def _row(found: dict[str, Any] | None) -> list[_SendRow]:
    if found is None:
        return []
    created = found["created_at"]
    return [_SendRow(uuid.UUID(found["id"]),
                     uuid.UUID(found["conversation_id"]) if found["conversation_id"] else None,
                     found["role"], datetime.fromisoformat(created) if created else None, found["outcome"])]


def send_message(conn: psycopg.Connection[Any], user_id: uuid.UUID | str, conversation_id: uuid.UUID | str,
                 role: str, content: str, message_id: uuid.UUID | str | None = None) -> SentMessage:
    """``api.send_message`` on a Citus coordinator where ``distribute`` created the delegated send:
    the same checks, result and errors, one round trip and one task on the owner's worker."""
    params = _validated(user_id, conversation_id, role, content, message_id).params
    found = conn.execute(CALL, params).fetchone()
    return _sent(_row(found[0] if found else None))


def user_daily_counts(conn: psycopg.Connection[Any], user_id: uuid.UUID | str, since: date, until: date
                      ) -> tuple[UserDailyCount, ...]:
    """``api.user_daily_counts`` from the rollup user_daily_rollup: one task on the owner's shard."""
    return _run(conn, replace(shared.user_daily_counts(user_id, since, until), sql=_USER_DAILY_SQL))


def daily_totals(conn: psycopg.Connection[Any], since: date, until: date) -> tuple[DailyTotal, ...]:
    """``api.daily_totals`` from the reference table daily_totals_rollup: one task."""
    return _run(conn, replace(shared.daily_totals(since, until), sql=_DAILY_TOTALS_SQL))


_USER_DAILY_SQL = get("user_daily_counts", "citus").sql
_DAILY_TOTALS_SQL = get("daily_totals", "citus").sql
