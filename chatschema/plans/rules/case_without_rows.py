"""A parameter case that should return rows returned none: its plan proves nothing about the data.

*Problem*: a contract verified on parameters that select no rows passes by construction. An index
scan that finds nothing reads a page or two whatever the table's size, so the rows-read and buffer
bounds hold, and the plan is the one for an empty answer, not for a page of data. An analytics
window with no messages of the user in it, or a user whose data moved, turns a check into a
formality that says "passed". The validator chooses each case's parameters where the case has data
(an analytics range is the 30 days up to its subject's newest message); a case that still returns
nothing means the data is not shaped as the case assumes. Cases meant to be empty (a user with no
conversations, an empty conversation) are named so and not checked.

*Fix*: bind the case to rows that exist: for an analytics range, end it at the subject's newest
message (refresh the views first when they lag); for an app team's query file, pick a source that
has data at this revision and scale. Measured only with ANALYZE: an estimate is never zero rows.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..findings import Finding
from . import PlanSubject

NAME = "case-without-rows"
MODES = ("custom",)


def check(subject: PlanSubject) -> Iterator[Finding]:
    if subject.writes or not subject.expects_rows or not subject.analyzed:
        return
    if subject.rows_returned != 0:
        return
    yield subject.finding(
        NAME,
        f"{subject.title} returned no rows for the case '{subject.case}': its parameters select nothing, so the "
        f"plan and its figures say nothing about a request that has data",
        "Choose the case's parameters where it has data (an analytics range ending at its subject's newest "
        "message; views refreshed); cases meant to be empty are named for it (a user with no conversations).",
    )
