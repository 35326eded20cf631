"""`chatschema backfill status|pause|resume`: watch and steer a running backfill, and the signal handling
that lets SIGTERM and Ctrl-C stop one between batches."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn, TimeRemainingColumn
from rich.text import Text

from ..migrate import control
from ..migrate.control import BackfillStatus
from ..migrate.gates import CONTINUES, WAITS
from ..progress import Warn
from ..settings import Settings
from . import connection_options, err, main, out


class RateColumn(ProgressColumn):
    """Rows per second, as rich measures them from the updates."""

    def render(self, task: Task) -> Text:
        return Text(f"{task.speed:,.0f} rows/s" if task.speed else "- rows/s")


def upgrade_bar() -> Progress:
    """The backfill's progress during `upgrade`: rows done of the total, rate, ETA, and the gate it waits on."""
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), RateColumn(), TimeRemainingColumn(),
        TextColumn("{task.fields[gate]}"), console=err, transient=True,
    )


def gate_tracking(bar: Progress, tasks: dict[str, object], warn: Warn) -> Warn:
    """``warn``, which also shows on the bar the gate a backfill waits on (and clears it when it goes on)."""

    def report(message: str) -> None:
        warn(message)
        gate = ""
        if message.startswith(WAITS):
            gate = "waits: " + message.removeprefix(WAITS).split(" (", 1)[0]
        elif not message.startswith(CONTINUES) and "paused by" in message:
            gate = "paused"
        for task in tasks.values():
            bar.update(task, gate=gate)  # type: ignore[arg-type]

    return report


@contextmanager
def stop_between_batches() -> Iterator[None]:
    """While the block runs, SIGTERM and Ctrl-C ask a running batched job (a backfill, retention,
    delete-conversation) to stop after its current batch (a backfill's checkpoint commits with it);
    outside one, or at the second signal, they act as usual.
    Only the main thread may install signal handlers: a command run from another thread (an embedding
    application, a test) keeps the process's own handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def handler(signum: int, frame: FrameType | None) -> None:
        if control.running() and not control.stop_requested():
            control.request_stop()
            return
        signal.signal(signum, previous[signum])
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        os.kill(os.getpid(), signum)

    for sig in previous:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        control.clear_stop()


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def render_status(st: BackfillStatus) -> None:
    left = max(st.rows_total - st.rows_done, 0)
    out.print(f"backfill {st.name}: {st.state}" + (f" (pid {st.pid}: {st.doing})" if st.pid else ""), markup=False)
    out.print(f"  rows done {st.rows_done:,} of about {st.rows_total:,}; left about {left:,}", markup=False)
    if st.rate_per_s is not None:
        out.print(f"  rate {st.rate_per_s:,.0f} rows/s; ETA {_eta(st.eta_s)}", markup=False)
    if st.paused_since is not None:
        out.print(f"  paused since {st.paused_since:%Y-%m-%d %H:%M:%S %Z} (`chatschema backfill resume` continues it)",
                  markup=False)
    if st.updated_at is not None:
        out.print(f"  last checkpoint {st.updated_at:%Y-%m-%d %H:%M:%S %Z}", markup=False)


@main.group()
def backfill() -> None:
    """Watch and steer the summary backfill (revision 0004) while `upgrade` runs it.

    \b
    Example:
        chatschema backfill status --dsn "$DATABASE_URL"
        chatschema backfill pause --dsn "$DATABASE_URL"    # the run waits between batches, holding no locks
        chatschema backfill resume --dsn "$DATABASE_URL"
    """


@backfill.command()
@connection_options
def status(settings: Settings) -> None:
    """What the backfill does: rows done and left, rate, ETA, the gate it waits on. Read-only.

    From chatschema's checkpoint table and the running session's application_name in
    pg_stat_activity.

    \b
    Example:
        chatschema backfill status --dsn "$DATABASE_URL"
    """
    render_status(control.backfill_status(settings))


@backfill.command()
@connection_options
def pause(settings: Settings) -> None:
    """Pause the backfill before its next batch (a later run also waits) until `backfill resume`.

    The running `upgrade` finishes the batch it is in, commits it, and waits holding no locks.

    \b
    Example:
        chatschema backfill pause --dsn "$DATABASE_URL"
    """
    render_status(control.pause(settings))


@backfill.command()
@connection_options
def resume(settings: Settings) -> None:
    """Let a paused backfill continue with its next batch.

    \b
    Example:
        chatschema backfill resume --dsn "$DATABASE_URL"
    """
    render_status(control.resume(settings))
