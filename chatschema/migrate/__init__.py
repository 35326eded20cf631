"""How the schema changes safely: the migration API behind upgrade, downgrade, current, history,
sql, the dry run and lint.

Alembic's ``command`` functions do the work; chatschema builds their ``Config`` in code
(``script_location = chatschema:migrations``), hands them a connection, and turns their failures
into errors a DBA can act on.

- ``chain``: the revisions and where a database stands on them;
- ``offline``: the offline script, statement by statement, with the transaction and timeouts each
  runs under;
- ``run``: upgrade and downgrade under the lock policy (retries, blockers named, errors explained);
- ``dryrun``: what a run would do, which locks on which tables, changing nothing;
- ``locks``: which lock a statement takes, and who holds a conflicting one;
- ``backfill``: running batched backfills, and what an exact summary is;
- ``lint``: squawk and chatschema's own rules on every revision.
"""

from __future__ import annotations

from .chain import (
    DEFAULT_LOCATION,
    RevisionInfo,
    alembic_config,
    current,
    engine_for,
    head,
    history,
    pending,
    resolve,
    script_directory,
)
from .dryrun import MigrationPlan, PlannedRevision, RelationSize, plan, plan_lines
from .offline import Emitted, PlannedStatement, offline_sql, planned_statements, render
from .run import AppliedRevision, backoff, downgrade, policy_lines, policy_preamble, policy_warnings, upgrade

__all__ = [
    "AppliedRevision",
    "RevisionInfo",
    "Emitted",
    "PlannedStatement",
    "PlannedRevision",
    "RelationSize",
    "MigrationPlan",
    "DEFAULT_LOCATION",
    "alembic_config",
    "script_directory",
    "head",
    "history",
    "resolve",
    "current",
    "pending",
    "upgrade",
    "downgrade",
    "backoff",
    "offline_sql",
    "render",
    "planned_statements",
    "plan",
    "plan_lines",
    "policy_lines",
    "policy_preamble",
    "policy_warnings",
    "engine_for",
]
