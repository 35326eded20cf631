"""The benchmark report: docs/benchmarks.md, PNG plots in docs/bench/, and the raw JSON beside them.

Everything is rendered from the JSON form of a ``bench.BenchRun`` (``BenchRun.to_dict()``, or
``results.json`` read back), so the report can be regenerated without re-running the benchmark.
The plots need matplotlib (``pip install 'chatschema[bench]'``): ``plots`` is imported only when
they are written, and ``require_plots`` says so before any work starts.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

from ...errors import MissingDependency
from .lookup import HEADLINE, SEED_PLAN, VARIANT_LABELS, VARIANTS, Row
from .markdown import render_markdown
from .targets import Target, targets

__all__ = [
    "SEED_PLAN",
    "HEADLINE",
    "VARIANTS",
    "VARIANT_LABELS",
    "Row",
    "Target",
    "targets",
    "render_markdown",
    "INSTALL",
    "require_plots",
    "write_plots",
    "write_report",
]

INSTALL = "pip install 'chatschema[bench]'"


def require_plots() -> None:
    """Raise MissingDependency, saying how to install it, when matplotlib (the ``bench`` extra) is missing."""
    try:
        found = importlib.util.find_spec("matplotlib") is not None
    except ValueError:  # a module object without a spec stands in for it
        found = False
    if not found:
        raise MissingDependency(f"the benchmark report's plots need matplotlib: {INSTALL}")


def write_plots(run: dict[str, Any], directory: Path) -> list[Path]:
    """Every PNG of the report into ``directory``; returns their paths."""
    require_plots()
    from . import plots

    return plots.write_plots(run, directory)


def write_report(run: dict[str, Any], out: Path, command: str = "chatschema bench") -> list[Path]:
    """``out``/benchmarks.md, ``out``/bench/*.png and ``out``/bench/results.json; returns the paths written."""
    require_plots()
    bench_dir = out / "bench"
    bench_dir.mkdir(parents=True, exist_ok=True)
    results = bench_dir / "results.json"
    results.write_text(json.dumps(run, indent=1, default=str) + "\n", encoding="utf-8")
    plots = write_plots(run, bench_dir)
    markdown = out / "benchmarks.md"
    markdown.write_text(render_markdown(run, [f"bench/{p.name}" for p in plots], command), encoding="utf-8")
    return [markdown, results, *plots]
