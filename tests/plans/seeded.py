"""The plan tests' seeded databases, built once per session by tests/conftest.py (``seeded_plans``).

The main database is the one ``chatschema demo`` makes: seeded at 0001 with 50,000 messages, today's
and the seed plan's queries verified, upgraded to head, the optimized queries verified. The demo's
test reads the demo's output; the validator's tests read its results (recorded from
the report the demo command returns) and plan on its database. A second database,
a quarter of it, answers how the buffers grow with the data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from click.testing import CliRunner, Result
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from chatschema.settings import Settings

from .fixtures import MESSAGES, SMALL_MESSAGES

__all__ = ["SeededPlans", "build"]


@dataclass(frozen=True)
class SeededPlans:
    """The session's verified scratch database: results of every catalog query, and the growth run."""

    settings: Settings
    info: str
    results: dict[str, Any]
    small: dict[str, Any]
    seed: Any
    small_seed: Any
    small_info: str
    demo: Result  # the `chatschema demo` run that made ``settings``' database


def build(admin: str, new_database: Any) -> SeededPlans:
    """Run the demo into a new database, recording what it verified; then the growth database."""
    from chatschema import server
    from chatschema.cli import main
    from chatschema.plans import pipeline, select_queries
    from chatschema.plans.verify import check_growth

    settings = new_database("plans")  # the demo drops and recreates it; the session drops it
    name = conninfo_to_dict(settings.dsn)["dbname"]
    # Marked as a scratch database, as the demo's own are: the demo drops no other database.
    from chatschema import scratch
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(sql.Identifier(name), sql.Literal(scratch.MARK)))
    # standalone_mode=False: the demo hands back the report of what it verified (click returns it).
    demo = CliRunner().invoke(main, ["demo", "--dsn", admin, "--messages", str(MESSAGES), "--database", name],
                              catch_exceptions=False, standalone_mode=False)
    report = demo.return_value
    assert demo.exit_code == 0 and report is not None, f"the demo did not pass:\n{demo.output}"
    results, [seed], info = report.results, report.seeds, server.conninfo(settings)
    small, small_seed, small_info = pipeline.scratch_run(
        new_database("plans_small"), select_queries("all"), messages=SMALL_MESSAGES, modes=("custom",),
        stability=False)
    grown = check_growth(small, results, small_seed.messages, seed.messages)
    return SeededPlans(settings, info, {r.name: r for r in grown}, {r.name: r for r in small}, seed, small_seed,
                       small_info, demo)
