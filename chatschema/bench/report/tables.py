"""The report's tables, each a list of markdown lines rendered from a run's JSON."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ...doctor import format_size
from ..results import PAGE_SIZE
from .lookup import (
    HEADLINE, SEED_PLAN, VARIANT_LABELS, VARIANTS, by_size, cell, deep_pages, find_read, headline, largest, ms, n, p,
    page_of, ratio,
)

__all__ = [
    "table", "machine_lines", "headline_table", "by_scale_table", "detail_table", "pagination_tables", "writes_table",
    "summaries_table", "analytics_table", "migrations_table", "scales_table", "seeding_table", "SEED_PHASES",
]

# The phases of a seed (seed.SeedReport.phases), in order.
SEED_PHASES = ("plan", "users and conversations", "messages", "indexes and constraints", "settle")


def table(header: Sequence[str], rows: Iterable[Sequence[str]], align: str = "") -> list[str]:
    align = align or "l" + "r" * (len(header) - 1)
    marks = {"l": "---", "r": "---:", "c": ":---:"}
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(marks[a] for a in align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def machine_lines(run: dict[str, Any]) -> list[str]:
    m, srv = run["machine"], run["server"]
    settings = ", ".join(f"`{k}={v}`" for k, v in srv.get("settings", {}).items())
    loads = [x for s in run["scales"] for x in s["load_average"]]
    return [
        f"- **Date**: {run['started']} to {run['finished']} (UTC)",
        f"- **Machine**: {m['cpus']} CPUs ({m['cpu_model']}), {format_size(m['ram_bytes'])} RAM, {m['os']}, "
        f"Python {m['python']}, chatschema {m['chatschema']}",
        f"- **PostgreSQL**: {srv.get('version', '?')} ({srv.get('target', '?')}), server defaults: {settings}",
        f"- **Noise**: the machine is shared with other engineers' test runs; the 1-minute load average ranged "
        f"{min(loads):.1f}–{max(loads):.1f} on {m['cpus']} CPUs (sampled as each scale began and ended). Read "
        f"medians and ratios, not "
        f"absolute times; buffers are deterministic and do not depend on the load.",
    ]


def headline_table(run: dict[str, Any]) -> list[str]:
    scale = largest(run)
    out = [f"At **{scale['scale']}** ({scale['messages']:,} messages, {scale['conversations']:,} conversations; "
           f"heaviest user {scale['interesting']['heaviest_user_conversations']:,} conversations, longest "
           f"conversation {scale['interesting']['longest_conversation_messages']:,} messages). p50 latency per call "
           f"as the client sees it; buffers per call from EXPLAIN (ANALYZE, BUFFERS).", ""]
    rows = []
    for row in HEADLINE:
        plan = SEED_PLAN.get(row.operation) if row.page == "first" else None
        promised = f"{plan[1]} → {plan[2]} ms ({plan[1] / plan[2]:.1f}×)" if plan else "–"
        cells = {v: cell(scale, row, *v) for v in VARIANTS}
        today, opt = p(cells[("today", False)]), p(cells[("optimized", False)])
        page = page_of(scale, row)
        label = row.label + (f" (page {page:,})" if row.page == "deep" else "")
        rows.append([
            label, promised, ms(today), ms(p(cells[("seed_proposal", False)])), ms(opt),
            ms(p(cells[("optimized", False)], "p99")), ratio(today, opt),
            f"{n((cells[('today', False)] or {}).get('buffers'))} → {n((cells[('optimized', False)] or {}).get('buffers'))}",
            ms(p(cells[("today", True)])),
        ])
    out += table(["operation", "seed plan: current → final", "today p50", "seed proposal p50", "optimized p50",
                  "optimized p99", "today ÷ optimized", "buffers today → optimized", "today at head (control)"],
                  rows)
    return out


def by_scale_table(run: dict[str, Any]) -> list[str]:
    scales = by_size(run)
    header = ["operation", "variant"]
    for s in scales:
        header += [f"{s['scale']} p50", f"{s['scale']} p99", f"{s['scale']} buffers"]
    rows = []
    for row in HEADLINE:
        for variant in VARIANTS:
            cells = [cell(s, row, *variant) for s in scales]
            if not any(cells):
                continue
            line = [row.label, VARIANT_LABELS[variant]]
            for c in cells:
                line += [ms(p(c)), ms(p(c, "p99")), n((c or {}).get("buffers"))]
            rows.append(line)
    return table(header, rows, "ll" + "r" * (len(header) - 2))


def detail_table(scale: dict[str, Any]) -> list[str]:
    rows = []
    for r in scale["reads"]:
        lat = r["latency"] or {}
        rows.append([
            r["operation"], r["case"], str(r["page"]), VARIANT_LABELS[(r["variant"], r["control"])],
            str(r["round_trips"]), n(lat.get("n")), ms(lat.get("p50")), ms(lat.get("p95")), ms(lat.get("p99")),
            n(r["buffers"]), ms(r["server_ms"]), n(r["rows"]), r["error"] or "",
        ])
    return table(["operation", "case", "page", "variant", "round trips", "calls", "p50", "p95", "p99", "buffers",
                  "server time", "rows", "error"], rows, "llrlrrrrrrrrl")


def pagination_tables(run: dict[str, Any]) -> list[str]:
    out = []
    for operation, case, title in (("list_conversations", "heaviest user", "List conversations, heaviest user"),
                                   ("load_messages", "longest conversation", "Load messages, longest conversation")):
        rows = []
        for scale in by_size(run):
            for page in deep_pages(scale, operation):
                get = {(v, ctl): find_read(scale, operation, case, page, v, ctl)
                       for v, ctl in (("today", False), ("optimized", False), ("today", True))}
                a, b = p(get[("today", False)]), p(get[("optimized", False)])
                control = get[("today", True)]
                rows.append([scale["scale"], f"{page:,}", f"{(page - 1) * PAGE_SIZE:,}", ms(a),
                             n((get[("today", False)] or {}).get("buffers")),
                             f"{ms(p(control))} / {n(control.get('buffers'))}" if control else "",
                             ms(b), n((get[("optimized", False)] or {}).get("buffers")), ratio(a, b)])
        out += [f"**{title}**", ""]
        out += table(["scale", "page", "rows skipped", "OFFSET p50 (today, 0001)", "OFFSET buffers",
                      "OFFSET at head (control): p50 / buffers", "cursor p50 (optimized, head)", "cursor buffers",
                      "OFFSET ÷ cursor"], rows)
        out.append("")
    return out


def writes_table(run: dict[str, Any]) -> list[str]:
    rows = []
    for scale in by_size(run):
        for w in scale["writes"]:
            lat = w["latency"] or {}
            rows.append([scale["scale"], f"{w['variant']} ({w['at']})", w["target"], str(w["clients"]), n(w["sends"]),
                         n(w["throughput"]), ms(lat.get("p50")), ms(lat.get("p99")), str(w["errors"]),
                         n(w["buffers"])])
    return table(["scale", "variant", "target", "clients", "sends", "sends/s", "p50", "p99", "errors",
                  "buffers per send"], rows, "lllrrrrrrr")


def summaries_table(run: dict[str, Any]) -> list[str]:
    rows = [[s["scale"], n(s["summary_conversations"]), str(s["summary_mismatches"]),
             "exact" if s["summary_mismatches"] == 0 else "**NOT EXACT**", f"{s['summary_seconds']:.1f} s"]
            for s in by_size(run)]
    return table(["scale", "conversations checked", "mismatches", "verdict", "check took"], rows, "lrrll")


def analytics_table(run: dict[str, Any]) -> list[str]:
    rows = []
    for scale in by_size(run):
        for slug in ("user_daily", "daily_totals"):
            row = headline(slug)
            live, view = cell(scale, row, "today", False), cell(scale, row, "optimized", False)
            refresh = next((r for r in scale["refresh"]
                            if r["view"] == ("user_daily_messages" if slug == "user_daily" else "daily_message_totals")),
                           None)
            rows.append([scale["scale"], row.label.removeprefix("Analytics: "), ms(p(live)),
                         n((live or {}).get("buffers")), ms(p(view)), n((view or {}).get("buffers")),
                         ratio(p(live), p(view)),
                         f"{refresh['seconds']:.2f} s ({n(refresh['rows'])} rows)" if refresh else "–"])
    return table(["scale", "read", "live aggregate p50 (0001)", "live buffers", "materialized view p50 (head)",
                  "view buffers", "live ÷ view", "REFRESH ... CONCURRENTLY"], rows, "llrrrrrr")


def migrations_table(run: dict[str, Any]) -> list[str]:
    scales = by_size(run)
    titles: dict[str, str] = {}
    for s in scales:
        for m in s["migration"]:
            titles.setdefault(m["revision"], m["title"])
    rows = []
    for rev, title in titles.items():
        line = [rev, title]
        for s in scales:
            seconds = next((m["seconds"] for m in s["migration"] if m["revision"] == rev), None)
            line.append("–" if seconds is None else f"{seconds:.2f} s")
        rows.append(line)
    rows.append(["", "**0002–0007 together**"] + [
        f"**{sum(m['seconds'] for m in s['migration'] if m['revision'] != '0001'):.1f} s**" for s in scales])
    return table(["revision", "what it does", *(f"{s['scale']} ({s['messages']:,} messages)" for s in scales)],
                  rows, "ll" + "r" * len(scales))


def scales_table(run: dict[str, Any]) -> list[str]:
    rows = [[s["scale"], n(s["messages"]), n(s["conversations"]), n(s["users"]),
             n(s["interesting"]["heaviest_user_conversations"]), n(s["interesting"]["longest_conversation_messages"]),
             format_size(s["database_bytes"]), f"{s['seed_seconds']:.0f} s", f"{s['seconds'] / 60:.1f} min"]
            for s in by_size(run)]
    return table(["scale", "messages", "conversations", "users", "heaviest user's conversations",
                  "longest conversation", "database at the end", "seeding", "whole scale"], rows)


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def seeding_table(run: dict[str, Any]) -> list[str]:
    """The seeding row of each scale: messages per second over the whole seed and while loading the
    messages (medians of its runs, with their range), and the median seconds of each phase. A run
    recorded before seed_runs existed has its one overall figure."""
    rows = []
    for s in by_size(run):
        runs = s.get("seed_runs") or [{"seconds": s["seed_seconds"], "phases": {},
                                       "messages_per_second": s["messages"] / s["seed_seconds"]}]
        rates = [r["messages_per_second"] for r in runs]
        loading = [s["messages"] / r["phases"]["messages"] for r in runs if r["phases"].get("messages")]
        phases = [f"{_median([r['phases'][ph] for r in runs]):.1f} s" if all(ph in r["phases"] for r in runs) else "–"
                  for ph in SEED_PHASES]
        spread = f" ({min(rates):,.0f}–{max(rates):,.0f})" if len(rates) > 1 else ""
        rows.append([s["scale"], n(s["messages"]), str(len(runs)), f"{_median(rates):,.0f}{spread}",
                     f"{_median(loading):,.0f}" if loading else "–", f"{_median([r['seconds'] for r in runs]):.1f} s",
                     *phases])
    return table(["scale", "messages", "runs", "messages/s, whole seed (median, range)", "messages/s while loading",
                  "seed", *SEED_PHASES], rows)
