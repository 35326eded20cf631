"""chatschema bench at smoke size: every cell measured, writes exact, the report rendered. No timing assertions:
only buffers, which do not depend on the machine's load, are compared between variants."""

from __future__ import annotations

import copy
import dataclasses
import json

import pytest
from click.testing import CliRunner

from chatschema import bench
from chatschema import queries as catalog
from chatschema.bench import report as bench_report
from chatschema.bench import BenchOptions, ScaleSpec
from chatschema.cli import main
from chatschema.errors import ConfigError

SIZES = (3000, 6000)
OPTIONS = BenchOptions(iterations=3, budget_s=0.5, write_seconds=0.15, clients=(1, 16), spread_conversations=16)


@pytest.fixture(scope="module")
def run(new_database) -> dict:
    """Two tiny scales, each on its own new database, as one run (the report needs sizes to plot against)."""
    runs = [bench.single_run(new_database(f"bench {n}"), ScaleSpec("tiny", n), OPTIONS) for n in SIZES]
    merged = dataclasses.replace(runs[0], scales=tuple(r.scales[0] for r in runs))
    return json.loads(json.dumps(merged.to_dict(), default=str))  # the form results.json holds


def cell(scale: dict, operation: str, case: str, variant: str, *, page: int = 1, control: bool = False) -> dict:
    found = [r for r in scale["reads"] if (r["operation"], r["case"], r["page"], r["variant"], r["control"])
             == (operation, case, page, variant, control)]
    assert len(found) == 1, (operation, case, page, variant, control)
    return found[0]


def test_every_read_query_of_the_catalog_is_measured_at_its_revision(run):
    for scale in run["scales"]:
        measured = {(r["operation"], r["variant"], r["at"]) for r in scale["reads"] if not r["control"]}
        expected = {(q.operation, q.variant, "head" if q.revision == "head" else q.revision)
                    for q in catalog.all_queries() if not q.writes}
        assert measured == expected
        for r in scale["reads"]:
            assert r["error"] is None, r
            assert r["latency"]["n"] >= OPTIONS.min_samples
            assert 0 < r["latency"]["p50"] <= r["latency"]["p95"] <= r["latency"]["p99"] <= r["latency"]["max"]
            assert r["buffers"] > 0 and r["server_ms"] > 0
            assert r["round_trips"] == catalog.get(r["operation"], r["variant"]).round_trips


def test_pages_are_the_first_ten_hundred_thousandth_or_the_last(run):
    for scale in run["scales"]:
        ids = scale["interesting"]
        last_list = -(-ids["heaviest_user_conversations"] // bench.PAGE_SIZE)
        last_load = -(-ids["longest_conversation_messages"] // bench.PAGE_SIZE)
        assert scale["list_pages"] == [p for p in (1, 10, 100) if p <= last_list] + [last_list]
        assert scale["load_pages"] == [p for p in (1, 10, 100) if p <= last_load] + [last_load]
        for page in scale["load_pages"]:
            today = cell(scale, "load_messages", "longest conversation", "today", page=page)
            ours = cell(scale, "load_messages", "longest conversation", "optimized", page=page)
            # The same rows: the cursor of page p is the last row of page p - 1 (ours fetch one more: has_more).
            assert ours["rows"] - (ours["rows"] > today["rows"]) == today["rows"]


def test_ours_read_fewer_buffers_than_todays(run):
    scale = run["scales"][-1]
    deepest_list, deepest_load = scale["list_pages"][-1], scale["load_pages"][-1]
    for operation, case, page in (
        ("list_conversations", "heaviest user", 1),
        ("list_conversations", "heaviest user", deepest_list),
        ("load_messages", "longest conversation", deepest_load),
        ("user_daily_counts", "heaviest user", 1),
        ("daily_totals", "last 30 days", 1),
    ):
        ours = cell(scale, operation, case, "optimized", page=page)["buffers"]
        assert ours < cell(scale, operation, case, "today", page=page)["buffers"], (operation, page)
        assert ours < cell(scale, operation, case, "today", page=page, control=True)["buffers"], (operation, page)
    today_list = [cell(s, "list_conversations", "heaviest user", "today")["buffers"] for s in run["scales"]]
    assert today_list[1] > today_list[0]  # today's list grows with the data


def test_sends_through_the_pool_leave_every_summary_exact(run):
    for scale in run["scales"]:
        runs = {(w["variant"], w["target"], w["clients"]) for w in scale["writes"]}
        assert runs == {(v, t, c) for v in ("today", "optimized") for t in ("spread", "hot") for c in OPTIONS.clients}
        for w in scale["writes"]:
            assert w["sends"] > 0 and w["errors"] == 0 and w["throughput"] > 0, w
            assert w["at"] == ("0001" if w["variant"] == "today" else "head")
        assert scale["summary_mismatches"] == 0
        assert scale["summary_conversations"] == scale["conversations"]


def test_migration_and_refresh_are_timed(run):
    for scale in run["scales"]:
        assert [m["revision"] for m in scale["migration"]] == ["0001", "0002", "0003", "0004", "0005", "0006", "0007"]
        assert all(m["seconds"] > 0 for m in scale["migration"])
        assert [(r["view"], r["concurrently"]) for r in scale["refresh"]] == [
            ("user_daily_messages", True), ("daily_message_totals", True)]


@pytest.fixture(scope="module")
def rendered(run, tmp_path_factory) -> tuple:
    """The report rendered once, by the CLI from the JSON alone (no database): (directory, CLI result)."""
    directory = tmp_path_factory.mktemp("report")
    source = directory / "input.json"
    source.write_text(json.dumps({**run, "command": "chatschema bench --scales tiny"}))
    result = CliRunner().invoke(main, ["bench", "--from-json", str(source), "--out", str(directory / "docs")],
                                catch_exceptions=False)
    return directory / "docs", result


def test_report_renders_markdown_plots_and_json(run, rendered):
    docs, _ = rendered
    markdown = (docs / "benchmarks.md").read_text(encoding="utf-8")
    assert "Generated by `chatschema bench --scales tiny`" in markdown
    for heading in ("## The seed plan's table, measured", "## Targets", "## Pagination: OFFSET against the cursor",
                    "## Writes: send message through a connection pool", "## The migration itself"):
        assert heading in markdown
    assert "| List conversations, first page | 800 → 60 ms (13.3×) |" in markdown
    assert f"{run['machine']['cpus']} CPUs" in markdown and run["server"]["version"] in markdown
    for t in bench_report.targets(run):
        assert t.status in ("PASS", "MISS") and (t.status == "PASS" or t.reason)
        assert f"| {t.name} | {t.measured} | **{t.status}** |" in markdown
    pngs = sorted(p.name for p in (docs / "bench").glob("*.png"))
    assert pngs == sorted([f"growth_{r.slug}.png" for r in bench_report.HEADLINE]
                          + ["pagination.png", "writes.png", "migration.png"])
    for name in pngs:
        assert (docs / "bench" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"(bench/{name})" in markdown
    saved = json.loads((docs / "bench" / "results.json").read_text())
    assert saved == {**run, "command": "chatschema bench --scales tiny"}


def test_a_missed_target_says_so_and_why(run):
    slow = copy.deepcopy(run)
    ours = cell(slow["scales"][-1], "list_conversations", "heaviest user", "optimized")
    ours["latency"]["p50"] = 5.0
    verdicts = {t.name: t for t in bench_report.targets(slow)}
    missed = verdicts["List conversations (heaviest user) p50 < 1 ms"]
    assert missed.status == "MISS" and missed.measured.startswith("p50 5.00 ms at tiny-6000")
    assert "the server executes it in" in missed.reason and "below the 10 million messages" in missed.reason


def test_cli_prints_the_verdicts_and_the_summary_check(rendered):
    _, result = rendered
    assert result.exit_code == 0, result.output
    assert "PASS Deep page by cursor (list, page " in result.output or "MISS Deep page by cursor (list, page " in result.output
    assert "summaries at tiny-3000: " in result.output and "conversations checked, exact" in result.output
    assert result.output.rstrip().endswith(" and 12 files in " + str(rendered[0] / "bench"))


def test_cli_refuses_an_unknown_scale_before_connecting():
    result = CliRunner().invoke(main, ["bench", "--scales", "ci,huge", "--dsn", "postgresql://nobody@127.0.0.1:1/x"],
                                catch_exceptions=False)
    assert result.exit_code == 2
    assert result.output.strip() == (
        "Error: --scales: expected names from tiny, ci, bench, large (optionally NAME=MESSAGES), got 'huge'")


@pytest.mark.parametrize(("text", "expected"), [
    ("ci,bench,large", [ScaleSpec("ci"), ScaleSpec("bench"), ScaleSpec("large")]),
    ("tiny=3000", [ScaleSpec("tiny", 3000)]),
    (" ci , tiny=2_000 ", [ScaleSpec("ci"), ScaleSpec("tiny", 2000)]),
], ids=["three", "resized", "spaces"])
def test_parse_scales(text, expected):
    assert bench.parse_scales(text) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("", "--scales: name at least one scale, for example ci,bench,large"),
    ("ci,ci", "--scales: 'ci,ci' names a scale twice"),
    ("tiny=many", "--scales: 'tiny=many': MESSAGES must be a whole number"),
], ids=["empty", "twice", "not-a-number"])
def test_parse_scales_refuses(text, message):
    with pytest.raises(ConfigError, match="^" + message.replace("(", r"\(").replace(")", r"\)") + "$"):
        bench.parse_scales(text)


def test_latency_percentiles_interpolate_like_numpy():
    result = bench.latency([float(x) for x in range(1, 101)])
    assert result is not None
    assert (result.n, result.p50, result.min, result.max) == (100, 50.5, 1.0, 100.0)
    assert result.p95 == pytest.approx(95.05) and result.p99 == pytest.approx(99.01)
    assert bench.latency([]) is None


def test_the_committed_report_is_the_rendering_of_the_committed_results():
    """docs/benchmarks.md must be regenerated (chatschema bench --from-json docs/bench/results.json) when the
    report's code changes, and never edited by hand."""
    from pathlib import Path

    docs = Path(__file__).resolve().parent.parent / "docs"
    results = docs / "bench" / "results.json"
    if not results.exists():
        pytest.skip("no committed benchmark yet")
    data = json.loads(results.read_text(encoding="utf-8"))
    plots = [f"bench/{p.name}" for p in (docs / "bench").glob("*.png")]
    expected = bench_report.render_markdown(data, plots, data.get("command", "chatschema bench"))
    assert (docs / "benchmarks.md").read_text(encoding="utf-8") == expected, (
        "docs/benchmarks.md is stale: run `chatschema bench --from-json docs/bench/results.json`")
