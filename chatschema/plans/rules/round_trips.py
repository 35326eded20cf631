"""The operation takes more round trips to the server than its contract allows.

*Problem*: every statement the application sends for one operation adds a network round trip and
a separate snapshot. A "check the conversation belongs to the user, then load its messages" pair
costs two round trips, and the two statements can disagree (the conversation deleted in between).
A send that inserts the message and then updates the conversation in separate statements keeps
the conversation row locked across round trips.

*Fix*: one statement per operation: the ownership check in the same query (drive from the
conversation by its key with ``user_id`` in the WHERE and ``LEFT JOIN LATERAL`` the messages);
writes chained with a data-modifying CTE (``WITH conv AS (UPDATE ... RETURNING ...) INSERT ...``).
"""

from __future__ import annotations

from collections.abc import Iterator

from ..findings import Finding
from . import PlanSubject

NAME = "round-trips"
SCOPE = "query"


def check(subject: PlanSubject) -> Iterator[Finding]:
    allowed = subject.contract.max_round_trips
    if subject.round_trips <= allowed:
        return
    yield subject.finding(
        NAME,
        f"{subject.title} takes {subject.round_trips} round trips (statements sent one after another); "
        f"the contract allows {allowed}",
        "Fold the statements into one: ownership check in the same query (LEFT JOIN LATERAL from the conversation), "
        "writes chained with WITH ... UPDATE ... RETURNING ... INSERT.",
    )
