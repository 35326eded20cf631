"""What a benchmark run measured, as values: the options it ran with and every result.

``BenchRun.to_dict()`` is the JSON form (``docs/bench/results.json``) the report renders from; the
report reads it by the field names of these dataclasses, and ``READ_KEY``/``WRITE_KEY`` name the
fields that tell one measured cell from another.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from ..seed import SCALES

__all__ = [
    "PAGE_SIZE",
    "PAGES",
    "READ_KEY",
    "WRITE_KEY",
    "ScaleSpec",
    "BenchOptions",
    "Latency",
    "ReadResult",
    "WriteResult",
    "ScaleResult",
    "BenchRun",
    "parse_scales",
    "latency",
]

PAGE_SIZE = 20
PAGES = (1, 10, 100, 1000)


@dataclass(frozen=True)
class ScaleSpec:
    """A seed scale by name, optionally resized to ``messages`` (same shape)."""

    name: str
    messages: int | None = None

    @property
    def label(self) -> str:
        return self.name if self.messages is None else f"{self.name}-{self.messages}"

    @property
    def text(self) -> str:
        """As ``--scales`` spells it: ``tiny`` or ``tiny=3000``."""
        return self.name if self.messages is None else f"{self.name}={self.messages}"


@dataclass(frozen=True)
class BenchOptions:
    """How to measure; the defaults are ``chatschema bench``'s."""

    iterations: int = 100  # rounds of the interleaved read loop
    budget_s: float = 15.0  # a read cell stops after this much measured time (with min_samples at least)
    min_samples: int = 3
    clients: tuple[int, ...] = (1, 4, 16)
    write_seconds: float = 3.0  # per (variant, target, clients) write run
    spread_conversations: int = 64
    seed: int = 42
    control: bool = True  # today's queries also at head, interleaved with ours
    statement_timeout_s: int = 600
    database_prefix: str = "chatschema_bench"
    seed_runs: int = 3  # seeds of each scale (the last one is measured on): the seeding row's medians


@dataclass(frozen=True)
class Latency:
    """Client-side milliseconds per call."""

    n: int
    p50: float
    p95: float
    p99: float
    mean: float
    min: float
    max: float


@dataclass(frozen=True)
class ReadResult:
    operation: str
    case: str  # heaviest user, typical user, longest conversation, typical conversation, last 30 days
    page: int  # 1-based page of PAGE_SIZE rows; 1 for operations without pages
    variant: str
    at: str  # the revision the database was at: 0001 or head
    control: bool  # today's query measured at head, beside ours
    round_trips: int
    latency: Latency | None
    buffers: int | None
    server_ms: float | None  # execution time inside the server, from the same EXPLAIN (ANALYZE)
    rows: int | None
    error: str | None = None


@dataclass(frozen=True)
class WriteResult:
    variant: str
    at: str
    target: str  # spread (round-robin over many conversations) or hot (all on one)
    clients: int
    sends: int
    errors: int
    seconds: float
    throughput: float  # sends per second
    latency: Latency | None
    buffers: int | None  # per send, from EXPLAIN (ANALYZE, BUFFERS) rolled back
    server_ms: float | None


# One ReadResult per value of these fields in a scale, one WriteResult per value of those.
READ_KEY = ("operation", "case", "page", "variant", "control")
WRITE_KEY = ("variant", "target", "clients")


@dataclass(frozen=True)
class ScaleResult:
    scale: str
    users: int
    conversations: int
    messages: int
    seed_seconds: float
    database_bytes: int
    messages_bytes: int
    conversations_bytes: int
    interesting: dict[str, Any]
    list_pages: tuple[int, ...]
    load_pages: tuple[int, ...]
    migration: tuple[dict[str, Any], ...]  # revision, title, seconds
    reads: tuple[ReadResult, ...]
    writes: tuple[WriteResult, ...]
    summary_mismatches: int
    summary_conversations: int
    summary_seconds: float
    refresh: tuple[dict[str, Any], ...]  # view, concurrently, seconds, rows
    load_average: tuple[float, float]  # 1-minute load at the start and at the end of the scale
    seconds: float
    # Every seed of the scale, in order: seconds, messages_per_second and phases ({phase: seconds}).
    seed_runs: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class BenchRun:
    started: str  # ISO 8601, UTC
    finished: str
    machine: dict[str, Any]
    server: dict[str, Any]
    options: dict[str, Any]
    scales: tuple[ScaleResult, ...]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def parse_scales(text: str) -> list[ScaleSpec]:
    """'ci,bench,large' -> scale specs; 'tiny=3000' resizes a scale to that many messages."""
    specs = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, _, count = part.partition("=")
        if name not in SCALES:
            raise ConfigError(f"--scales: expected names from {', '.join(SCALES)} (optionally NAME=MESSAGES), got {name!r}")
        messages = None
        if count:
            try:
                messages = int(count.replace("_", ""))
            except ValueError:
                raise ConfigError(f"--scales: {part!r}: MESSAGES must be a whole number") from None
        specs.append(ScaleSpec(name, messages))
    if not specs:
        raise ConfigError("--scales: name at least one scale, for example ci,bench,large")
    labels = [s.label for s in specs]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"--scales: {text!r} names a scale twice")
    return specs


def _quantile(ordered: Sequence[float], q: float) -> float:
    pos = (len(ordered) - 1) * q
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def latency(samples_ms: Sequence[float]) -> Latency | None:
    """Percentiles (linear interpolation, as numpy's default) of ``samples_ms``; None when empty."""
    if not samples_ms:
        return None
    ordered = sorted(samples_ms)
    return Latency(
        n=len(ordered), p50=_quantile(ordered, 0.5), p95=_quantile(ordered, 0.95), p99=_quantile(ordered, 0.99),
        mean=sum(ordered) / len(ordered), min=ordered[0], max=ordered[-1],
    )
