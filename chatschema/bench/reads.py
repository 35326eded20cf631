"""The read cells (operation x case x page x variant) and the interleaved loop that measures them.

The cells of a phase run round-robin, in a new random order each round, on one autocommit
connection, so that machine noise hits every variant alike; each is then explained once for its
buffers and server time.
"""

from __future__ import annotations

import math
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta, timezone
from typing import Any

import psycopg

from .. import queries as catalog
from ..errors import UnknownQuery
from ..plans.params import deep_cursor, newest_days
from ..progress import Progress
from ..queries import FIRST_PAGE_AT, FIRST_PAGE_ID, START_AT, START_ID, Query
from ..seed import InterestingRows
from .calls import Steps, execute, explain, steps_of
from .results import PAGE_SIZE, PAGES, BenchOptions, ReadResult, latency

__all__ = ["RANGE_DAYS", "Cell", "Points", "Cursors", "find_points", "find_cursors", "cells", "measure_reads", "read_results"]

RANGE_DAYS = 30  # the analytics reads cover the last RANGE_DAYS days of the data
SLOW_CALL_S = 0.25  # a cell slower than this gets one warm-up call instead of the prepared-plan warm-up
WARMUP_CALLS = 6  # psycopg prepares on the 5th execution; the server may pick its generic plan on the 6th

Cursors = dict[tuple[str, int], tuple[Any, uuid.UUID]]  # (operation, page) -> (created_at|last_activity_at, id)


@dataclass
class Cell:
    """One read cell and what the loop has measured of it so far (mutable: the loop fills it in)."""

    operation: str
    case: str
    page: int
    variant: str
    at: str
    control: bool
    query: Query
    params: dict[str, Any]
    steps: Steps = ()
    samples: list[float] = field(default_factory=list)
    spent: float = 0.0
    rows: int | None = None
    error: str | None = None
    buffers: int | None = None
    server_ms: float | None = None


@dataclass(frozen=True)
class Points:
    """The rows and depths every variant is measured on, found once at 0001."""

    ids: InterestingRows
    list_pages: tuple[int, ...]
    load_pages: tuple[int, ...]
    since: date
    until: date
    user_until: dict[uuid.UUID, date] = field(default_factory=dict)  # per user: the day after its newest message

    def days(self, user: uuid.UUID | None = None) -> dict[str, date]:
        """The analytics window: the RANGE_DAYS days up to the user's newest message (of all, without one)."""
        until = self.user_until.get(user, self.until) if user else self.until
        return {"since": until - timedelta(days=RANGE_DAYS), "until": until}


def _pages(rows: int) -> tuple[int, ...]:
    """PAGES that exist for ``rows`` rows, plus the last page when PAGES go past it."""
    last = max(1, math.ceil(rows / PAGE_SIZE))
    pages = [p for p in PAGES if p <= last]
    if PAGES[-1] > last and last not in pages:
        pages.append(last)
    return tuple(pages)


def find_points(conn: psycopg.Connection, ids: InterestingRows) -> Points:
    newest = conn.execute("SELECT max(created_at) FROM messages").fetchone()
    until = (newest[0].astimezone(timezone.utc).date() if newest and newest[0] else date.today()) + timedelta(days=1)
    return Points(ids, _pages(ids.heaviest_user_conversations), _pages(ids.longest_conversation_messages),
                  until - timedelta(days=RANGE_DAYS), until, newest_days(conn, (ids.heaviest_user_id, ids.typical_user_id)))


def find_cursors(conn: psycopg.Connection, points: Points) -> Cursors:
    """(created_at|last_activity_at, id) of the last row of page p - 1: the cursor the API would hand out."""
    ids = points.ids
    found: Cursors = {}
    for operation, pages, owner in (
        ("list_conversations", points.list_pages, ids.heaviest_user_id),
        ("load_messages", points.load_pages, ids.longest_conversation_id),
    ):
        for page in pages:
            # The cursor the API hands out for page p: the (sort key, id) of the last row of page p - 1.
            if page > 1 and (cursor := deep_cursor(conn, operation, owner, (page - 1) * PAGE_SIZE - 1)):
                found[(operation, page)] = cursor
    return found


def _base_params(query: Query, page: int, cursor: tuple[Any, uuid.UUID] | None) -> dict[str, Any]:
    # The API asks for a page + 1 (has_more); today's code and the seed proposal ask for the page.
    limit = PAGE_SIZE + 1 if query.variant == "optimized" else PAGE_SIZE
    before_at, before_id = cursor if cursor is not None else (FIRST_PAGE_AT, FIRST_PAGE_ID)
    return {"limit": limit, "offset": (page - 1) * PAGE_SIZE, "before_at": before_at, "before_id": before_id}


def _subjects(points: Points) -> list[tuple[str, str, bool, dict[str, Any]]]:
    """(operation, case, paged, values) of every read case whose rows exist."""
    ids = points.ids
    days = {"since": points.since, "until": points.until}
    longest = {"conversation_id": ids.longest_conversation_id, "user_id": ids.longest_conversation_user_id}
    typical = ({"conversation_id": ids.typical_conversation_id, "user_id": ids.typical_conversation_user_id}
               if ids.typical_conversation_id else None)
    subjects = [
        ("list_conversations", "heaviest user", True, {"user_id": ids.heaviest_user_id}),
        ("list_conversations", "typical user", False, {"user_id": ids.typical_user_id}),
        ("load_messages", "longest conversation", True, longest),
        ("conversation_view", "longest conversation", False, longest),
        ("user_daily_counts", "heaviest user", False, {"user_id": ids.heaviest_user_id,
                                                       **points.days(ids.heaviest_user_id)}),
        ("user_daily_counts", "typical user", False, {"user_id": ids.typical_user_id, **points.days(ids.typical_user_id)}),
        ("daily_totals", f"last {RANGE_DAYS} days", False, dict(days)),
        # A client catching up on the longest conversation from its start (today's naive version reads
        # and sorts all of it for every page), and the heaviest user's sidebar with every conversation changed.
        ("catch_up", "longest conversation", False, {**longest, "after_at": START_AT, "after_id": START_ID}),
        ("export_messages", "longest conversation", False, longest),
        ("changed_conversations", "heaviest user", False,
         {"user_id": ids.heaviest_user_id, "since": "-infinity", "after_at": "-infinity", "after_id": FIRST_PAGE_ID}),
    ]
    if typical:
        subjects[3:3] = [("load_messages", "typical conversation", False, typical)]
        subjects.append(("conversation_view", "typical conversation", False, typical))
    return subjects


# Cases whose control (today's query at head) is measured: the headline cells.
_CONTROL_CASES = {
    ("list_conversations", "heaviest user"), ("load_messages", "longest conversation"),
    ("conversation_view", "longest conversation"), ("user_daily_counts", "heaviest user"),
    ("daily_totals", f"last {RANGE_DAYS} days"),
}


def cells(points: Points, at: str, cursors: Cursors, control: bool) -> list[Cell]:
    """The read cells of one phase: today and seed_proposal at 0001; optimized (and today's control) at head."""
    found: list[Cell] = []
    for operation, case, paged, values in _subjects(points):
        pages = (points.list_pages if operation == "list_conversations" else points.load_pages) if paged else (1,)
        if at == "0001":
            wanted = [("today", False, pages)]
            # The proposal's list aggregates every message whatever the page, and its load has no cursor:
            # page 1 says all there is to say about it.
            wanted.append(("seed_proposal", False, (1,)))
        else:
            wanted = [("optimized", False, pages)]
            if control and (operation, case) in _CONTROL_CASES:
                wanted.append(("today", True, tuple(dict.fromkeys((pages[0], pages[-1])))))
        for variant, is_control, variant_pages in wanted:
            try:
                query = catalog.get(operation, variant)
            except UnknownQuery:  # the operation has no such variant
                continue
            for page in variant_pages:
                cursor = cursors.get((operation, page)) if variant == "optimized" else None
                merged = {**values, **_base_params(query, page, cursor)}
                params = {p: merged[p] for p in query.all_params}
                found.append(Cell(operation, case, page, variant, at, is_control, query, params, steps_of(query)))
    return found


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def measure_reads(conn: psycopg.Connection, cells: list[Cell], options: BenchOptions, label: str,
                  progress: Progress | None) -> None:
    """Warm up, then round-robin over the cells in a new random order each round; then EXPLAIN each once."""
    rng = random.Random(options.seed)
    total = options.iterations + len(cells)
    done = 0

    def call(cell: Cell) -> float | None:
        started = time.perf_counter()
        try:
            cell.rows = execute(conn, cell.steps, cell.params)
        except psycopg.Error as exc:
            cell.error = _first_line(exc)
            return None
        return time.perf_counter() - started

    # Warm-up: caches, and psycopg's prepared statements (and the server's plan choice) settled as in a
    # long-running application; a slow cell gets one call, which already warms everything it reads.
    for cell in cells:
        first = call(cell)
        if first is None:
            continue
        if first < SLOW_CALL_S:
            for _ in range(WARMUP_CALLS - 1):
                if call(cell) is None:
                    break
        elif first >= options.budget_s / options.min_samples:
            # A call this long reads everything it needs whatever the cache: keep it as a sample
            # rather than spend another one on warming up.
            cell.samples.append(first * 1000)
            cell.spent += first
    for _ in range(options.iterations):
        active = [c for c in cells if c.error is None and (len(c.samples) < options.min_samples or c.spent < options.budget_s)]
        if not active:
            break
        rng.shuffle(active)
        for cell in active:
            seconds = call(cell)
            if seconds is not None:
                cell.samples.append(seconds * 1000)
                cell.spent += seconds
        done += 1
        if progress:
            progress(label, done, total)
    done = options.iterations
    for cell in cells:
        if cell.error is None:
            try:
                cell.buffers, cell.server_ms = explain(conn, cell.query, cell.params)
            except psycopg.Error as exc:
                cell.error = f"EXPLAIN: {_first_line(exc)}"
        done += 1
        if progress:
            progress(label, done, total)


def read_results(cells: list[Cell]) -> list[ReadResult]:
    return [
        ReadResult(c.operation, c.case, c.page, c.variant, c.at, c.control, c.query.round_trips, latency(c.samples),
                   c.buffers, c.server_ms, c.rows, c.error)
        for c in cells
    ]
