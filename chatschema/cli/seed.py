"""chatschema seed."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import click

from .. import server
from ..errors import Interrupted
from ..settings import Settings
from . import connection_options, err, main, out, progress_bar

# Exit statuses of a seed stopped by a signal: 128 + the signal's number, as a shell reports it.
INTERRUPTED_EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}


@contextmanager
def _terminate_as_interrupt() -> Iterator[list[int]]:
    """While the block runs, SIGTERM raises KeyboardInterrupt as Ctrl-C does, so that the seed cancels
    its statements on the server before exiting; yields the signals received. Only the main thread
    may install handlers: from another thread the process's own handlers stay."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    previous = {sig: signal.getsignal(sig) for sig in INTERRUPTED_EXIT}

    def handler(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        if len(received) == 1:
            raise KeyboardInterrupt

    for sig in previous:
        signal.signal(sig, handler)
    try:
        yield received
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@main.command("seed")
@click.option("--scale", type=click.Choice(["tiny", "ci", "bench", "large"]), default="ci", show_default=True,
              help="How much: tiny (5k messages, unit tests), ci (200k), bench (2M), large (10M).")
@click.option("--messages", type=int, metavar="N",
              help="Generate N messages (100 to 100,000,000) instead of the scale's count; users and conversations "
                   "scale in proportion.")
@click.option("--seed", "seed_", type=int, default=42, show_default=True,
              help="Same seed, same data: ids, content and timestamps.")
@click.option("--replace", is_flag=True,
              help="Delete every row of users, conversations and messages first if they are not empty; refused when "
                   "another table's foreign key refers to them, unless that table is named with --also-truncate.")
@click.option("--also-truncate", "also_truncate", multiple=True, metavar="TABLE",
              help="With --replace: empty TABLE too, an application's table whose foreign key refers to users, "
                   "conversations or messages (repeat for each; every such table must be named).")
@connection_options
def seed_(scale: str, messages: int | None, seed_: int, replace: bool, also_truncate: tuple[str, ...],
          settings: Settings) -> None:
    """Fill the database with skewed, deterministic chat data, generated inside PostgreSQL.

    A whale user with tens of thousands of conversations, conversations with tens of
    thousands of messages, users and conversations with none, user/assistant pairs sharing
    a timestamp, and content from two characters to 9 kB. Works at any revision from 0001
    on (summaries exact from 0003; views refreshed at 0007), then VACUUM (ANALYZE)s every
    table. --lock-timeout bounds the wait for locks (TRUNCATE takes the strongest);
    --statement-timeout does not apply, since every statement here is a bulk load.

    Ctrl-C or SIGTERM cancels the seed's statements on the server within a second or two
    and exits 130 (SIGINT) or 143 (SIGTERM): before the commit nothing is kept; while
    settling the data stays, not yet VACUUM (ANALYZE)d. A killed client's sessions stop
    by themselves within a second (client_connection_check_interval).

    \b
    Example:
        chatschema upgrade && chatschema seed --scale ci
        chatschema seed --scale large --seed 7 --replace --dsn postgresql://dba@bench/chat
    """
    from ..seed import seed_database

    info = server.conninfo(settings)
    bar = progress_bar()  # started by the first chunk, so a refusal prints nothing but its error
    tasks: dict[str, Any] = {}

    def progress(name: str, done: int, total: int) -> None:
        if not tasks:
            bar.start()
        if name not in tasks:
            tasks[name] = bar.add_task(name, total=total)
        bar.update(tasks[name], completed=done, total=total)

    try:
        with _terminate_as_interrupt() as received:
            report = seed_database(info, scale=scale, messages=messages, seed=seed_, replace=replace,
                                   progress=progress, lock_timeout_ms=settings.lock_timeout_ms,
                                   also_truncate=also_truncate)
    except Interrupted as exc:
        if tasks:
            bar.stop()
        signum = received[0] if received else signal.SIGINT
        err.print(f"Error: {signal.Signals(signum).name}: {exc}", markup=False, soft_wrap=True)
        sys.exit(INTERRUPTED_EXIT[signal.Signals(signum)])
    finally:
        if tasks:
            bar.stop()
    loading = dict(report.phases).get("messages") or report.seconds
    out.print(
        f"Seeded {server.describe_target(info)} at revision {report.revision} (scale {report.scale}, seed {report.seed}): "
        f"{report.users:,} users, {report.conversations:,} conversations, {report.messages:,} messages "
        f"in {report.seconds:.1f} s ({report.messages_per_second:,.0f} messages/s; "
        f"{report.messages / loading:,.0f}/s while loading messages).",
        markup=False,
    )
    rows = report.interesting
    for label, value in (
        ("heaviest user", f"{rows.heaviest_user_id} ({rows.heaviest_user_conversations:,} conversations)"),
        ("typical user", f"{rows.typical_user_id} ({rows.typical_user_conversations:,} conversations)"),
        ("idle user", f"{rows.idle_user_id} (no conversations)"),
        ("longest conversation", f"{rows.longest_conversation_id} ({rows.longest_conversation_messages:,} messages, "
                                 f"user {rows.longest_conversation_user_id})"),
        ("empty conversation", f"{rows.empty_conversation_id} (user {rows.empty_conversation_user_id})"),
    ):
        out.print(f"  {label:<21} {value}", markup=False)


