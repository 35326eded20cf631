"""A database chatschema adopted with `stamp` is never downgraded below that revision by accident.

The revisions up to the stamped one did not create the tables, so undoing them would drop the
application's data (0001's downgrade drops users, conversations and messages). `downgrade` refuses
below the stamped revision, one line, exit 2, unless told with --below-stamp.
"""

from __future__ import annotations

import psycopg
import pytest
from click.testing import CliRunner

from chatschema import migrate
from chatschema.errors import ConfigError
from chatschema.cli import main
from chatschema.migrations import BOOKKEEPING_TABLES, STAMP_TABLE, VERSION_TABLE

from .populate import one_user


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def rows(settings) -> dict[str, int | None]:
    with psycopg.connect(settings.dsn) as conn:
        return {t: (conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                    if conn.execute("SELECT to_regclass(%s)", (t,)).fetchone()[0] else None)
                for t in ("users", "conversations", "messages")}


def stamp_rows(settings) -> list[tuple]:
    with psycopg.connect(settings.dsn) as conn:
        return conn.execute(f"SELECT revision, forced FROM {STAMP_TABLE}").fetchall()


REFUSED = ("Error: the database was stamped at 0001 (adopted: its tables were there before chatschema recorded a "
           "revision), and downgrading to base would undo 0001, dropping what chatschema did not create; nothing "
           "was changed. Downgrade to 0001 at most, or pass --below-stamp to remove it anyway")


@pytest.fixture
def adopted(new_database):
    """Today's tables made by the application, with its rows; stamped at 0001, then upgraded to head."""
    settings = new_database("adopted")
    migrate.upgrade(settings, "0001")
    with psycopg.connect(settings.dsn, autocommit=True) as conn:
        conn.execute(f"DROP TABLE {VERSION_TABLE}")  # as if the application had made them
        one_user(conn, conversations=3, messages_each=2)
    stamped = run("stamp", "0001", "--dsn", settings.dsn)
    assert stamped.exit_code == 0, stamped.output
    assert stamped.output.strip().endswith("is recorded at revision 0001; its schema is revision 0001's; "
                                           "`chatschema downgrade` stops there (--below-stamp goes further)")
    assert run("upgrade", "--dsn", settings.dsn).exit_code == 0
    return settings


def test_stamp_records_where_the_database_was_adopted_in_a_bookkeeping_table(adopted):
    assert STAMP_TABLE in BOOKKEEPING_TABLES
    assert stamp_rows(adopted) == [("0001", False)]
    assert "matches the models" in run("check", "--dsn", adopted.dsn).output  # bookkeeping is not drift


@pytest.mark.parametrize("dry", [(), ("--dry-run",)], ids=["run", "dry-run"])
def test_downgrade_base_of_an_adopted_database_is_refused_and_its_tables_stay(adopted, dry):
    result = run("downgrade", "base", *dry, "--dsn", adopted.dsn)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.output.strip().splitlines() == [REFUSED]
    assert migrate.current(adopted) == migrate.head()
    assert rows(adopted) == {"users": 1, "conversations": 3, "messages": 6}
    with pytest.raises(ConfigError, match="stamped at 0001"):
        migrate.downgrade(adopted, "base")


def test_down_to_the_stamp_goes_and_below_it_only_when_told(adopted):
    assert run("downgrade", "0001", "--dsn", adopted.dsn).exit_code == 0
    assert migrate.current(adopted) == "0001" and rows(adopted)["messages"] == 6
    assert run("downgrade", "base", "--dsn", adopted.dsn).exit_code == 2
    result = run("downgrade", "base", "--below-stamp", "--dsn", adopted.dsn)
    assert result.exit_code == 0, result.output
    assert migrate.current(adopted) is None
    assert rows(adopted) == {"users": None, "conversations": None, "messages": None}
    # what is left is chatschema's own to rebuild: the record is forgotten, so its next downgrade is not refused
    assert stamp_rows(adopted) == []
    assert run("upgrade", "--dsn", adopted.dsn).exit_code == 0
    assert run("downgrade", "base", "--dsn", adopted.dsn).exit_code == 0


def test_a_database_chatschema_created_downgrades_to_base(new_database):
    """The twin: nothing was stamped, nothing to protect."""
    settings = new_database("created")
    migrate.upgrade(settings)
    assert run("downgrade", "base", "--dry-run", "--dsn", settings.dsn).exit_code == 0
    result = run("downgrade", "base", "--dsn", settings.dsn)
    assert result.exit_code == 0, result.output
    assert migrate.current(settings) is None and rows(settings)["users"] is None
