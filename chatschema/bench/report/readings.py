"""The report's readings: sentences computed from the data, where the index alone does the work and where the new SQL does."""

from __future__ import annotations

from typing import Any

from .lookup import HEADLINE, cell, find_write, largest, ms, n, p, page_of, ratio

__all__ = ["readings"]

# What the new SQL adds beyond the migration's indexes, per operation (for the control comparison).
_ADDS = {
    "list_conversations": "reads the stored summary instead of every message",
    "load_messages": "pages by cursor at O(page) at any depth, and checks ownership in the same round trip",
    "conversation_view": "takes one round trip instead of two, and reads the summary from the conversation row",
    "user_daily_counts": "reads the precomputed view",
    "daily_totals": "reads the precomputed view",
}


def readings(run: dict[str, Any]) -> list[str]:
    """Readings computed from the data: where the index alone does the work, where the new SQL does."""
    scale = largest(run)
    at = f"at {scale['scale']}"
    out = []
    for row in HEADLINE:
        if row.operation == "send_message":
            continue
        opt, today, control = (cell(scale, row, *v) for v in (("optimized", False), ("today", False), ("today", True)))
        a, b, c = p(today), p(opt), p(control)
        if b is None:
            continue
        page = f" (page {page_of(scale, row):,})" if row.page == "deep" else ""
        text = f"- **{row.label}{page}**: today {ms(a)} → ours {ms(b)} ({ratio(a, b)}) {at}."
        if c is not None:
            ctl_buf, opt_buf = (control or {}).get("buffers"), (opt or {}).get("buffers")
            same_work = not (ctl_buf and opt_buf and ctl_buf > 2 * opt_buf)
            if same_work and c <= 1.5 * b:
                text += (f" Today's query at head takes {ms(c)} ({n(ctl_buf)} buffers against our {n(opt_buf)}): "
                         f"here the migration's index does the work; the new SQL also {_ADDS[row.operation]}.")
            elif same_work:
                text += (f" Today's query at head reads about as many buffers ({n(ctl_buf)} against our {n(opt_buf)}) "
                         f"but takes {ms(c)} ({ratio(c, b)} ours) over its {control['round_trips']} round trips: the "
                         f"migration's index does the server's work; the new SQL {_ADDS[row.operation]}.")
            elif c <= 1.5 * b:
                text += (f" Today's query at head is about as fast here ({ms(c)}) but reads {n(ctl_buf)} buffers "
                         f"against our {n(opt_buf)}: its cost grows with the depth or the data, ours does not.")
            else:
                text += (f" Today's query at head still takes {ms(c)} ({ratio(c, b)} ours, {n(ctl_buf)} buffers "
                         f"against {n(opt_buf)}): the index alone is not enough; the new SQL {_ADDS[row.operation]}.")
        seed = p(cell(scale, row, "seed_proposal", False))
        if seed is not None and a is not None:
            text += (f" The seed plan's SQL takes {ms(seed)}: "
                     + (f"{ratio(seed, a)} slower than today's." if seed > a else f"{ratio(a, seed)} faster than today's."))
        out.append(text)
    today1, ours1 = find_write(scale, "today", "spread", 1), find_write(scale, "optimized", "spread", 1)
    if today1 and ours1:
        out.append(
            f"- **Send message**: one client, today's three statements in a transaction {ms(p(today1))} → our one "
            f"statement {ms(p(ours1))} {at}. Ours also keeps the summary (an UPDATE that moves the conversation in "
            f"the list index, so it is never HOT: {n(ours1['buffers'])} buffers per send against {n(today1['buffers'])}); "
            f"both wait for one WAL flush per send, which dominates on this disk.")
        peak = {v: max((w for w in scale["writes"] if w["variant"] == v), key=lambda w: w["throughput"], default=None)
                for v in ("today", "optimized")}
        if peak["today"] and peak["optimized"]:
            out.append(
                f"- **Send throughput**: best today {n(peak['today']['throughput'])}/s ({peak['today']['target']}, "
                f"{peak['today']['clients']} clients), best ours {n(peak['optimized']['throughput'])}/s "
                f"({peak['optimized']['target']}, {peak['optimized']['clients']} clients). On one hot conversation "
                f"both serialize on the conversation's row lock (today's UPDATE takes it too), held until the "
                f"commit's WAL flush.")
    return out
