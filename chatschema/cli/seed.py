"""chatschema seed."""

from __future__ import annotations

from typing import Any

import click

from .. import server
from ..settings import Settings
from . import connection_options, main, out, progress_bar


@main.command("seed")
@click.option("--scale", type=click.Choice(["tiny", "ci", "bench", "large"]), default="ci", show_default=True,
              help="How much: tiny (5k messages, unit tests), ci (200k), bench (2M), large (10M).")
@click.option("--messages", type=int, metavar="N",
              help="Generate N messages (100 to 100,000,000) instead of the scale's count; users and conversations "
                   "scale in proportion.")
@click.option("--seed", "seed_", type=int, default=42, show_default=True,
              help="Same seed, same data: ids, content and timestamps.")
@click.option("--replace", is_flag=True, help="Delete every row first (TRUNCATE users CASCADE) if the tables are not empty.")
@connection_options
def seed_(scale: str, messages: int | None, seed_: int, replace: bool, settings: Settings) -> None:
    """Fill the database with skewed, deterministic chat data, generated inside PostgreSQL.

    A whale user with tens of thousands of conversations, conversations with tens of
    thousands of messages, users and conversations with none, user/assistant pairs sharing
    a timestamp, and content from two characters to 9 kB. Works at any revision from 0001
    on (summaries exact from 0003; views refreshed at 0007), then VACUUM (ANALYZE)s every
    table. --lock-timeout bounds the wait for locks (TRUNCATE takes the strongest);
    --statement-timeout does not apply, since every statement here is a bulk load.

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
        report = seed_database(info, scale=scale, messages=messages, seed=seed_, replace=replace, progress=progress,
                               lock_timeout_ms=settings.lock_timeout_ms)
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


