"""The issue's targets, judged on a run's JSON: PASS, MISS (with a measured reason) or n/a."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .lookup import HEADLINE, cell, largest, ms, n, p, page_of, ratio

__all__ = ["Target", "targets"]


@dataclass(frozen=True)
class Target:
    name: str
    measured: str
    status: str  # PASS, MISS, or n/a (not measured)
    reason: str = ""


def _why_slow(cell: dict[str, Any] | None, scale: dict[str, Any]) -> str:
    """A measured explanation of a latency: server time vs the rest (client, round trips, scheduling)."""
    if not cell:
        return "not measured"
    server = cell.get("server_ms")
    load = max(scale["load_average"])
    parts = []
    if server is not None:
        parts.append(f"the server executes it in {ms(server)} (EXPLAIN ANALYZE, {n(cell.get('buffers'))} buffers)")
    parts.append(f"the rest is the client, {cell.get('round_trips', 1)} round trip(s) and scheduling on a shared "
                 f"2-core machine (1-minute load average up to {load:.1f} during this scale)")
    return "; ".join(parts)


def targets(run: dict[str, Any]) -> list[Target]:
    """The issue's targets, judged at the largest scale measured (they are stated for 10 million messages)."""
    scale = largest(run)
    at = f"at {scale['scale']} ({scale['messages']:,} messages)"
    rows = {r.slug: r for r in HEADLINE}
    found: list[Target] = []

    def under(slug: str, limit_ms: float, name: str) -> None:
        opt = cell(scale, rows[slug], "optimized", False)
        p50 = p(opt)
        if p50 is None:
            found.append(Target(name, "–", "n/a", "not measured"))
            return
        ok = p50 < limit_ms
        found.append(Target(name, f"p50 {ms(p50)} {at}", "PASS" if ok else "MISS",
                            "" if ok else _why_slow(opt, scale)))

    def faster(slug: str, factor: float, name: str) -> None:
        opt, today = cell(scale, rows[slug], "optimized", False), cell(scale, rows[slug], "today", False)
        a, b = p(today), p(opt)
        if a is None or b is None:
            found.append(Target(name, "–", "n/a", "not measured"))
            return
        ok = a / b >= factor
        found.append(Target(name, f"today {ms(a)} / optimized {ms(b)} = {ratio(a, b)} {at}",
                            "PASS" if ok else "MISS",
                            "" if ok else f"today's query costs {n(today.get('buffers') if today else None)} buffers "
                                          f"against {n(opt.get('buffers') if opt else None)}; "
                                          f"{_why_slow(opt, scale)}"))

    def deep_page(slug: str, what: str) -> None:
        first, deep = cell(scale, rows[f"{slug}_first"], "optimized", False), cell(scale, rows[f"{slug}_deep"], "optimized", False)
        a, b = p(first), p(deep)
        page = page_of(scale, rows[f"{slug}_deep"])
        name = f"Deep page by cursor ({what}, page {page:,}) within 2× of the first page"
        if a is None or b is None:
            found.append(Target(name, "–", "n/a", "not measured"))
            return
        ok = b <= 2 * a
        found.append(Target(name, f"page 1 {ms(a)}, page {page:,} {ms(b)} ({n(first.get('buffers') if first else None)} vs "
                                  f"{n(deep.get('buffers') if deep else None)} buffers) {at}",
                            "PASS" if ok else "MISS", "" if ok else _why_slow(deep, scale)))

    under("list_first", 1.0, "List conversations (heaviest user) p50 < 1 ms")
    faster("list_first", 100, "List conversations ≥ 100× faster than today")
    under("load_first", 2.0, "Load messages (longest conversation) p50 < 2 ms")
    under("view", 2.0, "Conversation view (longest conversation) p50 < 2 ms")
    under("send", 2.0, "Send message p50 < 2 ms from one client")
    deep_page("list", "list")
    deep_page("load", "load messages")
    faster("user_daily", 100, "Analytics read (a user's daily counts) ≥ 100× faster than the live aggregate")
    faster("daily_totals", 100, "Analytics read (daily totals) ≥ 100× faster than the live aggregate")
    if scale["messages"] < 10_000_000:
        found = [Target(t.name, t.measured, t.status,
                        (t.reason + "; " if t.reason else "") + "measured below the 10 million messages the target names")
                 for t in found]
    return found
