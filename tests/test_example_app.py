"""The sample app-team project in examples/app runs as a team would run it (its own pytest session,
the chatschema plugin from its entry point, this suite's server through DATABASE_URL): the good
query passes, the bad one fails with the validator's message, a write stays in its copy, and the
guard names the statement nobody declared."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_example_project_passes_and_fails_where_it_should(pg_server, tmp_path):
    env = {k: v for k, v in __import__("os").environ.items() if k != "PYTEST_ADDOPTS"}
    env["DATABASE_URL"] = pg_server.admin
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rf",
                           "--basetemp", str(tmp_path / "bt"), "examples/app"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    assert "1 failed, 3 passed" in out, out
    failed = [line.split(" ")[1] for line in out.splitlines() if line.startswith("FAILED ")]
    assert failed == ["examples/app/tests/test_queries.py::test_query_keeps_its_contract[assistant_replies_by_offset]"]
    assert "plan contract of assistant_replies_by_offset.app broken:" in out
    assert "rows-read-bound [longest conversation, deep page]" in out
    assert "recent_messages.app broken" not in out
    # the guard names the query nobody declared, once, with the test that sent it
    assert out.count("✗ SELECT id FROM messages WHERE content ILIKE") == 1
    assert "sent by tests/test_search.py::test_search_finds_messages" in out
    assert "seq-scan-on-hot-table: undeclared statement scans the whole messages table" in out
