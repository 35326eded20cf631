"""The standard `alembic` command line runs chatschema's chain from an ini (script_location = chatschema:migrations)."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg
from psycopg.conninfo import conninfo_to_dict

from chatschema import migrate

HEAD = migrate.head()

INI = """[alembic]
script_location = chatschema:migrations
sqlalchemy.url = {url}
"""


def url_for(dsn: str) -> str:
    p = conninfo_to_dict(dsn)
    host = p.get("host") or "localhost"
    where = f"@{host}:{p.get('port') or 5432}" if not str(host).startswith("/") else "@"
    query = f"?host={host}&port={p.get('port') or 5432}" if str(host).startswith("/") else ""
    return f"postgresql+psycopg://{p.get('user') or ''}{where}/{p['dbname']}{query}"


def alembic(tmp_path, dsn: str, *args: str) -> subprocess.CompletedProcess:
    ini = tmp_path / "alembic.ini"
    ini.write_text(INI.format(url=url_for(dsn).replace("%", "%%")))
    return subprocess.run([sys.executable, "-m", "alembic", "-c", str(ini), *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"}, timeout=300)


def test_alembic_upgrades_and_reports_the_revision_from_an_ini(tmp_path, new_database):
    settings = new_database("alembic_cli")
    done = alembic(tmp_path, settings.dsn, "upgrade", "head")
    assert done.returncode == 0, done.stderr
    current = alembic(tmp_path, settings.dsn, "current")
    assert current.returncode == 0 and f"{HEAD} (head)" in current.stdout
    with psycopg.connect(settings.dsn) as conn:
        assert conn.execute("SELECT version_num FROM chatschema_version").fetchall() == [(HEAD,)]
        assert conn.execute("SELECT to_regclass('alembic_version')").fetchone()[0] is None


def test_alembic_offline_writes_chatschemas_version_table(tmp_path, new_database):
    settings = new_database("alembic_sql")
    done = alembic(tmp_path, settings.dsn, "upgrade", "0001", "--sql")
    assert done.returncode == 0, done.stderr
    assert "INSERT INTO chatschema_version (version_num) VALUES ('0001')" in done.stdout
    assert "alembic_version" not in done.stdout


def test_alembic_without_a_url_says_what_is_missing(tmp_path):
    """The twin: with no sqlalchemy.url the online run stops, saying what to set."""
    ini = tmp_path / "alembic.ini"
    ini.write_text("[alembic]\nscript_location = chatschema:migrations\n")
    done = subprocess.run([sys.executable, "-m", "alembic", "-c", str(ini), "upgrade", "head"], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode != 0
    assert "no database: set sqlalchemy.url in the ini" in done.stderr


def _alembic_config(connection):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", "chatschema:migrations")
    cfg.attributes["connection"] = connection
    return cfg


def test_a_connection_handed_inside_a_transaction_is_never_committed(new_database):
    """The environment runs the chain in the caller's transaction (CONCURRENTLY builds in their plain
    form) and leaves it open: the caller's rollback leaves nothing behind."""
    import sqlalchemy as sa
    from alembic import command

    from chatschema.migrate.chain import engine_for

    settings = new_database("handed_tx")
    engine = engine_for(settings.dsn)
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))  # the caller's transaction is open
        command.upgrade(_alembic_config(conn), "head")
        assert conn.in_transaction()
        assert conn.execute(sa.text("SELECT version_num FROM chatschema_version")).scalar() == HEAD
        conn.rollback()
    engine.dispose()
    with psycopg.connect(settings.dsn) as raw:
        assert raw.execute("SELECT to_regclass('chatschema_version'), to_regclass('messages')").fetchone() == (None, None)


def test_a_connection_handed_outside_a_transaction_gets_alembics_own_commits(new_database):
    """The twin: with no transaction open Alembic owns its transactions, one per revision, committed."""
    from alembic import command

    from chatschema.migrate.chain import engine_for

    settings = new_database("handed_no_tx")
    engine = engine_for(settings.dsn)
    with engine.connect() as conn:
        command.upgrade(_alembic_config(conn), "head")
        assert not conn.in_transaction()
    engine.dispose()
    with psycopg.connect(settings.dsn) as raw:
        assert raw.execute("SELECT version_num FROM chatschema_version").fetchall() == [(HEAD,)]
        assert raw.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = "
                           "'ix_messages_conversation_recent'::regclass").fetchone() == (True,)
