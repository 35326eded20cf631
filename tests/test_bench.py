"""chatschema bench at smoke size: every cell measured, writes exact, the report rendered. No timing assertions:
only buffers, which do not depend on the machine's load, are compared between variants; the verdicts are
checked on runs whose latencies the test sets."""

from __future__ import annotations

import copy
import dataclasses
import io
import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from chatschema import bench, migrate
from chatschema import queries as catalog
from chatschema.bench import BenchOptions, ScaleSpec
from chatschema.bench import report as bench_report
from chatschema.bench.results import READ_KEY, WRITE_KEY
from chatschema.cli import main
from chatschema.cli.bench import _bench_events
from chatschema.errors import ConfigError
from chatschema.migrate import AppliedRevision
from chatschema.seed import SeedReport

CHAIN = [r.revision for r in migrate.history()]

SIZES = (3000, 6000)
# A prefix of its own: the scratch databases must not collide with another run's on a shared server.
OPTIONS = BenchOptions(iterations=3, budget_s=0.5, write_seconds=0.15, clients=(1, 16), spread_conversations=16,
                       database_prefix=f"cs_bench_{uuid.uuid4().hex[:8]}", seed_runs=2)
COMMAND = ("chatschema bench --scales tiny=3000,tiny=6000 --iterations 3 --budget 0.5 --write-seconds 0.15 "
           "--clients 1,16 --seed-runs 2")
DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.fixture(scope="module")
def benchmarked(new_database, tmp_path_factory) -> tuple[bench.Benchmark, list, Path]:
    """Two tiny scales, each on its own scratch database, as ``chatschema bench`` runs them: (result, events, out)."""
    out = tmp_path_factory.mktemp("bench")
    events: list = []

    def on_event(kind: str, payload: object) -> None:
        if kind == "partial":  # saved before the event is passed on
            saved = json.loads((out / "bench" / bench.PARTIAL_RESULTS).read_text())
            payload = (payload, saved)
        events.append((kind, payload))

    result = bench.benchmark(new_database("bench server"), [ScaleSpec("tiny", n) for n in SIZES], OPTIONS, out,
                             on_event=on_event)
    return result, events, out


@pytest.fixture(scope="module")
def run(benchmarked) -> dict:
    return benchmarked[0].data  # the form results.json holds


def cell(scale: dict, operation: str, case: str, variant: str, *, page: int = 1, control: bool = False) -> dict:
    found = [r for r in scale["reads"] if (r["operation"], r["case"], r["page"], r["variant"], r["control"])
             == (operation, case, page, variant, control)]
    assert len(found) == 1, (operation, case, page, variant, control)
    return found[0]


def test_every_read_query_of_the_catalog_is_measured_at_its_revision(run):
    for scale in run["scales"]:
        measured = {(r["operation"], r["variant"], r["at"]) for r in scale["reads"] if not r["control"]}
        # the citus variants read what `distribute` creates: tests/measure_citus.py measures them
        expected = {(q.operation, q.variant, "head" if q.revision == "head" else q.revision)
                    for q in catalog.all_queries() if not q.writes and q.variant != "citus"}
        assert measured == expected
        for r in scale["reads"]:
            assert r["error"] is None, r
            assert r["latency"]["n"] >= OPTIONS.min_samples
            assert 0 < r["latency"]["p50"] <= r["latency"]["p95"] <= r["latency"]["p99"] <= r["latency"]["max"]
            assert r["buffers"] > 0 and r["server_ms"] > 0
            assert r["round_trips"] == catalog.get(r["operation"], r["variant"]).round_trips


def test_the_keys_name_each_cell_once(run):
    fields = {f.name for f in dataclasses.fields(bench.ReadResult)}
    assert set(READ_KEY) <= fields and set(WRITE_KEY) <= {f.name for f in dataclasses.fields(bench.WriteResult)}
    for scale in run["scales"]:
        reads = [tuple(r[k] for k in READ_KEY) for r in scale["reads"]]
        writes = [tuple(w[k] for k in WRITE_KEY) for w in scale["writes"]]
        assert len(set(reads)) == len(reads) and len(set(writes)) == len(writes)
    # The twin: without the page, a paged operation's cells are no longer told apart.
    assert len({(r["operation"], r["case"], r["variant"], r["control"]) for r in run["scales"][-1]["reads"]}) < len(reads)


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
        assert [m["revision"] for m in scale["migration"]] == CHAIN
        assert all(m["seconds"] > 0 for m in scale["migration"])
        assert [(r["view"], r["concurrently"]) for r in scale["refresh"]] == [
            ("user_daily_messages", True), ("daily_message_totals", True)]


def test_events_carry_the_pipelines_payloads_and_the_scale_apart(benchmarked):
    result, events, _ = benchmarked
    kinds = [kind for kind, _ in events]
    assert kinds.count("scale") == len(SIZES) and kinds[0] == "scale"
    assert [p for k, p in events if k == "scale"] == ["tiny-3000", "tiny-6000"]
    assert all(isinstance(p, AppliedRevision) for k, p in events if k == "revision")
    assert all(isinstance(p, SeedReport) for k, p in events if k == "seeded")
    assert kinds.count("revision") == 2 * len(CHAIN) and kinds.count("seeded") == OPTIONS.seed_runs * len(SIZES)
    partials = [p for k, p in events if k == "partial"]
    assert [len(run.scales) for run, _ in partials] == [1, 2]
    assert [len(saved["scales"]) for _, saved in partials] == [1, 2]
    assert all(saved["command"] == COMMAND for _, saved in partials)


def test_cli_lines_name_the_scale_of_each_revision_and_seed(benchmarked):
    _, events, _ = benchmarked
    buffer = io.StringIO()
    on_event = _bench_events(Console(file=buffer, width=200))
    for kind, payload in events:
        on_event(kind, payload)
    lines = buffer.getvalue().splitlines()
    revisions = [p for k, p in events if k == "revision"]
    seeded = [p for k, p in events if k == "seeded"]
    assert f"  tiny-3000: 0001 {revisions[0].title} ({revisions[0].seconds:.2f} s)" in lines
    assert f"  tiny-6000: {CHAIN[-1]} {revisions[-1].title} ({revisions[-1].seconds:.2f} s)" in lines
    assert (f"  tiny-6000: seeded {seeded[-1].messages:,} messages, {seeded[-1].conversations:,} conversations, "
            f"{seeded[-1].users:,} users in {seeded[-1].seconds:.1f} s") in lines
    assert lines[0].startswith("• tiny-3000: new database ")


def test_the_run_writes_the_report_and_removes_the_partial_results(benchmarked):
    result, _, out = benchmarked
    assert result.data["command"] == COMMAND
    assert not (out / "bench" / bench.PARTIAL_RESULTS).exists()
    assert result.written[0] == out / "benchmarks.md" and len(result.written) == 13  # and 11 plots
    assert json.loads((out / "bench" / "results.json").read_text()) == json.loads(json.dumps(result.data, default=str))
    assert f"Generated by `{COMMAND}`" in (out / "benchmarks.md").read_text(encoding="utf-8")
    assert result.exact and [(s.scale, s.mismatches) for s in result.summaries] == [("tiny-3000", 0), ("tiny-6000", 0)]


# --- verdicts, on latencies the test sets ----------------------------------------------------------------


def with_latencies(run: dict, optimized_ms: float, today_ms: float, deep_factor: float = 1.0) -> dict:
    """``run`` with every p50 set: ours ``optimized_ms`` (times ``deep_factor`` past page 1), the rest ``today_ms``."""
    data = json.loads(json.dumps(run, default=str))
    for scale in data["scales"]:
        for measured in scale["reads"] + scale["writes"]:
            if measured["variant"] == "optimized":
                p50 = optimized_ms * (deep_factor if measured.get("page", 1) > 1 else 1)
            else:
                p50 = today_ms
            measured["latency"]["p50"] = p50
    return data


FAST = {"optimized_ms": 0.5, "today_ms": 500.0}
SLOW = {"optimized_ms": 5.0, "today_ms": 10.0, "deep_factor": 3.0}
TARGET_NAMES = 9


def test_every_target_passes_when_ours_are_fast(run):
    verdicts = bench_report.targets(with_latencies(run, **FAST))
    assert len(verdicts) == TARGET_NAMES
    assert [t.status for t in verdicts] == ["PASS"] * TARGET_NAMES
    # Tiny scales: each verdict says it was measured below the size the targets name.
    assert all(t.reason == "measured below the 10 million messages the target names" for t in verdicts)


def test_every_target_misses_when_ours_are_slow(run):
    verdicts = {t.name: t for t in bench_report.targets(with_latencies(run, **SLOW))}
    assert [t.status for t in verdicts.values()] == ["MISS"] * TARGET_NAMES
    missed = verdicts["List conversations (heaviest user) p50 < 1 ms"]
    assert missed.measured.startswith("p50 5.00 ms at tiny-6000")
    assert "the server executes it in" in missed.reason and "below the 10 million messages" in missed.reason
    assert "today's query costs " in verdicts["List conversations ≥ 100× faster than today"].reason
    deep = next(t for name, t in verdicts.items() if name.startswith("Deep page by cursor (list, page "))
    assert " 15.0 ms (" in deep.measured  # 3 × 5 ms, against 5 ms on page 1


def test_one_missed_target_says_so_and_why(run):
    slow = copy.deepcopy(with_latencies(run, **FAST))
    cell(slow["scales"][-1], "list_conversations", "heaviest user", "optimized")["latency"]["p50"] = 5.0
    verdicts = {t.name: t.status for t in bench_report.targets(slow)}
    assert verdicts.pop("List conversations (heaviest user) p50 < 1 ms") == "MISS"
    assert set(verdicts.values()) == {"PASS"}


def render(tmp_path: Path, data: dict) -> tuple[Path, object]:
    """The report rendered by the CLI from the JSON alone (no database): (directory, CLI result)."""
    source = tmp_path / "input.json"
    source.write_text(json.dumps(data))
    docs = tmp_path / "docs"
    result = CliRunner().invoke(main, ["bench", "--from-json", str(source), "--out", str(docs)], catch_exceptions=False)
    return docs, result


def test_report_renders_markdown_plots_json_and_passed_targets(run, tmp_path):
    data = with_latencies(run, **FAST)
    docs, result = render(tmp_path, data)
    assert result.exit_code == 0, result.output
    markdown = (docs / "benchmarks.md").read_text(encoding="utf-8")
    assert f"Generated by `{COMMAND}`" in markdown
    for heading in ("## The seed plan's table, measured", "## Targets", "## Pagination: OFFSET against the cursor",
                    "## Writes: send message through a connection pool", "## The migration itself"):
        assert heading in markdown
    assert "| List conversations, first page | 800 → 60 ms (13.3×) |" in markdown
    assert f"{run['machine']['cpus']} CPUs" in markdown and run["server"]["version"] in markdown
    for t in bench_report.targets(data):
        assert f"| {t.name} | {t.measured} | **PASS** | measured below the 10 million messages" in markdown
    pngs = sorted(p.name for p in (docs / "bench").glob("*.png"))
    assert pngs == sorted([f"growth_{r.slug}.png" for r in bench_report.HEADLINE]
                          + ["pagination.png", "writes.png", "migration.png"])
    for name in pngs:
        assert (docs / "bench" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"(bench/{name})" in markdown
    assert json.loads((docs / "bench" / "results.json").read_text()) == data
    assert "✓ PASS Deep page by cursor (list, page " in result.output
    assert "summaries at tiny-3000: " in result.output and "conversations checked, exact" in result.output
    assert result.output.rstrip().endswith(" and 12 files in " + str(docs / "bench"))


def test_report_and_cli_show_missed_targets_and_an_inexact_summary(run, tmp_path):
    data = with_latencies(run, **SLOW)
    data["scales"][-1]["summary_mismatches"] = 2
    docs, result = render(tmp_path, data)
    assert result.exit_code == 1, result.output
    markdown = (docs / "benchmarks.md").read_text(encoding="utf-8")
    for t in bench_report.targets(data):
        assert f"| {t.name} | {t.measured} | **MISS** | {t.reason} |" in markdown
    assert "✗ MISS Deep page by cursor (list, page " in result.output
    assert "summaries at tiny-6000: " in result.output and "conversations checked, 2 NOT EXACT" in result.output
    assert "**NOT EXACT**" in markdown


# --- matplotlib is the bench extra ------------------------------------------------------------------------


def test_without_matplotlib_the_command_says_how_to_install_it_before_any_work(tmp_path, monkeypatch):
    source = DOCS / "bench" / "results.json"
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed: importing it raises ImportError
    expected = "Error: the benchmark report's plots need matplotlib: pip install 'chatschema[bench]'"
    for args in (["--from-json", str(source), "--out", str(tmp_path / "docs")],
                 ["--scales", "tiny", "--dsn", "postgresql://nobody@127.0.0.1:1/x", "--out", str(tmp_path / "docs")]):
        result = CliRunner().invoke(main, ["bench", *args], catch_exceptions=False)
        assert (result.exit_code, result.output.strip()) == (2, expected)
    assert not (tmp_path / "docs").exists()


def test_with_matplotlib_the_command_gets_to_work(tmp_path):
    # The twin of the test above: the same run gets past the check and fails on the unreachable server.
    result = CliRunner().invoke(main, ["bench", "--scales", "tiny", "--dsn", "postgresql://nobody@127.0.0.1:1/x",
                                       "--out", str(tmp_path / "docs")], catch_exceptions=False)
    assert result.exit_code == 2
    assert result.output.strip().startswith("Error: cannot connect to PostgreSQL at 127.0.0.1:1/x")


def test_matplotlib_is_imported_only_to_write_plots():
    source = DOCS / "bench" / "results.json"
    script = f"""
import json, sys
from pathlib import Path
import chatschema.cli
from chatschema import bench
from chatschema.bench import report
data = json.loads(Path({str(source)!r}).read_text())
report.render_markdown(data)
report.targets(data)
print(sorted(m for m in sys.modules if m.startswith("matplotlib") or m == "chatschema.bench.report.plots")[:1])
import chatschema.bench.report.plots  # what write_plots imports first
print("matplotlib" in sys.modules, "chatschema.bench.report.plots" in sys.modules)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines() == ["[]", "True True"]


# --- options and the command line --------------------------------------------------------------------------


def test_the_command_line_names_only_what_differs_from_the_defaults():
    assert bench.command_line(bench.parse_scales(bench.DEFAULT_SCALES), BenchOptions()) == "chatschema bench --scales ci"
    changed = BenchOptions(iterations=5, budget_s=2.5, write_seconds=1.0, clients=(2, 8), control=False)
    assert bench.command_line([ScaleSpec("ci"), ScaleSpec("tiny", 3000)], changed) == (
        "chatschema bench --scales ci,tiny=3000 --iterations 5 --budget 2.5 --write-seconds 1 --clients 2,8 --no-control")


def test_the_cli_defaults_are_the_options_defaults():
    params = {p.name: p.default for p in main.commands["bench"].params}
    defaults = BenchOptions()
    assert (params["iterations"], params["budget"], params["write_seconds"], params["control"]) == (
        defaults.iterations, defaults.budget_s, defaults.write_seconds, defaults.control)
    assert bench.parse_clients(params["clients"]) == defaults.clients
    assert params["scales"] == bench.DEFAULT_SCALES


@pytest.mark.parametrize(("text", "expected"), [("1,4,16", (1, 4, 16)), (" 2 , 8 ,", (2, 8))], ids=["plain", "spaces"])
def test_parse_clients(text, expected):
    assert bench.parse_clients(text) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("1,x", "expected whole numbers separated by commas, got '1,x'"),
    ("0,4", "expected whole numbers of at least 1, got '0,4'"),
    ("", "expected whole numbers of at least 1, got ''"),
], ids=["not-a-number", "zero", "empty"])
def test_parse_clients_refuses(text, message):
    with pytest.raises(ConfigError) as caught:
        bench.parse_clients(text)
    assert str(caught.value) == message


def test_cli_refuses_bad_clients_as_a_usage_error():
    result = CliRunner().invoke(main, ["bench", "--clients", "1,x", "--dsn", "postgresql://nobody@127.0.0.1:1/x"],
                                catch_exceptions=False)
    assert result.exit_code == 2
    assert result.output.splitlines()[0] == "Usage: main bench [OPTIONS]"
    assert result.output.splitlines()[-1] == (
        "Error: Invalid value for --clients: expected whole numbers separated by commas, got '1,x'")


def test_cli_refuses_an_unreadable_results_file(tmp_path):
    source = tmp_path / "broken.json"
    source.write_text("{")
    result = CliRunner().invoke(main, ["bench", "--from-json", str(source), "--out", str(tmp_path / "docs")],
                                catch_exceptions=False)
    assert result.exit_code == 2
    assert result.output.splitlines()[-1].startswith(f"Error: Invalid value for --from-json: cannot read {source}: ")
    assert not (tmp_path / "docs").exists()


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
    results = DOCS / "bench" / "results.json"
    assert results.exists(), "docs/bench/results.json is committed: the report is rendered from it"
    data = json.loads(results.read_text(encoding="utf-8"))
    plots = [f"bench/{p.name}" for p in (DOCS / "bench").glob("*.png")]
    expected = bench_report.render_markdown(data, plots, data.get("command", "chatschema bench"))
    assert (DOCS / "benchmarks.md").read_text(encoding="utf-8") == expected, (
        "docs/benchmarks.md is stale: run `chatschema bench --from-json docs/bench/results.json`")


def test_the_seeding_row_is_the_median_of_each_scales_seeds(run):
    for scale in run["scales"]:
        runs = scale["seed_runs"]
        assert len(runs) == OPTIONS.seed_runs
        assert all(set(r["phases"]) == set(bench_report.tables.SEED_PHASES) for r in runs)
        assert scale["seed_seconds"] == runs[-1]["seconds"]  # the data measured on is the last seed's
    lines = bench_report.tables.seeding_table(run)
    first = run["scales"][0]
    rates = sorted(r["messages_per_second"] for r in first["seed_runs"])
    median = (rates[0] + rates[1]) / 2
    assert lines[2].startswith(f"| tiny-3000 | 3,000 | 2 | {median:,.0f} ({rates[0]:,.0f}–{rates[1]:,.0f}) | ")


def test_a_run_recorded_before_seed_runs_has_its_one_seed_in_the_seeding_row(run):
    """The twin: results.json of an earlier run (no seed_runs) still renders, from seed_seconds alone."""
    old = copy.deepcopy(run)
    for scale in old["scales"]:
        del scale["seed_runs"]
    first = old["scales"][0]
    lines = bench_report.tables.seeding_table(old)
    assert lines[2] == (f"| tiny-3000 | 3,000 | 1 | {3000 / first['seed_seconds']:,.0f} | – | "
                        f"{first['seed_seconds']:.1f} s | – | – | – | – | – |")
