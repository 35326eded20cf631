"""Who may do what: the three roles a DBA grants to logins, and the privileges each catalog query needs.

- the application role: exactly what the catalog's queries (the API's statements) touch: SELECT on
  every relation they read, INSERT/UPDATE/DELETE where they write, USAGE on the sequences of the
  tables they insert into; nothing on chatschema's bookkeeping tables, no DDL, no TRUNCATE;
- the migration runner: the owner of chatschema's objects (ALTER, CREATE INDEX, REFRESH need
  ownership) with CREATE on the schema, and ``pg_read_all_stats`` to name the sessions in its way;
- the verifier: SELECT on chatschema's relations (its bookkeeping too: check reads the revision) and
  ``pg_read_all_stats``. No write privilege, so EXPLAIN of a write statement, which PostgreSQL checks
  like the write itself, is not possible for it: ``plans verify`` skips those with the reason.

The roles are NOLOGIN groups: the DBA grants them to logins. The script is idempotent: a role is
created only when missing, and the privileges on chatschema's relations are revoked and granted again,
so re-applying after a catalog change leaves exactly what the catalog needs. It creates nothing else
and changes no other role (the predefined ``pg_read_all_stats`` is granted to two of these).
Run it on a database at head (every relation it names exists there). Tables chatschema makes later
(its bookkeeping on first use; on a Citus coordinator the analytics rollups of ``distribute``, which
the app role reads and the migrator, their owner, refreshes) are granted when present: re-run it after.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import psycopg
from psycopg import sql

from . import server
from .errors import ConfigError
from .migrations import BOOKKEEPING_TABLES, MANAGED_TABLES
from .queries import Query, all_queries
from .settings import Settings
from .citus.rollups import TABLES as ROLLUP_TABLES
from .views import VIEWS

__all__ = ["RoleNames", "needed_privileges", "missing_write_privileges", "role_statements", "role_script",
           "apply_roles", "MATVIEWS"]

MATVIEWS = tuple(v.name for v in VIEWS)
_RELATIONS = MANAGED_TABLES + MATVIEWS
_WRITES = re.compile(r"\b(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+(?:ONLY\s+)?(\w+)", re.IGNORECASE)
_READS = re.compile(r"\b(?:FROM|JOIN)\s+(?:ONLY\s+)?(\w+)", re.IGNORECASE)
_VERB = {"INSERT": "INSERT", "UPDATE": "UPDATE", "DELETE": "DELETE"}


@dataclass(frozen=True)
class RoleNames:
    app: str = "chatschema_app"
    migrator: str = "chatschema_migrator"
    verifier: str = "chatschema_verifier"

    def all(self) -> tuple[str, str, str]:
        return (self.app, self.migrator, self.verifier)

    def __post_init__(self) -> None:
        for option, name in (("--app-role", self.app), ("--migrator-role", self.migrator),
                             ("--verifier-role", self.verifier)):
            if not name or not name.strip() or len(name.encode()) > 63:
                raise ConfigError(f"{option}: a role name of 1 to 63 bytes, got {name!r}")
        if len(set(self.all())) != 3:
            raise ConfigError(f"the three roles need three names, got {', '.join(self.all())}")


def _statement_privileges(text: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for verb, table in _WRITES.findall(text):
        if table in _RELATIONS:
            found.setdefault(table, set()).add(_VERB[verb.split()[0].upper()])
    for table in _READS.findall(text):
        if table in _RELATIONS:
            found.setdefault(table, set()).add("SELECT")
    # An UPDATE's WHERE and a RETURNING read the rows they write: PostgreSQL asks SELECT for both.
    returning = re.search(r"\bRETURNING\b", text, re.IGNORECASE) is not None
    for privileges in found.values():
        if privileges & {"UPDATE", "DELETE"} or (returning and "INSERT" in privileges):
            privileges.add("SELECT")
    return found


def needed_privileges(queries: Iterable[Query] | None = None) -> dict[str, tuple[str, ...]]:
    """{relation: privileges} that ``queries`` (default: the catalog's optimized queries, the API's) need."""
    chosen = [q for q in all_queries() if q.variant == "optimized"] if queries is None else list(queries)
    merged: dict[str, set[str]] = {}
    for query in chosen:
        for statement in query.statements:
            for table, privileges in _statement_privileges(statement.sql).items():
                merged.setdefault(table, set()).update(privileges)
    order = ("SELECT", "INSERT", "UPDATE", "DELETE")
    return {t: tuple(p for p in order if p in merged[t]) for t in _RELATIONS if t in merged}


def missing_write_privileges(conn: psycopg.Connection, query: Query) -> list[str]:
    """The write privileges the connected role lacks for ``query`` ("INSERT on messages"); EXPLAIN needs them."""
    missing = []
    for table, privileges in needed_privileges([query]).items():
        for privilege in privileges:
            if privilege == "SELECT":
                continue
            row = conn.execute("SELECT has_table_privilege(%s, %s)", (table, privilege)).fetchone()
            if not (row and row[0]):
                missing.append(f"{privilege} on {table}")
    return missing


def _create(role: str) -> sql.Composed:
    body = sql.SQL("BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {name}) THEN "
                   "CREATE ROLE {role} NOLOGIN; END IF; END").format(name=sql.Literal(role), role=sql.Identifier(role))
    return sql.SQL("DO $chatschema$ {} $chatschema$").format(body)


def _schema_grant(privileges: str, role: str) -> sql.Composed:
    # The schema chatschema's objects live in is the session's current schema (as everywhere in chatschema).
    body = sql.SQL("BEGIN EXECUTE format('GRANT {privileges} ON SCHEMA %I TO %I', current_schema(), {role}); END").format(
        privileges=sql.SQL(privileges), role=sql.Literal(role))
    return sql.SQL("DO $chatschema$ {} $chatschema$").format(body)


def _sequence_usage(tables: Iterable[str], role: str) -> sql.Composed:
    # Sequences behind the inserted tables' columns (serial, identity): none at head, where keys are UUIDs.
    body = sql.SQL(
        "DECLARE s regclass; BEGIN FOR s IN SELECT d.objid::regclass FROM pg_depend d JOIN pg_class c "
        "ON c.oid = d.objid AND c.relkind = 'S' WHERE d.refobjid = ANY({tables}::regclass[]) AND d.deptype IN ('a', 'i') "
        "LOOP EXECUTE format('GRANT USAGE ON SEQUENCE %s TO %I', s, {role}); END LOOP; END").format(
        tables=sql.Literal(list(tables)), role=sql.Literal(role))
    return sql.SQL("DO $chatschema$ {} $chatschema$").format(body)


def role_statements(names: RoleNames = RoleNames()) -> list[sql.Composable]:
    """The SQL that creates (when missing) the three roles and grants exactly their privileges."""
    every = sql.SQL(", ").join(sql.Identifier(t) for t in _RELATIONS)
    out: list[sql.Composable] = [_create(role) for role in names.all()]
    for role in (names.app, names.verifier):  # not the migrator's: an owner's REVOKE would take its own away
        out.append(sql.SQL("REVOKE ALL ON TABLE {} FROM {}").format(every, sql.Identifier(role)))
    app = sql.Identifier(names.app)
    out.append(_schema_grant("USAGE", names.app))
    needed = needed_privileges()
    for table, privileges in needed.items():
        out.append(sql.SQL("GRANT {} ON TABLE {} TO {}").format(
            sql.SQL(", ").join(sql.SQL(p) for p in privileges), sql.Identifier(table), app))
    out.append(_sequence_usage([t for t, p in needed.items() if "INSERT" in p], names.app))
    migrator = sql.Identifier(names.migrator)
    out.append(_schema_grant("USAGE, CREATE", names.migrator))
    for table in MANAGED_TABLES:
        out.append(sql.SQL("ALTER TABLE {} OWNER TO {}").format(sql.Identifier(table), migrator))
    for view in MATVIEWS:
        out.append(sql.SQL("ALTER MATERIALIZED VIEW {} OWNER TO {}").format(sql.Identifier(view), migrator))
    out.append(sql.SQL("GRANT pg_read_all_stats TO {}").format(migrator))
    verifier = sql.Identifier(names.verifier)
    out.append(_schema_grant("USAGE", names.verifier))
    out.append(sql.SQL("GRANT SELECT ON TABLE {} TO {}").format(every, verifier))
    out.append(sql.SQL("GRANT pg_read_all_stats TO {}").format(verifier))
    # chatschema makes some of its tables on first use (a stamp, a distribution, a backfill's checkpoint)
    # and, on a Citus coordinator, `distribute` adds the analytics rollups, which the API there reads
    # (chatschema.api_citus) and `views refresh` writes as their owner: granted when present, so the
    # script runs on any database; re-run it after they appear.
    out.extend(_owned_when_present(table, names, app_reads=False) for table in BOOKKEEPING_TABLES)
    out.extend(_owned_when_present(table, names, app_reads=True) for table in ROLLUP_TABLES)
    return out


def _owned_when_present(table: str, names: RoleNames, *, app_reads: bool) -> sql.Composed:
    """The migrator owns ``table``, the verifier (and the app role when ``app_reads``) may read it, once it exists."""
    readers = sql.SQL("{a}, {v}" if app_reads else "{v}")
    grants = sql.SQL("REVOKE ALL ON TABLE {t} FROM {a}, {v}; ALTER TABLE {t} OWNER TO {m}; "
                     "GRANT SELECT ON TABLE {t} TO {readers}").format(
        t=sql.Identifier(table), a=sql.Identifier(names.app), v=sql.Identifier(names.verifier),
        m=sql.Identifier(names.migrator),
        readers=readers.format(a=sql.Identifier(names.app), v=sql.Identifier(names.verifier)))
    return sql.SQL("DO $roles$ BEGIN IF to_regclass({name}) IS NOT NULL THEN EXECUTE {body}; END IF; END $roles$").format(
        name=sql.Literal(table), body=sql.Literal(grants.as_string(None)))


def role_script(names: RoleNames = RoleNames()) -> str:
    """The statements as one script for psql (``chatschema roles > roles.sql``)."""
    return "".join(f"{statement.as_string(None)};\n" for statement in role_statements(names))


_EXISTING = """
SELECT rolname, rolcanlogin, rolsuper FROM pg_roles WHERE rolname = ANY(%s) ORDER BY rolname
"""


def apply_roles(settings: Settings, names: RoleNames = RoleNames()) -> tuple[str, int]:
    """Run the script on ``settings``' database in one transaction: (the target, statements run).

    A name that is already a login or superuser role is someone else's: refused, nothing changed."""
    info = server.conninfo(settings)
    with server.connect(info) as conn:
        for name, can_login, superuser in conn.execute(_EXISTING, (list(names.all()),)).fetchall():
            if can_login or superuser:
                raise ConfigError(f"role {name} exists and is a {'superuser' if superuser else 'login'}: chatschema's roles "
                                  f"are NOLOGIN groups it may change; choose another name (--app-role, "
                                  f"--migrator-role, --verifier-role); nothing was changed")
        statements = role_statements(names)
        for statement in statements:
            conn.execute(statement)
        conn.commit()
    return server.describe_target(info), len(statements)
