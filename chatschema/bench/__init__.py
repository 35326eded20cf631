"""Benchmarks: every catalog variant on the same data, at the revision it was written for, at several sizes.

Latency is what the client sees for one call: every round trip of the variant, rows fetched. Buffers
are the server's shared buffers (hit + read) per call from EXPLAIN (ANALYZE, BUFFERS), summed over
the variant's statements. Nothing here prints: ``progress`` and ``on_event`` report.

- ``results``: the values (options, every result, the run) and ``parse_scales``;
- ``calls``: one call of a query as the application makes it, and its EXPLAIN;
- ``reads``: the read cells and the interleaved loop; ``writes``: the sends through a pool;
- ``runner``: one scale, and the whole run on scratch databases (its docstring lists the events);
- ``command``: ``chatschema bench`` as one call (``benchmark``, ``rerender``), its command line;
- ``report``: docs/benchmarks.md and the plots, from the run's JSON.
"""

from __future__ import annotations

from .command import (
    COMMAND_KEY, DEFAULT_SCALES, PARTIAL_RESULTS, Benchmark, SummaryCheck, benchmark, command_line, load_results, parse_clients,
    rerender,
)
from .results import (
    PAGE_SIZE, PAGES, BenchOptions, BenchRun, Latency, ReadResult, ScaleResult, ScaleSpec, WriteResult, latency,
    parse_scales,
)
from .runner import machine_info, run, run_scale, single_run

__all__ = [
    "PAGE_SIZE",
    "PAGES",
    "ScaleSpec",
    "BenchOptions",
    "Latency",
    "ReadResult",
    "WriteResult",
    "ScaleResult",
    "BenchRun",
    "parse_scales",
    "run",
    "run_scale",
    "single_run",
    "machine_info",
    "latency",
    "DEFAULT_SCALES",
    "COMMAND_KEY",
    "PARTIAL_RESULTS",
    "Benchmark",
    "SummaryCheck",
    "benchmark",
    "rerender",
    "command_line",
    "load_results",
    "parse_clients",
]
