"""chatschema bench."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click
from rich.console import Console
from rich.progress import Progress

from ..settings import Settings
from . import connection_options, err, main, out, progress_bar


def _bench_progress(bar: Progress) -> Callable[[str, int, int], None]:
    tasks: dict[str, Any] = {}

    def progress(name: str, done: int, total: int) -> None:
        if name not in tasks:
            tasks[name] = bar.add_task(name, total=total)
        bar.update(tasks[name], completed=done, total=total)

    return progress


def _bench_events(console: Console, partial: Any = None) -> Callable[[str, Any], None]:
    def on_event(kind: str, payload: Any) -> None:
        if kind == "partial" and partial is not None:
            partial(payload)
        elif kind == "stage":
            console.print(f"• {payload}", markup=False, soft_wrap=True)
        elif kind == "revision":
            label, rev = payload
            console.print(f"  {label}: {rev.revision} {rev.title} ({rev.seconds:.2f} s)", markup=False, soft_wrap=True)
        elif kind == "seeded":
            label, seeded = payload
            console.print(f"  {label}: seeded {seeded.messages:,} messages, {seeded.conversations:,} conversations, "
                          f"{seeded.users:,} users in {seeded.seconds:.1f} s", markup=False)

    return on_event


@main.command("bench")
@click.option("--scales", default="ci", show_default=True, metavar="NAME[,NAME...]",
              help="Data sizes, smallest first: tiny (5k messages), ci (200k), bench (2M), large (10M); "
                   "NAME=N resizes one to N messages. Each gets its own scratch database.")
@click.option("--iterations", type=click.IntRange(1, 100_000), default=100, show_default=True,
              help="Rounds of the interleaved read loop (every read cell once per round).")
@click.option("--budget", type=click.FloatRange(0.1), default=15.0, show_default=True, metavar="SECONDS",
              help="A read cell stops after this much measured time (once it has 3 calls): bounds the slow variants.")
@click.option("--write-seconds", type=click.FloatRange(0.1), default=3.0, show_default=True, metavar="SECONDS",
              help="Duration of each send run (variant x spread/hot x clients).")
@click.option("--clients", default="1,4,16", show_default=True, metavar="N[,N...]",
              help="Concurrent clients (pool sizes) of the send runs.")
@click.option("--control/--no-control", default=True, show_default=True,
              help="Also measure today's queries at head, interleaved with ours.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="docs", show_default=True,
              help="Directory for benchmarks.md; plots and results.json go to OUT/bench/.")
@click.option("--keep", is_flag=True, help="Keep the scratch databases (chatschema_bench_SCALE) afterwards.")
@click.option("--from-json", "from_json", type=click.Path(dir_okay=False, exists=True), metavar="FILE",
              help="Render the report from a results.json of an earlier run; connects to nothing.")
@connection_options
def bench_(scales: str, iterations: int, budget: float, write_seconds: float, clients: str, control: bool, out_dir: str,
           keep: bool, from_json: str | None, settings: Settings) -> None:
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
    import json
    import shlex
    from pathlib import Path

    from .. import bench
    from ..bench import report as bench_report

    given = [f"--scales {shlex.quote(scales)}"] + [
        f"{flag} {value}" for flag, value, default in (
            ("--iterations", iterations, 100), ("--budget", f"{budget:g}", "15"),
            ("--write-seconds", f"{write_seconds:g}", "3"), ("--clients", shlex.quote(clients), "1,4,16"),
        ) if str(value) != str(default)
    ] + ([] if control else ["--no-control"])
    command = "chatschema bench " + " ".join(given)
    if from_json:
        try:
            data = json.loads(Path(from_json).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise click.BadParameter(f"cannot read {from_json}: {exc}", param_hint="--from-json") from None
        command = data.get("command", command)
    else:
        specs = bench.parse_scales(scales)
        try:
            pool_sizes = tuple(int(c) for c in clients.split(",") if c.strip())
        except ValueError:
            raise click.BadParameter(f"expected whole numbers separated by commas, got {clients!r}",
                                     param_hint="--clients") from None
        if not pool_sizes or min(pool_sizes) < 1:
            raise click.BadParameter(f"expected whole numbers of at least 1, got {clients!r}", param_hint="--clients")
        options = bench.BenchOptions(iterations=iterations, budget_s=budget, write_seconds=write_seconds,
                                     clients=pool_sizes, control=control)
        partial_path = Path(out_dir) / "bench" / "results.partial.json"

        def save_partial(run: bench.BenchRun) -> None:
            # A long run that fails in its last scale can still be rendered with --from-json.
            partial_path.parent.mkdir(parents=True, exist_ok=True)
            partial_path.write_text(json.dumps({**run.to_dict(), "command": command}, indent=1, default=str),
                                    encoding="utf-8")

        with progress_bar() as bar:
            result = bench.run(settings, specs, options, keep=keep, progress=_bench_progress(bar),
                               on_event=_bench_events(err, save_partial))
        data = {**result.to_dict(), "command": command}
        partial_path.unlink(missing_ok=True)
    written = bench_report.write_report(data, Path(out_dir), command)
    for target in bench_report.targets(data):
        mark = {"PASS": "✓", "MISS": "✗"}.get(target.status, "-")
        out.print(f"{mark} {target.status} {target.name}: {target.measured}", markup=False, soft_wrap=True)
    bad = [s for s in data["scales"] if s["summary_mismatches"] != 0]
    for s in data["scales"]:
        verdict = "exact" if s["summary_mismatches"] == 0 else f"{s['summary_mismatches']:,} NOT EXACT"
        out.print(f"summaries at {s['scale']}: {s['summary_conversations']:,} conversations checked, "
                               f"{verdict}", markup=False)
    out.print(f"wrote {written[0]} and {len(written) - 1} files in {Path(out_dir) / 'bench'}", markup=False)
    if bad:
        sys.exit(1)
