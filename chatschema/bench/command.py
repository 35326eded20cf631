"""``chatschema bench`` as one library call: measure (or read an earlier run's JSON), then write the report.

The command line recorded in the report is rendered here from the values, against the defaults of
``BenchOptions`` (the CLI's defaults too), so that it names only the options that were changed.
A long run saves the scales done so far to ``OUT/bench/results.partial.json`` after each scale: a
run that fails in its last scale can still be rendered with ``--from-json``.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..progress import Event, Progress
from ..settings import Settings
from . import report
from .report import Target
from .results import BenchOptions, BenchRun, ScaleSpec, parse_scales
from .runner import run

__all__ = [
    "DEFAULT_SCALES",
    "COMMAND_KEY",
    "PARTIAL_RESULTS",
    "SummaryCheck",
    "Benchmark",
    "parse_clients",
    "command_line",
    "load_results",
    "benchmark",
    "rerender",
]

DEFAULT_SCALES = "ci"
COMMAND_KEY = "command"  # beside BenchRun.to_dict()'s keys in results.json: the command line that made it
PARTIAL_RESULTS = "results.partial.json"


@dataclass(frozen=True)
class SummaryCheck:
    """The check, after every send of one scale, that each conversation's summary matches its messages."""

    scale: str
    conversations: int  # conversations checked
    mismatches: int


@dataclass(frozen=True)
class Benchmark:
    """What ``chatschema bench`` produced: the run's JSON (as results.json holds it), the files, the verdicts."""

    data: dict[str, Any]
    written: tuple[Path, ...]
    targets: tuple[Target, ...]

    @property
    def summaries(self) -> tuple[SummaryCheck, ...]:
        return tuple(SummaryCheck(s["scale"], s["summary_conversations"], s["summary_mismatches"])
                     for s in self.data["scales"])

    @property
    def exact(self) -> bool:
        """Every summary matched its messages at every scale."""
        return all(s.mismatches == 0 for s in self.summaries)


def parse_clients(text: str) -> tuple[int, ...]:
    """'1,4,16' -> (1, 4, 16): the pool sizes of the send runs."""
    try:
        sizes = tuple(int(c) for c in text.split(",") if c.strip())
    except ValueError:
        raise ConfigError(f"expected whole numbers separated by commas, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise ConfigError(f"expected whole numbers of at least 1, got {text!r}")
    return sizes


def command_line(scales: Sequence[ScaleSpec], options: BenchOptions) -> str:
    """The ``chatschema bench`` invocation that runs ``scales`` with ``options``; defaults are left out."""
    default = BenchOptions()
    given = [f"--scales {shlex.quote(','.join(s.text for s in scales))}"]
    for flag, value, was in (
        ("--iterations", str(options.iterations), str(default.iterations)),
        ("--budget", f"{options.budget_s:g}", f"{default.budget_s:g}"),
        ("--write-seconds", f"{options.write_seconds:g}", f"{default.write_seconds:g}"),
        ("--clients", ",".join(map(str, options.clients)), ",".join(map(str, default.clients))),
        ("--seed-runs", str(options.seed_runs), str(default.seed_runs)),
    ):
        if value != was:
            given.append(f"{flag} {value}")
    if not options.control:
        given.append("--no-control")
    return "chatschema bench " + " ".join(given)


def load_results(path: Path) -> dict[str, Any]:
    """The JSON of an earlier run (results.json, or results.partial.json of one that stopped)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None


def _finish(data: dict[str, Any], out: Path, command: str) -> Benchmark:
    written = report.write_report(data, out, command)
    return Benchmark(data, tuple(written), tuple(report.targets(data)))


def benchmark(settings: Settings, scales: Sequence[ScaleSpec], options: BenchOptions, out: Path, *,
              keep: bool = False, progress: Progress | None = None, on_event: Event | None = None) -> Benchmark:
    """Run the benchmark (``run``) and write the report into ``out``; the events are ``run``'s."""
    report.require_plots()
    command = command_line(scales, options)
    partial_path = out / "bench" / PARTIAL_RESULTS

    def event(kind: str, payload: Any) -> None:
        if kind == "partial":
            partial_path.parent.mkdir(parents=True, exist_ok=True)
            partial_path.write_text(json.dumps({**payload.to_dict(), COMMAND_KEY: command}, indent=1, default=str),
                                    encoding="utf-8")
        if on_event:
            on_event(kind, payload)

    result: BenchRun = run(settings, scales, options, keep=keep, progress=progress, on_event=event)
    # As results.json will hold it (lists, strings), so that a caller sees what --from-json would read back.
    data = json.loads(json.dumps({**result.to_dict(), COMMAND_KEY: command}, default=str))
    partial_path.unlink(missing_ok=True)
    return _finish(data, out, command)


def rerender(data: dict[str, Any], out: Path) -> Benchmark:
    """The report of an earlier run's JSON (``load_results``) into ``out``; connects to nothing."""
    report.require_plots()
    fallback = command_line(parse_scales(DEFAULT_SCALES), BenchOptions())
    return _finish(data, out, data.get(COMMAND_KEY, fallback))
