"""The report's PNG plots, drawn with matplotlib's object API (``Figure``) and its Agg canvas: no pyplot, no global backend.

The only module of chatschema that imports matplotlib (the ``bench`` extra); the report imports
it only when it writes plots.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter, NullLocator

from ..results import PAGE_SIZE, PAGES
from .lookup import HEADLINE, VARIANT_LABELS, VARIANTS, Row, by_size, cell, largest, p

__all__ = ["write_plots"]

_STYLE = {  # colour, line style, marker
    ("today", False): ("#c0392b", "-", "o"),
    ("seed_proposal", False): ("#e67e22", "-", "s"),
    ("optimized", False): ("#27ae60", "-", "^"),
    ("today", True): ("#7f8c8d", "--", "x"),
}


def _figure(rows: int, cols: int, height: float = 3.4) -> Any:
    # Fixed margins rather than a layout engine: constrained layout draws every figure twice.
    fig = Figure(figsize=(5.2 * cols, height * rows + 0.5), dpi=90)
    axes = fig.subplots(rows, cols, squeeze=False)
    fig.subplots_adjust(left=0.09, right=0.98, bottom=0.14 / rows, top=1 - 0.45 / (height * rows + 0.5),
                        wspace=0.28, hspace=0.45)
    return fig, axes


def _human(value: float, _pos: object = None) -> str:
    """Tick labels as plain text (10, 2k, 10M, 0.05): the default log labels are mathtext, slow to lay out."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= size:
            return f"{value / size:g}{suffix}"
    return f"{value:g}"


def _log(ax: Any, *, x: bool = True, y: bool = True, base: int = 10, xticks: Sequence[float] = ()) -> None:
    """Log axes labelled 1, 2, 5, 10, 20...; ``xticks`` puts the x labels exactly at the data (the scales)."""
    for on, axis, set_scale in ((x, ax.xaxis, ax.set_xscale), (y, ax.yaxis, ax.set_yscale)):
        if on:
            set_scale("log", base=base)
            axis.set_major_locator(LogLocator(base=base, subs=(1.0, 2.0, 5.0) if base == 10 else (1.0,), numticks=10))
            axis.set_major_formatter(FuncFormatter(_human))
            axis.set_minor_formatter(NullFormatter())
    if x and xticks:
        ax.xaxis.set_major_locator(FixedLocator(sorted(set(xticks))))
        ax.xaxis.set_minor_locator(NullLocator())


def _positive(points: Iterable[tuple[float, float | None]]) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for x, y in points:
        if y is not None and y > 0 and x > 0:
            xs.append(x)
            ys.append(y)
    return xs, ys


def _save(fig: Any, path: Path) -> Path:
    fig.savefig(path, format="png", metadata={"Software": None})
    return path


def _growth_plot(run: dict[str, Any], row: Row, path: Path) -> Path | None:
    scales = by_size(run)
    fig, axes = _figure(1, 2)
    drawn = False
    for (variant, control) in VARIANTS:
        colour, style, marker = _STYLE[(variant, control)]
        lat = [(s["messages"], p(cell(s, row, variant, control))) for s in scales]
        buf = [(s["messages"], (cell(s, row, variant, control) or {}).get("buffers")) for s in scales]
        for ax, points in ((axes[0][0], lat), (axes[0][1], buf)):
            xs, ys = _positive(points)
            if xs:
                ax.plot(xs, ys, style, color=colour, marker=marker, label=VARIANT_LABELS[(variant, control)])
                drawn = True
    if not drawn:
        return None
    for ax, ylabel in ((axes[0][0], "p50 latency per call (ms)"), (axes[0][1], "shared buffers per call")):
        _log(ax, xticks=[s["messages"] for s in scales])
        ax.set_xlabel("messages in the database")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"{row.label} ({row.case if row.operation != 'send_message' else 'spread over conversations'})")
    return _save(fig, path)


def _pagination_plot(run: dict[str, Any], path: Path) -> Path:
    scales = by_size(run)
    fig, axes = _figure(2, 2, height=3.6)
    fig.subplots_adjust(bottom=0.16)  # room for the legend below the panels
    styles = ("-", "--", ":", "-.")
    for r, (operation, case, title) in enumerate((
        ("list_conversations", "heaviest user", "List conversations (heaviest user)"),
        ("load_messages", "longest conversation", "Load messages (longest conversation)"),
    )):
        for i, scale in enumerate(scales):
            for variant, control, how in (("today", False, "OFFSET"), ("today", True, "OFFSET at head"),
                                          ("optimized", False, "cursor")):
                cells = sorted((c for c in scale["reads"] if c["operation"] == operation and c["case"] == case
                                and c["variant"] == variant and c["control"] == control), key=lambda c: c["page"])
                colour = _STYLE[(variant, control)][0]
                label = f"{how}, {scale['scale']}"
                for col, value in ((0, lambda c: p(c)), (1, lambda c: c.get("buffers"))):
                    xs, ys = _positive((c["page"], value(c)) for c in cells)
                    if xs:
                        axes[r][col].plot(xs, ys, styles[i % len(styles)], color=colour, marker="o", label=label)
        for col, ylabel in ((0, "p50 latency per call (ms)"), (1, "shared buffers per call")):
            ax = axes[r][col]
            _log(ax, xticks=list(PAGES))
            ax.set_xlabel(f"page ({PAGE_SIZE} rows each)")
            ax.set_ylabel(ylabel)
            ax.set_title(title, fontsize=10)
            ax.grid(True, which="both", alpha=0.3)
    handles, labels = axes[1][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
    return _save(fig, path)


def _writes_plot(run: dict[str, Any], path: Path) -> Path:
    scale = largest(run)
    fig, axes = _figure(1, 2)
    for variant in ("today", "optimized"):
        colour = _STYLE[(variant, False)][0]
        for target, style in (("spread", "-"), ("hot", "--")):
            cells = sorted((w for w in scale["writes"] if w["variant"] == variant and w["target"] == target),
                           key=lambda w: w["clients"])
            label = f"{'today (0001)' if variant == 'today' else 'optimized (head)'}, {target}"
            for ax, value in ((axes[0][0], lambda w: w["throughput"]), (axes[0][1], lambda w: p(w, "p99"))):
                xs, ys = _positive((w["clients"], value(w)) for w in cells)
                if xs:
                    ax.plot(xs, ys, style, color=colour, marker="o", label=label)
    for ax, ylabel in ((axes[0][0], "sends per second"), (axes[0][1], "p99 latency per send (ms)")):
        _log(ax, y=False, base=2, xticks=[float(c) for c in run["options"]["clients"]])
        ax.set_xlabel("concurrent clients (pool size)")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
    _log(axes[0][1], x=False)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"Send message through a connection pool, {scale['scale']} ({scale['messages']:,} messages)")
    return _save(fig, path)


def _migration_plot(run: dict[str, Any], path: Path) -> Path:
    scales = by_size(run)
    fig, axes = _figure(1, 2)
    revisions = sorted({m["revision"] for s in scales for m in s["migration"] if m["revision"] != "0001"})
    for rev in revisions:
        xs, ys = _positive((s["messages"], next((m["seconds"] for m in s["migration"] if m["revision"] == rev), None))
                           for s in scales)
        if xs:
            axes[0][0].plot(xs, ys, "-", marker="o", label=rev)
    for view in dict.fromkeys(r["view"] for s in scales for r in s["refresh"]):
        xs, ys = _positive((s["messages"], next((r["seconds"] for r in s["refresh"] if r["view"] == view), None))
                           for s in scales)
        if xs:
            axes[0][1].plot(xs, ys, "-", marker="o", label=view)
    for ax, title in ((axes[0][0], "each revision on the populated database"),
                      (axes[0][1], "REFRESH MATERIALIZED VIEW CONCURRENTLY")):
        _log(ax, xticks=[s["messages"] for s in scales])
        ax.set_xlabel("messages in the database")
        ax.set_ylabel("seconds")
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    return _save(fig, path)


def write_plots(run: dict[str, Any], directory: Path) -> list[Path]:
    """Every PNG of the report into ``directory``; returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    written = [p for row in HEADLINE if (p := _growth_plot(run, row, directory / f"growth_{row.slug}.png"))]
    written.append(_pagination_plot(run, directory / "pagination.png"))
    written.append(_writes_plot(run, directory / "writes.png"))
    written.append(_migration_plot(run, directory / "migration.png"))
    return written


# --- markdown ---------------------------------------------------------------------------------------------
