"""chatschema plans verify / show / docs, and the demo that tells the whole story."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from ..settings import Settings

if TYPE_CHECKING:
    from ..plans.report import Report
from . import connection_options, err, main, out, print_applied, progress_bar


@main.group()
def plans() -> None:
    """Plan contracts: prove every catalog query uses its indexes and costs O(page)."""


def _plan_progress(bar: Progress) -> Callable[[str, int, int], None]:
    tasks: dict[str, Any] = {}

    def progress(name: str, done: int, total: int) -> None:
        key = name.split()[0]
        if key not in tasks:
            tasks[key] = bar.add_task(name, total=total)
        bar.update(tasks[key], description=name, completed=done, total=total)

    return progress


def _plan_events(console: Console) -> Callable[[str, Any], None]:
    def on_event(kind: str, payload: Any) -> None:
        if kind == "stage":
            console.print(f"• {payload}", markup=False, soft_wrap=True)
        elif kind == "seeded":
            console.print(f"  seeded {payload.messages:,} messages, {payload.conversations:,} conversations, "
                          f"{payload.users:,} users in {payload.seconds:.1f} s", markup=False)

    return on_event


@plans.command("verify")
@click.option("--variant", type=click.Choice(["optimized", "today", "seed_proposal", "citus", "all"]),
              default="optimized", show_default=True,
              help="Which variants of the catalog to verify. On a Citus coordinator, optimized verifies the citus "
                   "variant where an operation has one (the send as one delegated call, the analytics from the "
                   "rollups).")
@click.option("--query", "query_name", metavar="NAME", help="One operation (all its chosen variants) or operation.variant.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "junit", "markdown", "sarif", "github"]),
              default="text", show_default=True,
              help="text for people, json for machines, junit for CI, markdown for pull requests, sarif for code "
                   "scanning, github for GitHub Actions annotations (each finding at its query's file and line).")
@click.option("--analyze/--no-analyze", default=None,
              help="Measure with EXPLAIN ANALYZE (read queries only, READ ONLY). Default: on for the scratch database, "
                   "off for --dsn, where writes are never executed.")
@click.option("--scale", default="ci", show_default=True, metavar="tiny|ci|bench|large",
              help="Data the scratch database is seeded with (a second one at a quarter of it measures growth); "
                   "at least 40,000 messages, 10,000 with --no-growth (tiny's 5,000 are refused).")
@click.option("--messages", type=int, metavar="N", help="Seed exactly N messages (same shape as --scale).")
@click.option("--growth/--no-growth", default=True, show_default=True,
              help="Measure buffer growth on a second, smaller scratch database.")
@click.option("--queries", "queries_dir", metavar="DIR",
              help="Verify an app team's queries instead of the catalog: every DIR/*.sql, one query each, its "
                   "contract in a comment header (docs/app-queries.md).")
@connection_options
def plans_verify(variant: str, query_name: str | None, fmt: str, analyze: bool | None, scale: str,
                 messages: int | None, growth: bool, queries_dir: str | None, settings: Settings) -> None:
    """Verify every catalog query's plan against its contract.

    Without --dsn: seeds a scratch database on the embedded server at today's schema,
    verifies today's queries, upgrades it to head, verifies the optimized ones, and
    measures buffer growth on a second, smaller database. With --dsn: plans the
    variants that match the database's revision, in READ ONLY transactions.
    Exit 0: every contract holds; 1: findings; 2: could not run.

    \b
    Example:
        chatschema plans verify --variant all
        chatschema plans verify --dsn "$REPLICA_URL" --format junit > plans.xml
        chatschema plans verify --queries examples/queries --format github
    """
    from ..plans import pipeline
    from ..plans.render import render

    with progress_bar() as bar:
        report = pipeline.run(settings, variant=variant, query=query_name, analyze=analyze, scale=scale,
                              messages=messages, growth=growth, progress=_plan_progress(bar),
                              on_event=_plan_events(err), queries_dir=queries_dir)
    click.echo(render(report, fmt), nl=False)
    for error in report.errors:
        err.print(f"Error: {error}", markup=False, soft_wrap=True)
    sys.exit(report.exit_code)


@plans.command("show")
@click.argument("name")
@click.option("--case", "case_name", metavar="CASE", help="Parameter case (default: the operation's first, e.g. 'heaviest user, first page').")
@click.option("--mode", type=click.Choice(["custom", "generic", "probe"]), default="custom", show_default=True,
              help="custom: the planner with the values; generic: a prepared statement's plan; probe: seq scans, bitmap scans and sorts off.")
@click.option("--analyze/--no-analyze", default=None, help="Measure (default: on for the scratch database, off for --dsn).")
@click.option("--scale", default="ci", show_default=True, metavar="tiny|ci|bench|large",
              help="Scratch database data (at least 10,000 messages; tiny's 5,000 are refused).")
@click.option("--messages", type=int, metavar="N", help="Seed exactly N messages.")
@connection_options
def plans_show(name: str, case_name: str | None, mode: str, analyze: bool | None, scale: str, messages: int | None,
               settings: Settings) -> None:
    """Show the plan of NAME (operation.variant) as a tree, with the contract's verdict on each node.

    \b
    Example:
        chatschema plans show list_conversations.today
        chatschema plans show load_messages.optimized --case "longest conversation, first page" --mode generic
    """
    from ..plans import pipeline
    from ..plans.render import contract_marks, tree

    with progress_bar() as bar:
        shown = pipeline.show(settings, name, case=case_name, mode=mode, analyze=analyze, scale=scale,
                              messages=messages, progress=_plan_progress(bar), on_event=_plan_events(err))
    result, check = shown.result, shown.check
    findings = [f for f in result.findings if f.case == check.case and f.mode == check.mode]
    out.print(f"{result.name} on PostgreSQL {shown.server_version} ({shown.target}): {check.case}, {check.mode} plan",
              markup=False)
    out.print(f"contract: {result.contract.describe()}", markup=False, soft_wrap=True)
    for i, plan in enumerate(check.plans):
        if len(check.plans) > 1:
            out.print(f"\nstatement {i + 1} ({plan.statement}):", markup=False)
        for line in tree(plan, contract_marks(result.contract, plan, findings, i), indent="  "):
            out.print(line, markup=False, soft_wrap=True)
    query_findings = [f for f in findings if f.node is None]
    for f in query_findings:
        out.print(f"✗ {f.rule}: {f.message}", markup=False, soft_wrap=True)
    out.print(("✓ the contract holds" if not findings else f"✗ {len(findings)} finding{'s' * (len(findings) != 1)}")
              + f"; other cases: {'; '.join(c for c in shown.cases if c != check.case) or 'none'}", markup=False)
    sys.exit(1 if findings else 0)


@plans.command("docs")
@click.option("--output", type=click.Path(dir_okay=False), default="docs/plan-rules.md", show_default=True,
              help="File to write.")
@click.option("--check", "check_only", is_flag=True, help="Write nothing; exit 1 if the file is not up to date.")
def plans_docs(output: str, check_only: bool) -> None:
    """Generate the plan-rule reference from the rules' docstrings and the contracts.

    \b
    Example:
        chatschema plans docs && git diff --exit-code docs/plan-rules.md
    """
    from pathlib import Path

    from ..plans.docs import rules_markdown

    text = rules_markdown()
    path = Path(output)
    current = path.read_text(encoding="utf-8") if path.exists() else None
    if check_only:
        if current != text:
            out.print(f"✗ {output} is stale; run `chatschema plans docs`", markup=False)
            sys.exit(1)
        out.print(f"✓ {output} is up to date", markup=False)
        return
    path.write_text(text, encoding="utf-8")
    out.print(f"wrote {output}", markup=False)


@main.command()
@click.option("--scale", default="ci", show_default=True, metavar="tiny|ci|bench|large",
              help="Data to seed (at least 10,000 messages; tiny's 5,000 are refused).")
@click.option("--messages", type=int, metavar="N", help="Seed exactly N messages instead (same shape).")
@click.option("--database", default="chatschema_demo", show_default=True,
              help="Name of the demo database (dropped and created again).")
@connection_options
def demo(scale: str, messages: int | None, database: str, settings: Settings) -> Report:
    """The whole story in about a minute: today's schema fails its plan contracts, head passes.

    A new database (--database, dropped first) at today's schema (0001), seeded with
    skewed data; today's queries and the seed plan's proposals verified, failing with
    their findings; the same database migrated to head; the optimized queries verified,
    passing; then each operation's cost before and after. With --dsn the demo database
    is created on that server (it needs CREATEDB). Exit 1 if an optimized query fails.

    \b
    Example:
        chatschema demo
    """
    from ..plans import pipeline
    from ..plans.findings import rows_text
    from ..plans.report import buffers_table

    def on_event(kind: str, payload: Any) -> None:
        if kind == "stage":
            out.print(f"\n{payload}", markup=False, soft_wrap=True)
        elif kind == "revision":
            print_applied(payload)
        elif kind == "seeded":
            ids = payload.interesting
            out.print(f"  seeded {payload.messages:,} messages, {payload.conversations:,} conversations, "
                      f"{payload.users:,} users in {payload.seconds:.1f} s; the heaviest user has "
                      f"{ids.heaviest_user_conversations:,} conversations, the longest conversation "
                      f"{ids.longest_conversation_messages:,} messages", markup=False, soft_wrap=True)
        elif kind == "verified":
            for result in payload:
                if result.passed:
                    check = result.check("custom")
                    cost = (f"{rows_text(check.rows_read)} read, {rows_text(check.buffers, 'buffer')}, "
                            f"{rows_text(check.rows_returned)} returned ({check.case})") if check else ""
                    out.print(f"  ✓ {result.name}: {cost}", markup=False)
                    continue
                first = result.findings[0] if result.findings else None
                rules = list(dict.fromkeys(f.rule for f in result.findings))
                out.print(f"  ✗ {result.name}: {result.error or first.message if first else result.error}",
                          markup=False, soft_wrap=True)
                if len(rules) > 1:
                    out.print(f"      also: {', '.join(rules[1:])}", markup=False, soft_wrap=True)

    out.print("chatschema demo: today's schema and queries, verified; migrated to head; verified again.",
              markup=False)
    with progress_bar() as bar:
        report = pipeline.run(settings, variant="all", scale=scale, messages=messages, growth=False,
                              database=database, scratch=True, progress=_plan_progress(bar), on_event=on_event,
                              command="demo")
    table = Table("operation", "today", "seed proposal", "optimized", "fewer",
                  title="Shared buffers per request (rows read), before and after", box=None, pad_edge=False)
    rows = buffers_table(report)
    for row in rows:
        table.add_row(row.operation, *row.cells, row.fewer)
    out.print()
    out.print(table)
    cases = [f"{row.operation}: {row.case}" for row in rows if row.case]
    out.print(f"Each operation measured on its heaviest case ({'; '.join(cases)}).", markup=False, soft_wrap=True)
    failing = [r.name for r in report.optimized if not r.passed]
    today_failing = sum(1 for r in report.baseline if not r.passed)
    out.print(f"\n{today_failing} of {len(report.baseline)} queries of today and the seed plan fail "
              f"their contracts; {len(report.optimized) - len(failing)} of {len(report.optimized)} optimized queries "
              f"pass. Details: chatschema plans verify --variant all", markup=False, soft_wrap=True)
    if failing or report.schema_findings:
        sys.exit(1)
    return report  # for a caller that invokes the command itself (click's standalone_mode=False): the tests


