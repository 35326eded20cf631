"""chatschema bench."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import Progress

from .. import bench
from ..errors import ConfigError
from ..settings import Settings
from . import connection_options, err, main, out, progress_bar

DEFAULTS = bench.BenchOptions()


def _bench_progress(bar: Progress) -> Callable[[str, int, int], None]:
    tasks: dict[str, Any] = {}

    def progress(name: str, done: int, total: int) -> None:
        if name not in tasks:
            tasks[name] = bar.add_task(name, total=total)
        bar.update(tasks[name], completed=done, total=total)

    return progress


def _bench_events(console: Console) -> Callable[[str, Any], None]:
    scale = [""]  # the label of the scale being measured: its "revision" and "seeded" lines name it

    def on_event(kind: str, payload: Any) -> None:
        if kind == "scale":
            scale[0] = payload
        elif kind == "stage":
            console.print(f"• {payload}", markup=False, soft_wrap=True)
        elif kind == "revision":
            console.print(f"  {scale[0]}: {payload.revision} {payload.title} ({payload.seconds:.2f} s)", markup=False,
                          soft_wrap=True)
        elif kind == "seeded":
            console.print(f"  {scale[0]}: seeded {payload.messages:,} messages, {payload.conversations:,} "
                          f"conversations, {payload.users:,} users in {payload.seconds:.1f} s", markup=False)

    return on_event


def _clients(text: str) -> tuple[int, ...]:
    try:
        return bench.parse_clients(text)
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--clients") from None


def _results(path: str) -> dict[str, Any]:
    try:
        return bench.load_results(Path(path))
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--from-json") from None


@main.command("bench")
@click.option("--scales", default=bench.DEFAULT_SCALES, show_default=True, metavar="NAME[,NAME...]",
              help="Data sizes, smallest first: tiny (5k messages), ci (200k), bench (2M), large (10M); "
                   "NAME=N resizes one to N messages. Each gets its own scratch database.")
@click.option("--iterations", type=click.IntRange(1, 100_000), default=DEFAULTS.iterations, show_default=True,
              help="Rounds of the interleaved read loop (every read cell once per round).")
@click.option("--budget", type=click.FloatRange(0.1), default=DEFAULTS.budget_s, show_default=True, metavar="SECONDS",
              help=f"A read cell stops after this much measured time (once it has {DEFAULTS.min_samples} calls): "
                   "bounds the slow variants.")
@click.option("--write-seconds", type=click.FloatRange(0.1), default=DEFAULTS.write_seconds, show_default=True,
              metavar="SECONDS", help="Duration of each send run (variant x spread/hot x clients).")
@click.option("--clients", default=",".join(map(str, DEFAULTS.clients)), show_default=True, metavar="N[,N...]",
              help="Concurrent clients (pool sizes) of the send runs.")
@click.option("--seed-runs", type=click.IntRange(1, 20), default=DEFAULTS.seed_runs, show_default=True,
              help="Seed each scale this many times, one after the other (the last seed is measured on): the "
                   "seeding table's medians.")
@click.option("--control/--no-control", default=DEFAULTS.control, show_default=True,
              help="Also measure today's queries at head, interleaved with ours.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="docs", show_default=True,
              help="Directory for benchmarks.md; plots and results.json go to OUT/bench/.")
@click.option("--keep", is_flag=True, help="Keep the scratch databases (chatschema_bench_SCALE) afterwards.")
@click.option("--from-json", "from_json", type=click.Path(dir_okay=False, exists=True), metavar="FILE",
              help="Render the report from a results.json of an earlier run; connects to nothing.")
@connection_options
def bench_(scales: str, iterations: int, budget: float, write_seconds: float, clients: str, seed_runs: int,
           control: bool, out_dir: str, keep: bool, from_json: str | None, settings: Settings) -> None:
    """Benchmark every query variant at several data sizes; write OUT/benchmarks.md, plots and JSON.

    Per scale: a scratch database (chatschema_bench_SCALE, dropped afterwards unless
    --keep) at revision 0001 is seeded; today's queries and the seed plan's proposals
    are measured, interleaved; it is upgraded to head (each revision timed) and ours
    are measured, with today's at head as a control; then sends through a connection
    pool with 1, 4 and 16 clients, a check that every summary is exact, and a
    concurrent refresh of the views. With --dsn the scratch databases are created on
    that server (CREATEDB needed). Exit 1 if a summary is not exact after the sends.
    Migrations there run without a statement timeout (the databases are private).

    \b
    Example:
        chatschema bench --scales ci,bench,large         # regenerates docs/benchmarks.md (~45 min)
        chatschema bench --scales tiny --iterations 5 --out /tmp/bench
        chatschema bench --from-json docs/bench/results.json   # re-render only
    """
    if from_json:
        done = bench.rerender(_results(from_json), Path(out_dir))
    else:
        specs = bench.parse_scales(scales)
        options = bench.BenchOptions(iterations=iterations, budget_s=budget, write_seconds=write_seconds,
                                     clients=_clients(clients), control=control, seed_runs=seed_runs)
        with progress_bar() as bar:
            done = bench.benchmark(settings, specs, options, Path(out_dir), keep=keep, progress=_bench_progress(bar),
                                   on_event=_bench_events(err))
    for target in done.targets:
        mark = {"PASS": "✓", "MISS": "✗"}.get(target.status, "-")
        out.print(f"{mark} {target.status} {target.name}: {target.measured}", markup=False, soft_wrap=True)
    for check in done.summaries:
        verdict = "exact" if check.mismatches == 0 else f"{check.mismatches:,} NOT EXACT"
        out.print(f"summaries at {check.scale}: {check.conversations:,} conversations checked, {verdict}", markup=False)
    out.print(f"wrote {done.written[0]} and {len(done.written) - 1} files in {Path(out_dir) / 'bench'}", markup=False)
    if not done.exact:
        sys.exit(1)
