"""docs/runbook.md, run: every fenced ``console`` block of the document, in the document's order, on a
scratch database the application "made" (chatschema's tables at 0001, populated, with no record of
chatschema) and a hot standby streaming from it. Each ``$ `` line runs in bash with ``$DSN`` and
``$STANDBY_DSN`` set and must exit 0; the lines under it must appear in what it prints (stdout and
stderr), in order, ``…`` standing for any text. Block tags: ``until`` runs the command again until
its lines appear, ``background`` starts it and goes on, ``wait`` is what the background command
printed when it ended, ``skip: reason`` is not run. So the document cannot drift from the tool."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from chatschema import migrate
from chatschema.cli import main

from .populate import populate

RUNBOOK = Path(__file__).resolve().parents[1] / "docs" / "runbook.md"
BLOCK = re.compile(r"^```console(?P<tag>[^\n]*)\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)
UNTIL_S = 60.0


@dataclass
class Block:
    tag: str  # "", "until", "background", "wait", "skip: reason"
    commands: list[tuple[str, list[str]]] = field(default_factory=list)  # (command, lines it prints)
    lines: list[str] = field(default_factory=list)  # a block without commands: what it shows


def blocks(text: str) -> list[Block]:
    found = []
    for match in BLOCK.finditer(text):
        block = Block(match["tag"].strip())
        for line in match["body"].splitlines():
            if line.startswith("$ "):
                block.commands.append((line[2:], []))
            elif block.commands:
                block.commands[-1][1].append(line)
            else:
                block.lines.append(line)
        found.append(block)
    return found


def missing(expected: list[str], printed: str) -> list[str]:
    """The expected lines not found, in order, among the printed ones ('…' is any text)."""
    lines = [line.rstrip() for line in printed.splitlines()]
    at = 0
    for n, want in enumerate(expected):
        pattern = re.compile(".*?".join(re.escape(part) for part in want.rstrip().split("…")))
        while at < len(lines) and not pattern.fullmatch(lines[at]):
            at += 1
        if at == len(lines):
            return expected[n:]
        at += 1
    return []


def run(command: str, env: dict[str, str], cwd: Path) -> tuple[int, str]:
    """Run ``command`` as bash would. A plain ``chatschema ...`` (at most redirected into a file) runs in
    this process through click's runner, which saves a Python start-up per command; anything else in
    bash."""
    words = shlex.split(re.sub(r"\$(\w+)", lambda m: env.get(m[1], ""), command))
    target = None
    if len(words) > 2 and words[-2] == ">":
        words, target = words[:-2], words[-1]
    if words[0] != "chatschema" or any(w in ("|", "&&", ";", ">", "<", "2>&1") for w in words):
        result = subprocess.run(["bash", "-c", command], env=env, cwd=cwd, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, timeout=180)
        return result.returncode, result.stdout
    invoked = CliRunner().invoke(main, words[1:], env=env)
    if invoked.exception is not None and not isinstance(invoked.exception, SystemExit):
        raise invoked.exception
    if target is not None:
        (cwd / target).write_text(invoked.stdout)
        return invoked.exit_code, invoked.stderr
    return invoked.exit_code, invoked.output


def test_the_matcher_finds_lines_in_order_with_gaps_and_misses_the_rest():
    printed = "a header\nUpgraded to 0007 (4 revisions, 0.95 s).\nmore\n✓ at head (0007)\n"
    assert missing(["Upgraded to … (… revisions, … s).", "✓ at head (…)"], printed) == []
    assert missing(["✓ at head (…)", "Upgraded to … (… revisions, … s)."], printed) == [
        "Upgraded to … (… revisions, … s)."]  # out of order
    assert missing(["Upgraded to 0003 (… revisions, … s)."], printed) != []  # another revision
    assert missing(["✓ at head"], printed) != []  # a line must match whole


def test_the_runbook_has_the_steps_a_rollout_needs_and_few_skips():
    found = blocks(RUNBOOK.read_text())
    commands = " ".join(c for b in found for c, _ in b.commands)
    for step in ("chatschema stamp", "chatschema sql", "chatschema lint", "upgrade --dry-run", "upgrade 0003",
                 "--max-replica-lag", "backfill status", "backfill pause", "backfill resume", "check --dsn \"$STANDBY",
                 "doctor --dsn \"$STANDBY", "plans verify", "downgrade", "views refresh"):
        assert step in commands, step
    assert sum(b.tag.startswith("skip") for b in found) <= 2
    assert all(b.tag in ("", "until", "background", "wait") or b.tag.startswith("skip: ") for b in found)


@pytest.mark.timeout(400)
def test_the_runbook_runs_in_order_on_a_database_with_a_standby(standby, new_database, tmp_path):
    settings = new_database("runbook")
    dbname = psycopg.conninfo.conninfo_to_dict(settings.dsn)["dbname"]
    migrate.upgrade(settings, "0001")
    with psycopg.connect(settings.dsn) as conn:
        populate(conn, users=100, conversations=8000, messages=30000)
        conn.execute("DROP TABLE chatschema_version")  # as the application made it: no record of chatschema
        conn.commit()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(DSN=settings.dsn, STANDBY_DSN=standby.settings_for(dbname).dsn,
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}")
    background: tuple[str, subprocess.Popen[str]] | None = None
    ran = 0
    for block in blocks(RUNBOOK.read_text()):
        if block.tag.startswith("skip"):
            continue
        if block.tag == "wait":
            assert background is not None, "a wait block with nothing in the background"
            command, proc = background
            printed, _ = proc.communicate(timeout=180)
            assert proc.returncode == 0, f"{command}: exit {proc.returncode}\n{printed}"
            assert missing(block.lines, printed) == [], f"{command} printed:\n{printed}"
            background = None
            standby.wait_caught_up()  # what the runbook's reader waits for before verifying on the standby
            continue
        for command, expected in block.commands:
            ran += 1
            if block.tag == "background":
                proc = subprocess.Popen(["bash", "-c", command], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
                background = (command, proc)
                continue
            deadline = time.monotonic() + (UNTIL_S if block.tag == "until" else 0)
            while True:
                code, printed = run(command, env, tmp_path)
                if code == 0 and not missing(expected, printed) or time.monotonic() > deadline:
                    break
                time.sleep(0.3)
            assert code == 0, f"{command}: exit {code}\n{printed}"
            assert missing(expected, printed) == [], f"{command} printed:\n{printed}"
    assert background is None, "a background command nobody waited for"
    assert ran >= 18
