"""The report's rows and variants, looking measurements up in a run's JSON, and formatting numbers.

The report reads the JSON form of ``bench.BenchRun`` (so it renders from ``results.json`` alone):
its keys are the field names of ``bench.results``' dataclasses, and a read or write cell is found
by the fields ``READ_KEY``/``WRITE_KEY`` name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..results import READ_KEY, WRITE_KEY

__all__ = [
    "SEED_PLAN",
    "VARIANT_LABELS",
    "VARIANTS",
    "Row",
    "HEADLINE",
    "headline",
    "by_size",
    "largest",
    "deep_pages",
    "page_of",
    "find_read",
    "find_write",
    "cell",
    "p",
    "ms",
    "n",
    "ratio",
]

# The seed plan's "Expected Performance Improvements" table (ms): current, then final.
SEED_PLAN = {
    "list_conversations": ("Conversation List", 800, 60),
    "load_messages": ("Message Loading", 400, 50),
    "send_message": ("Message Sending", 300, 80),
    "conversation_view": ("Conversation View", 600, 70),
}
VARIANT_LABELS = {
    ("today", False): "today (0001)",
    ("seed_proposal", False): "seed proposal (0001)",
    ("optimized", False): "optimized (head)",
    ("today", True): "today at head (control)",
}
VARIANTS = (("today", False), ("seed_proposal", False), ("optimized", False), ("today", True))


@dataclass(frozen=True)
class Row:
    """A headline row: one operation on its heaviest case."""

    label: str
    slug: str
    operation: str
    case: str
    page: str  # first or deep


HEADLINE = (
    Row("List conversations, first page", "list_first", "list_conversations", "heaviest user", "first"),
    Row("List conversations, deep page", "list_deep", "list_conversations", "heaviest user", "deep"),
    Row("Load messages, first page", "load_first", "load_messages", "longest conversation", "first"),
    Row("Load messages, deep page", "load_deep", "load_messages", "longest conversation", "deep"),
    Row("Conversation view", "view", "conversation_view", "longest conversation", "first"),
    Row("Send message, 1 client", "send", "send_message", "spread", "first"),
    Row("Analytics: a user's daily counts", "user_daily", "user_daily_counts", "heaviest user", "first"),
    Row("Analytics: daily totals", "daily_totals", "daily_totals", "last 30 days", "first"),
)


def headline(slug: str) -> Row:
    return next(r for r in HEADLINE if r.slug == slug)


def by_size(run: dict[str, Any]) -> list[dict[str, Any]]:
    """The run's scales, fewest messages first."""
    return sorted(run["scales"], key=lambda s: s["messages"])


def largest(run: dict[str, Any]) -> dict[str, Any]:
    return max(run["scales"], key=lambda s: s["messages"])


def deep_pages(scale: dict[str, Any], operation: str) -> list[int]:
    """The pages measured of ``operation`` (list_conversations or load_messages) at ``scale``."""
    return scale["list_pages"] if operation == "list_conversations" else scale["load_pages"]


def page_of(scale: dict[str, Any], row: Row) -> int:
    return 1 if row.page == "first" else max(deep_pages(scale, row.operation))


def find_read(scale: dict[str, Any], *key: Any) -> dict[str, Any] | None:
    """The read cell whose ``READ_KEY`` fields are ``key``."""
    return next((r for r in scale["reads"] if tuple(r[k] for k in READ_KEY) == key), None)


def find_write(scale: dict[str, Any], *key: Any) -> dict[str, Any] | None:
    """The write run whose ``WRITE_KEY`` fields are ``key``."""
    return next((w for w in scale["writes"] if tuple(w[k] for k in WRITE_KEY) == key), None)


def cell(scale: dict[str, Any], row: Row, variant: str, control: bool) -> dict[str, Any] | None:
    """The measurement of ``row`` in ``variant``: a read, or for sends the 1-client spread write."""
    if row.operation == "send_message":
        return None if control else find_write(scale, variant, "spread", 1)
    return find_read(scale, row.operation, row.case, page_of(scale, row), variant, control)


def p(cell: dict[str, Any] | None, key: str = "p50") -> float | None:
    if not cell or not cell.get("latency"):
        return None
    return float(cell["latency"][key])


def ms(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "–"
    if value >= 1000:
        return f"{value / 1000:,.2f} s"
    if value >= 100:
        return f"{value:,.0f} ms"
    if value >= 10:
        return f"{value:.1f} ms"
    return f"{value:.2f} ms"


def n(value: float | int | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


def ratio(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "–"
    r = a / b
    return f"{r:,.0f}×" if r >= 10 else f"{r:.1f}×"
