"""Test servers: the embedded PostgreSQL (version from CHATSCHEMA_PG_VERSION, default 18), or the
server in DATABASE_URL when it is set. Every test that needs a database gets a new one on it."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import psycopg
import pytest
from psycopg import conninfo as pg_conninfo
from psycopg import sql

from chatschema import server
from chatschema.errors import ConnectionFailed
from chatschema.settings import Settings


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
        version_num = server.server_version(admin)
    except ConnectionFailed as exc:
        pytest.exit(f"no PostgreSQL for the tests: {exc}", returncode=2)
    return TestServer(admin=admin, version=version_num, embedded=embedded, base=base)


@pytest.fixture(scope="session")
def new_database(pg_server: TestServer) -> Iterator[Callable[[str], Settings]]:
    """Factory: a new, empty database on the test server; all are dropped at the end of the session."""
    created: list[str] = []

    def make(hint: str = "t") -> Settings:
        name = f"cs_{re.sub(r'[^a-z0-9]+', '_', hint.lower())[:30]}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(pg_server.admin, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
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
