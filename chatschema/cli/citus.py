"""chatschema distribute: the tables onto a Citus coordinator (and lint --citus's rendering)."""

from __future__ import annotations

import sys

import click

from .. import server
from ..settings import Settings
from . import connection_options, main, out


def _size(n: int) -> str:
    for unit in ("bytes", "kB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


@main.command("distribute")
@click.option("--dry-run", is_flag=True, help="Print each create_distributed_table call, what it locks and moves, "
                                              "and the shard count; change nothing.")
@connection_options
def distribute_(dry_run: bool, settings: Settings) -> None:
    """Distribute users (by id), conversations and messages (by user_id, co-located) on a Citus coordinator.

    Refuses, naming the blocker, unless the database is at head, has the citus extension and
    has no key, foreign key or trigger Citus would reject (`chatschema lint --citus` lists them
    all). Each call blocks writes to its table while its rows are copied into the shards.
    Tables Citus already holds are skipped; what was distributed is recorded in
    chatschema_distribution, which `chatschema check` compares with Citus's metadata.

    Then it creates chatschema's own objects for the distributed path: the delegated send
    (chatschema_send_message, one task per send) and the analytics rollups (user_daily_rollup
    co-located with messages, daily_totals_rollup a reference table), refreshed once; keep them
    fresh with `chatschema views refresh`.

    \b
    Example:
        chatschema distribute --dsn postgresql://dba@coordinator/chat --dry-run
    """
    from ..citus import distribute as dist

    planned = dist.plan(settings) if dry_run else dist.distribute(settings)
    target = server.describe_target(settings.dsn)
    head = "Dry run on" if dry_run else "Distributed on"
    out.print(f"{head} {target}{' (nothing is changed)' if dry_run else ''}: {len(planned.calls)} tables at "
              f"{planned.revision}, {planned.shard_count} shards each over {planned.workers} workers", markup=False)
    for call in planned.calls:
        out.print(f"  {call.sql}", markup=False)
        if call.done:
            out.print(f"      already distributed: skipped", markup=False)
            continue
        out.print(f"      {call.locks}; moves ~{call.rows:,} rows ({_size(call.bytes)}) into "
                  f"{planned.shard_count} shards", markup=False)
    out.print(f"  {planned.send_function}", markup=False)
    out.print("      already distributed: its body replaced" if planned.send_function_done
              else f"      {planned.send_function_note}", markup=False)
    for call, done in planned.rollup_calls:
        out.print(f"  {call}", markup=False)
        out.print("      already distributed: skipped" if done else
                  "      a rollup of chatschema's own, created empty (the analytics' citus variants read it)",
                  markup=False)
    refreshed = planned.refreshed
    if refreshed is not None:
        out.print(f"  rollups refreshed {refreshed.summary}", markup=False)
    elif dry_run:
        out.print("  then the rollups' first refresh (INSERT ... ON CONFLICT DO UPDATE per user-day, pushed down to "
                  "every shard; the day totals from them)", markup=False)
    for warning in planned.warnings:
        out.print(f"  ! {warning}", markup=False, soft_wrap=True)


def render_readiness(found: list, where: str) -> None:
    """lint --citus's output: each blocker on a line, exit 1 when there is one."""
    for blocker in found:
        refused = "Citus refuses" if blocker.refused else "breaks on Citus"
        out.print(f"✗ {blocker} [{refused}]", markup=False, soft_wrap=True)
    if found:
        out.print(f"✗ {len(found)} blocker{'s' * (len(found) != 1)} to distributing {where}", markup=False)
        sys.exit(1)
    out.print(f"✓ {where} is ready for Citus: every key and foreign key contains the distribution column, no "
              f"triggers, no materialized view joining them, every hot query pins its owner", markup=False)
