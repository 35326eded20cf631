"""Test servers: the embedded PostgreSQL (version from CHATSCHEMA_PG_VERSION, default 18), or the
server in DATABASE_URL when it is set. Every test that needs a database gets a new one on it.

Seeded databases are built once per session (``skewed_databases``, ``seeded_plans``); a test that
changes one takes a clone (``new_database(hint, template=settings)``, CREATE DATABASE ... TEMPLATE).
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import psycopg
import pytest
from psycopg import conninfo as pg_conninfo
from psycopg import sql

from chatschema import server
from chatschema.errors import ConnectionFailed
from chatschema.settings import Settings

from . import citus, skewed
from . import standby as standby_mod
from .plans import seeded as plans_seeded
from .plans.seeded import SeededPlans
from .skewed import SkewedDatabases

pytest_plugins = ("pytester",)  # tests/test_pytest_plugin.py runs app teams' suites with the chatschema plugin


@dataclass(frozen=True)
class TestServer:
    admin: str  # conninfo of a maintenance database
    version: int
    embedded: bool
    base: Settings

    def settings_for(self, dbname: str) -> Settings:
        params = pg_conninfo.conninfo_to_dict(self.admin)
        params["dbname"] = dbname
        return Settings(
            dsn=pg_conninfo.make_conninfo(**params),
            pg_version=self.base.pg_version,
            lock_timeout_ms=self.base.lock_timeout_ms,
        )


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> TestServer:
    url = os.environ.get("DATABASE_URL")
    try:
        if url:
            base = Settings(dsn=url)
            admin = server.conninfo(base)
            embedded = False
        else:
            version = int(os.environ.get("CHATSCHEMA_PG_VERSION", "18"))
            base = Settings(pg_version=version, data_dir=tmp_path_factory.mktemp("embedded"), database="postgres")
            admin = server.conninfo(base)
            embedded = True
            # A throwaway server in a temporary directory: nothing needs to survive a crash of it,
            # and without fsync creating and dropping a database costs no flush to disk.
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute("ALTER SYSTEM SET fsync = off")
                conn.execute("SELECT pg_reload_conf()")
        version_num = server.server_version(admin)
    except ConnectionFailed as exc:
        pytest.exit(f"no PostgreSQL for the tests: {exc}", returncode=2)
    return TestServer(admin=admin, version=version_num, embedded=embedded, base=base)


class NewDatabase(Protocol):
    def __call__(self, hint: str = "t", *, template: Settings | None = None) -> Settings: ...


@pytest.fixture(scope="session")
def new_database(pg_server: TestServer) -> Iterator[NewDatabase]:
    """Factory: a new database on the test server, empty or a clone of ``template`` (which nobody
    may be connected to while it is copied); all are dropped at the end of the session."""
    created: list[str] = []

    def make(hint: str = "t", *, template: Settings | None = None) -> Settings:
        name = f"cs_{re.sub(r'[^a-z0-9]+', '_', hint.lower())[:30]}_{uuid.uuid4().hex[:8]}"
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            source = pg_conninfo.conninfo_to_dict(template.dsn)["dbname"]
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(source))
        with psycopg.connect(pg_server.admin, autocommit=True) as conn:
            conn.execute(statement)
        created.append(name)
        return pg_server.settings_for(name)

    yield make
    with psycopg.connect(pg_server.admin, autocommit=True) as conn:
        for name in created:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _matches(spec: str, version: int) -> bool:
    op, _, num = spec.strip().partition(" ")
    target = int(num)
    return {">=": version >= target, "<=": version <= target, "==": version == target,
            ">": version > target, "<": version < target}[op]


@pytest.fixture(autouse=True)
def _pg_version_marker(request: pytest.FixtureRequest) -> None:
    marker = request.node.get_closest_marker("pg")
    if marker is None:
        return
    version = request.getfixturevalue("pg_server").version
    if not _matches(marker.args[0], version):
        pytest.skip(f"needs PostgreSQL {marker.args[0]}, server is {version}")


@pytest.fixture(scope="session")
def skewed_databases(new_database: NewDatabase) -> SkewedDatabases:
    """The catalog's skewed data (tests/skewed.py), once: at 0001, and the same rows upgraded to head."""
    from chatschema import migrate

    at_0001 = new_database("skewed_0001")
    migrate.upgrade(at_0001, "0001")
    skewed.build(at_0001.dsn)
    with psycopg.connect(at_0001.dsn) as conn:
        cases = skewed.pick_cases(conn)
    at_head = new_database("skewed_head", template=at_0001)
    migrate.upgrade(at_head, "head")
    with psycopg.connect(at_head.dsn, autocommit=True) as conn:
        conn.execute("ANALYZE")
    return SkewedDatabases(at_0001, at_head, cases)


@pytest.fixture(scope="session")
def seeded_plans(pg_server: TestServer, new_database: NewDatabase) -> SeededPlans:
    """A database seeded at 0001, its today's queries verified, upgraded to head, optimized verified
    (by `chatschema demo`); and a quarter of it for growth (tests/plans/seeded.py)."""
    return plans_seeded.build(pg_server.admin, new_database)


@pytest.fixture(scope="session")
def standby(pg_server: TestServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator["standby_mod.Standby"]:
    """A hot standby streaming from the embedded server (tests/standby.py), started on first use and
    stopped at the end of the session; skips with one line where it cannot run (DATABASE_URL)."""
    try:
        replica = standby_mod.start(pg_server.admin, pg_server.embedded, pg_server.base,
                                    tmp_path_factory.mktemp("standby"))
    except standby_mod.Unavailable as exc:
        pytest.skip(f"no standby: {exc}")
    yield replica
    replica.stop()


@pytest.fixture(scope="session")
def citus_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[citus.CitusCluster]:
    """A Citus coordinator and two workers on localhost (tests/citus.py); skips, in one line, without ../shared/citus."""
    reason = citus.missing_reason()
    if reason:
        pytest.skip(reason)
    with citus.start_cluster(tmp_path_factory.mktemp("citus")) as cluster:
        yield cluster
