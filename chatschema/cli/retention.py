"""Deleting at scale: chatschema retention and chatschema delete-conversation."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import click

from .. import server
from ..errors import Stopped
from ..settings import Settings
from . import _GATE_OPTIONS, connection_options, gate_options, main, out, progress_bar, warn
from .backfill import stop_between_batches


def _policy(settings: Settings, kwargs: dict[str, Any]) -> Any:
    from ..migrate.gates import GatePolicy

    return GatePolicy.from_settings(settings.with_policy(**{name: kwargs.pop(name) for name in _GATE_OPTIONS}))


def _bar() -> tuple[Any, Any]:
    """A progress callback that starts the bar on first use, and a stop that ends it only if it started
    (an error before any progress prints nothing but its line)."""
    bar = progress_bar()
    tasks: dict[str, Any] = {}

    def stop() -> None:
        if tasks:
            bar.stop()
            tasks.clear()

    def progress(name: str, done: int, total: int) -> None:
        if not tasks:
            bar.start()
        if name not in tasks:
            tasks[name] = bar.add_task(name, total=total)
        bar.update(tasks[name], completed=done, total=total)

    return stop, progress


@main.command("retention")
@click.option("--older-than", "older_than", required=True, metavar="AGE|DATE",
              help="Delete messages created before this: an age (90d, 12h, 30min) or an ISO date or datetime.")
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted; change nothing.")
@click.option("--batch-size", type=click.IntRange(1, 1_000_000), default=5000, show_default=True,
              help="Messages deleted per committed batch (adapted to --backfill-target-time).")
@gate_options
@connection_options
def retention_(older_than: str, dry_run: bool, batch_size: int, settings: Settings, **gates: Any) -> None:
    """Delete messages older than a cut-off in committed batches, keeping every summary exact.

    Counts first (what --dry-run prints), then deletes oldest first, conversation by conversation,
    each batch under the same health gates as the backfill (replica lag, slots' WAL, vacuum on
    messages, the archiver). A conversation whose newest message goes gets its summary recomputed
    in the same transaction. SIGTERM or Ctrl-C stop it after the batch in progress (exit 0; a
    second signal acts at once); killed, the batch in progress rolls back. A re-run continues.

    \b
    Example:
        chatschema retention --older-than 365d --dry-run --dsn "$DATABASE_URL"
        chatschema retention --older-than 2025-01-01 --max-replica-lag 5s --dsn "$DATABASE_URL"
    """
    from ..retention import parse_cutoff, retention_counts, run_retention

    cutoff = parse_cutoff(older_than, datetime.now(timezone.utc))
    policy = _policy(settings, gates)
    with server.connect(server.conninfo(settings), autocommit=True) as conn:
        counts = retention_counts(conn, cutoff)
        out.print(f"{'would delete' if dry_run else 'deleting'} {counts.messages:,} of {counts.total_messages:,} "
                  f"messages older than {cutoff.isoformat()} in {counts.conversations:,} conversations; "
                  f"{counts.summaries:,} summaries to recompute (their newest message goes)", markup=False)
        if dry_run or not counts.messages:
            return
        stop, progress = _bar()
        try:
            with stop_between_batches():
                done = run_retention(conn, cutoff, batch=batch_size, gates=policy, report=warn, progress=progress,
                                     expected=counts.messages)
        except Stopped as stopped:
            stop()
            out.print(str(stopped), markup=False)
            return
        finally:
            stop()
    out.print(f"✓ deleted {done.messages:,} messages in {done.conversations:,} conversations in {done.batches:,} "
              f"batches ({done.seconds:.1f} s); {done.summaries_recomputed:,} summaries recomputed", markup=False)


@main.command("delete-conversation")
@click.argument("conversation_id", metavar="ID")
@click.option("--batch-size", type=click.IntRange(1, 1_000_000), default=5000, show_default=True,
              help="Messages per committed batch; a conversation of at most this many goes in one statement.")
@gate_options
@connection_options
def delete_conversation_(conversation_id: str, batch_size: int, settings: Settings, **gates: Any) -> None:
    """Delete a conversation and its messages without one long transaction.

    At most --batch-size messages: one DELETE (the cascade). More: committed batches of its
    messages oldest first, never the one its summary points at, under the backfill's health gates,
    then the conversation. SIGTERM or Ctrl-C stop it after the batch in progress (exit 0). A re-run
    continues.

    \b
    Example:
        chatschema delete-conversation 3f1c0d9e-... --dsn "$DATABASE_URL"
    """
    from ..retention import delete_conversation

    policy = _policy(settings, gates)
    with server.connect(server.conninfo(settings), autocommit=True) as conn:
        stop, progress = _bar()
        try:
            with stop_between_batches():
                done = delete_conversation(conn, conversation_id, batch=batch_size, gates=policy, report=warn,
                                           progress=progress)
        except Stopped as stopped:
            stop()
            out.print(str(stopped), markup=False)
            return
        finally:
            stop()
    how = "in one statement" if done.batches == 0 else f"in {done.batches:,} batches and a last statement"
    out.print(f"✓ deleted conversation {done.conversation_id} and its {done.messages:,} messages {how} "
              f"({done.seconds:.1f} s)", markup=False)

