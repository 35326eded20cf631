"""Sends through a connection pool: every (target, clients) run of one variant, timed from the client.

The targets are conversations no read case touches; the ids of every message sent are returned so
that the caller can delete them and measure the next variant on the same data.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.rows import namedtuple_row
from psycopg_pool import ConnectionPool

from .. import queries as catalog
from ..errors import ConfigError
from ..progress import Progress
from ..queries import Query
from ..seed import InterestingRows
from .calls import connect, execute, explain, steps_of, timeout
from .results import BenchOptions, WriteResult, latency

__all__ = ["SEND_CONTENT", "SendTarget", "write_targets", "measure_writes", "delete_messages"]

SEND_CONTENT = "Benchmark message: " + "the quick brown fox jumps over the lazy dog. " * 4

SendTarget = tuple[uuid.UUID, uuid.UUID]  # (conversation id, its owner's id)

# Send targets: conversations that no read case touches, in a stable pseudo-random order.
_WRITE_TARGETS = """
SELECT id, user_id FROM conversations
WHERE user_id <> ALL(%(users)s) AND id <> ALL(%(conversations)s)
ORDER BY md5(id::text)
LIMIT %(n)s
"""


def write_targets(conn: psycopg.Connection, ids: InterestingRows, n: int) -> list[SendTarget]:
    """``n`` conversations to spread sends over, and one more to send to alone (the last)."""
    users = [u for u in (ids.heaviest_user_id, ids.typical_user_id, ids.longest_conversation_user_id,
                         ids.typical_conversation_user_id) if u]
    conversations = [c for c in (ids.longest_conversation_id, ids.typical_conversation_id) if c]
    with conn.cursor(row_factory=namedtuple_row) as cur:
        rows = cur.execute(_WRITE_TARGETS, {"users": users, "conversations": conversations, "n": n + 1}).fetchall()
    if len(rows) < 2:
        raise ConfigError("too few conversations to send to; seed a larger scale")
    return [(r.id, r.user_id) for r in rows]


def delete_messages(conn: psycopg.Connection, ids: list[uuid.UUID]) -> None:
    for i in range(0, len(ids), 10_000):
        conn.execute("DELETE FROM messages WHERE id = ANY(%s)", (ids[i:i + 10_000],))


def _send_params(conversation: SendTarget) -> dict[str, Any]:
    return {"message_id": uuid.uuid4(), "conversation_id": conversation[0], "user_id": conversation[1],
            "role": "user", "content": SEND_CONTENT}


def _write_run(info: str, query: Query, targets: Sequence[SendTarget], clients: int,
               seconds: float, options: BenchOptions) -> tuple[list[float], int, float, list[uuid.UUID]]:
    """``clients`` threads sending through one pool for ``seconds``: latencies (ms), errors, wall time, ids sent."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    sent: list[list[uuid.UUID]] = [[] for _ in range(clients)]
    errors = [0] * clients
    start = threading.Barrier(clients + 1)
    deadline = [0.0]
    statement_timeout = timeout(options)
    steps = steps_of(query)

    def configure(conn: psycopg.Connection) -> None:
        conn.execute(statement_timeout)

    def worker(i: int) -> None:
        start.wait()
        n = i
        while time.perf_counter() < deadline[0]:
            params = _send_params(targets[n % len(targets)])
            n += clients
            began = time.perf_counter()
            try:
                with pool.connection() as conn:
                    execute(conn, steps, params, writes=query.writes)
            except psycopg.Error:
                errors[i] += 1
                continue
            latencies[i].append((time.perf_counter() - began) * 1000)
            sent[i].append(params["message_id"])

    with ConnectionPool(info, min_size=clients, max_size=clients, kwargs={"autocommit": True},
                        configure=configure, open=True, name="chatschema-bench") as pool:
        pool.wait(timeout=60)
        threads = [threading.Thread(target=worker, args=(i,), name=f"chatschema-bench-{i}") for i in range(clients)]
        for thread in threads:
            thread.start()
        deadline[0] = time.perf_counter() + seconds
        began = time.perf_counter()
        start.wait()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - began
    return [x for xs in latencies for x in xs], sum(errors), wall, [x for xs in sent for x in xs]


def _checkpoint(conn: psycopg.Connection) -> None:
    try:
        conn.execute("CHECKPOINT")
    except pg_errors.InsufficientPrivilege:
        pass  # not superuser nor pg_checkpoint: the runs start wherever the server's checkpoints are


def measure_writes(info: str, variant: str, at: str, spread: Sequence[SendTarget], hot: SendTarget,
                   options: BenchOptions, label: str,
                   progress: Progress | None) -> tuple[list[WriteResult], list[uuid.UUID]]:
    """Every (spread|hot, clients) send run of ``variant``; returns the results and the ids of every message sent."""
    query = catalog.get("send_message", variant)
    with connect(info, options) as conn:
        buffers, server_ms = explain(conn, query, _send_params(spread[0]))
        _checkpoint(conn)
    # Both variants start right after a checkpoint (the first change to each page writes a full-page
    # image), and a short unrecorded run takes the first touches of the target pages.
    _, _, _, sent_all = _write_run(info, query, spread, 1, min(1.0, options.write_seconds), options)
    results = []
    configs = [(target, clients) for target in ("spread", "hot") for clients in options.clients]
    for i, (target, clients) in enumerate(configs):
        targets = spread if target == "spread" else [hot]
        samples, errors, wall, sent = _write_run(info, query, targets, clients, options.write_seconds, options)
        sent_all += sent
        results.append(WriteResult(variant, at, target, clients, len(samples), errors, wall,
                                   len(samples) / wall if wall > 0 else 0.0, latency(samples), buffers, server_ms))
        if progress:
            progress(label, i + 1, len(configs))
    return results, sent_all
