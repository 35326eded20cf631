"""The rows, generated inside PostgreSQL and loaded with binary COPY: the sessions, the chunks, the threads.

Every value is a pure function of ``(seed, row number)``: ids are ``md5`` of both, every other
choice comes from ``hashint8extended`` (``sql/seed_*.sql``). So the same seed gives byte-identical
rows whatever the chunking, the number of generating sessions or the plan (checked on PostgreSQL
15, 16 and 18). No row is made in Python: rows cross it only as opaque chunks of COPY data.

One session, the loader, writes every row: the load is one transaction, so each table gets one
``COPY ... FROM STDIN (FORMAT binary)``. The rows come from LOAD_SESSIONS other sessions, each
holding the same plan (``sql/plan_table.sql``: one row per conversation, owner, start, message
count, first message number) in a temporary table. They take the time windows in turn and generate
each window's rows in time order, already in the binary COPY format, a chunk of rows per result row
(``sql/chunks.sql``); a thread per generating session streams its chunks into a bounded queue,
and the loader's thread writes them to its COPY in window order. Generating a message costs more
than writing it, hence two generating sessions for one loader.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from typing import Any

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus
from psycopg.rows import dict_row

from .. import server
from ..vocabulary import PREVIEW_CHARS
from .scales import Scale
from .statements import read

__all__ = [
    "CHUNK_MESSAGES",
    "CHUNK_CONVERSATIONS",
    "LOAD_SESSIONS",
    "APPLICATION_NAME",
    "cancel_all",
    "Job",
    "Rows",
    "USER_ROWS",
    "CONVERSATION_ROWS",
    "MESSAGE_ROWS",
    "Unit",
    "open_sessions",
    "prepare",
    "plan_span",
    "user_jobs",
    "conversation_jobs",
    "message_jobs",
    "copy_windows",
    "dispatch",
]

CHUNK_MESSAGES = 250_000  # messages per statement (a time window)
CHUNK_CONVERSATIONS = 100_000
# A window is sorted whole before its first chunk goes out: with at least this many, the loader
# starts while most of the data is still to be generated.
MIN_WINDOWS = 4
# Sessions generating rows, beside the one loading them; they take the time windows in turn.
LOAD_SESSIONS = 2
CHUNK_ROWS = 1_000  # rows per chunk, on average
QUEUE_CHUNKS = 64  # chunks a generating session may run ahead of the loader
APPLICATION_NAME = "chatschema seed"  # what pg_stat_activity shows for the seed's sessions
# A backend whose client died (kill -9) notices within this long, in the middle of a statement, and
# rolls back: otherwise a plan fill or an index build of minutes runs on for nobody (PostgreSQL 14+).
CLIENT_CHECK = "SET client_connection_check_interval = '1s'"

# In creation order: a function's body is checked against the functions it calls.
FUNCTIONS = tuple(read(name) for name in ("seed_unit", "seed_time", "seed_message_keys", "seed_role", "seed_content"))
PLAN_TABLE = read("plan_table")
PLAN_FILL = read("plan_fill")
PLAN_SPAN = read("plan_span")
INDEX_PLAN = "CREATE INDEX ON seed_plan (start_s, n)"
ANALYZE_PLAN = "ANALYZE seed_plan"
CHUNKS = read("chunks")
SELECT_USERS = read("users")
SELECT_CONVERSATIONS = read("conversations")
SELECT_MESSAGES = read("messages")

# A field of the binary COPY format is its length, then what the type's send function gives; NULL
# is length -1. Ids are generated as the 16 bytes uuid_send gives (decode(md5(...), 'hex') is
# uuid_send(md5(...)::uuid), without parsing hex text into a uuid first). The generated text is
# ASCII, which every server and client encoding writes alike, so octet_length is what textsend sends.
COPY_FIELDS = {
    "uuid": "'\\x00000010'::bytea || {0}",
    "timestamptz": "'\\x00000008'::bytea || timestamptz_send({0})",
    "int4": "'\\x00000004'::bytea || int4send({0})",
    "text": "int4send(octet_length({0})) || textsend({0})",
}
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, no flags, no header extension
COPY_TRAILER = b"\xff\xff"

Job = tuple[sql.Composed, dict[str, Any]]
"""A window's statement (see ``Rows.chunks``) and its parameters."""


@dataclass(frozen=True)
class Rows:
    """What a table loads: its columns in the order the rows carry them, with their kinds (COPY_FIELDS)."""

    table: str
    columns: tuple[tuple[str, str], ...]
    order: tuple[str, ...]  # the load order within a chunk: the SELECT's ORDER BY after bucket

    def without(self, names: tuple[str, ...]) -> "Rows":
        """These rows without the columns ``names`` (a schema from before they were added)."""
        return replace(self, columns=tuple(column for column in self.columns if column[0] not in names))

    def copy_in(self, freeze: bool) -> sql.Composed:
        """The loader's COPY FROM for these rows."""
        return sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary{})").format(
            sql.Identifier(self.table), sql.SQL(", ").join(sql.Identifier(name) for name, _ in self.columns),
            sql.SQL(", FREEZE") if freeze else sql.SQL(""))

    def chunks(self, select: str) -> sql.Composed:
        """``select`` (rows with a bucket column, in load order) as chunks of COPY data (sql/chunks.sql)."""
        fields = [
            sql.SQL("coalesce({}, '\\xffffffff'::bytea)").format(sql.SQL(COPY_FIELDS[kind]).format(sql.Identifier("r", name)))
            for name, kind in self.columns
        ]
        row = sql.SQL(" || ").join([sql.Literal(len(fields).to_bytes(2, "big")), *fields])
        return sql.SQL(CHUNKS).format(
            row=row,
            order=sql.SQL(", ").join(sql.Identifier("r", name) for name in self.order),
            select=sql.SQL(select),
        )


USER_ROWS = Rows("users", (("id", "uuid"), ("name", "text"), ("created_at", "timestamptz")), ("created_at", "id"))
CONVERSATION_ROWS = Rows(
    "conversations",
    (("id", "uuid"), ("user_id", "uuid"), ("title", "text"), ("created_at", "timestamptz"), ("updated_at", "timestamptz"),
     ("last_activity_at", "timestamptz"), ("message_count", "int4"), ("last_message_id", "uuid"),
     ("last_message_preview", "text")),
    ("start_s", "n"),
)
MESSAGE_ROWS = Rows(
    "messages",
    (("id", "uuid"), ("conversation_id", "uuid"), ("user_id", "uuid"), ("role", "text"), ("created_at", "timestamptz"),
     ("content", "text")),
    ("created_at", "g"),
)


def open_sessions(info: str) -> list[psycopg.Connection]:
    """The loader, then LOAD_SESSIONS generating sessions; on a failure the ones opened are closed."""
    sessions: list[psycopg.Connection] = []
    try:
        for _ in range(1 + LOAD_SESSIONS):
            conn = server.connect(info, application_name=APPLICATION_NAME)
            sessions.append(conn)
            if conn.info.server_version >= 140000:
                conn.execute(CLIENT_CHECK)
                conn.commit()
    except BaseException:
        for conn in sessions:
            conn.close()
        raise
    return sessions


def prepare(conn: psycopg.Connection, params: dict[str, Any]) -> None:
    """A generating session's settings, the generator functions and its copy of the plan."""
    conn.execute("SET temp_buffers = '512MB'")  # the plan of 'large' stays in memory
    conn.execute("SET work_mem = '256MB'")  # the plan's window sums and each chunk's sort stay in memory
    conn.execute("SET jit = off")  # compiling each chunk's expressions costs more than it saves here
    for statement in (*FUNCTIONS, PLAN_TABLE):
        conn.execute(statement)
    conn.execute(PLAN_FILL, params)
    conn.execute(INDEX_PLAN)
    conn.execute(ANALYZE_PLAN)
    conn.commit()
    conn.autocommit = True  # each window's COPY TO is a transaction of its own; none stays open


def plan_span(conn: psycopg.Connection) -> tuple[int, int]:
    """The end of the plan's time (seconds) and the longest a conversation lasts, from a prepared session."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(PLAN_SPAN).fetchone()
    assert row is not None
    return int(row["span"]), int(row["max_span"])


def _windows(end: int, count: int) -> list[tuple[int, int]]:
    return [(end * i // count, end * (i + 1) // count) for i in range(count)]


def _step(seconds: int, rows: float) -> int:
    """The width in seconds of a chunk's bucket, for CHUNK_ROWS rows when ``rows`` are spread over ``seconds``."""
    return max(1, int(seconds * CHUNK_ROWS / max(rows, 1.0)))


def user_jobs(params: dict[str, Any]) -> list[Job]:
    """Every user, in one window."""
    return [(USER_ROWS.chunks(SELECT_USERS), params)]


def conversation_jobs(rows: Rows, params: dict[str, Any], scale: Scale, span: int, generators: int) -> list[Job]:
    """The conversations in time windows of about CHUNK_CONVERSATIONS, at least one per generating session."""
    windows = _windows(span, max(generators, math.ceil(scale.conversations / CHUNK_CONVERSATIONS)))
    statement = rows.chunks(SELECT_CONVERSATIONS)
    return [
        (statement, {**params, "preview_chars": PREVIEW_CHARS, "a": a, "b": b,
                     "step": _step(b - a, scale.conversations / len(windows))})
        for a, b in windows
    ]


def message_jobs(params: dict[str, Any], scale: Scale, span: int, max_span: int, generators: int,
                 rows: Rows = MESSAGE_ROWS) -> list[Job]:
    """The messages in time windows of about CHUNK_MESSAGES, at least MIN_WINDOWS and one per generating session."""
    windows = _windows(span, max(MIN_WINDOWS, generators, math.ceil(scale.messages / CHUNK_MESSAGES)))
    statement = rows.chunks(SELECT_MESSAGES)
    return [
        (statement, {**params, "max_span": max_span, "a": a, "b": b,
                     "step": _step(b - a, scale.messages / len(windows))})
        for a, b in windows
    ]


class _Stopped(Exception):
    """The load failed elsewhere: a generating session gives up its share."""


def _generate(conn: psycopg.Connection, jobs: list[Job], out: queue.Queue[object], stop: threading.Event) -> None:
    """A generating session's share of the windows onto ``out``: (chunk, rows) for each chunk, None
    at the end of each window; an error goes onto ``out`` too, for the loader's thread to raise."""

    def put(item: object) -> None:
        while True:
            try:
                out.put(item, timeout=0.1)
                return
            except queue.Full:
                if stop.is_set():
                    raise _Stopped from None

    try:
        with conn.cursor(binary=True, row_factory=dict_row) as cur:
            for statement, params in jobs:
                for row in cur.stream(statement, params):
                    put((row["chunk"], row["row_count"]))
                put(None)
    except _Stopped:
        pass
    except BaseException as exc:  # noqa: BLE001 - handed to the loader's thread, which raises it
        try:
            put(exc)
        except _Stopped:
            pass


def copy_windows(
    pool: ThreadPoolExecutor,
    loader: psycopg.Connection,
    generators: list[psycopg.Connection],
    copy_in: sql.Composed,
    jobs: list[Job],
    on_done: Callable[[int], None],
) -> None:
    """One COPY FROM on the loader, fed with the windows ``jobs`` in order.

    The generating sessions take the windows in turn and run ahead of the loader by up to
    QUEUE_CHUNKS chunks each; ``on_done`` gets each chunk's row count, in this thread. On any error
    (or Ctrl-C) the generating sessions' statements are cancelled before it propagates.
    """
    stop = threading.Event()
    queues: list[queue.Queue[object]] = [queue.Queue(QUEUE_CHUNKS) for _ in generators]
    futures = [
        pool.submit(_generate, conn, jobs[i :: len(generators)], queues[i], stop) for i, conn in enumerate(generators)
    ]
    try:
        with loader.cursor() as cur, cur.copy(copy_in) as copy:
            copy.write(COPY_HEADER)
            for i in range(len(jobs)):
                source = queues[i % len(queues)]
                while isinstance(item := source.get(), tuple):
                    copy.write(item[0])
                    on_done(item[1])
                if isinstance(item, BaseException):
                    raise item
            copy.write(COPY_TRAILER)
    except BaseException:
        stop.set()
        for conn in generators:
            conn.cancel_safe()
        wait(futures)
        raise
    wait(futures)


Unit = Callable[[psycopg.Connection], int]
"""A step run on one session; returns the rows it did (0 when it has none to count)."""


def dispatch(
    pool: ThreadPoolExecutor,
    sessions: list[psycopg.Connection],
    next_unit: Callable[[int], Unit | None],
    on_done: Callable[[int], None],
) -> None:
    """Keep every session busy with ``next_unit(session index)`` until it returns None for all.

    ``on_done`` gets each unit's row count, in this thread. On any error (or Ctrl-C) the
    statements still running are cancelled before the error propagates.
    """
    running: dict[Future[int], int] = {}

    def start(i: int) -> None:
        unit = next_unit(i)
        if unit is not None:
            running[pool.submit(unit, sessions[i])] = i

    try:
        for i in range(len(sessions)):
            start(i)
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                i = running.pop(future)
                on_done(future.result())
                start(i)
    except BaseException:
        for i in running.values():
            sessions[i].cancel_safe()
        wait(running)
        raise


def cancel_all(sessions: list[psycopg.Connection], *, settle_s: float = 0.15, limit_s: float = 5.0) -> None:
    """Cancel what every session runs, until none has run anything for ``settle_s`` (or ``limit_s`` passed).

    A thread of the pool may be between two statements when the first cancel goes out and start the
    next one just after: so the sessions are watched, and cancelled again, until all stay quiet.
    """
    deadline = time.monotonic() + limit_s
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        active = [conn for conn in sessions
                  if not conn.closed and conn.pgconn.transaction_status == TransactionStatus.ACTIVE]
        for conn in active:
            try:
                conn.cancel_safe(timeout=2.0)
            except psycopg.Error:
                pass  # the server is gone or did not answer: closing the session ends it all the same
        now = time.monotonic()
        if active:
            quiet_since = now
        elif now - quiet_since >= settle_s:
            return
        time.sleep(0.03)
