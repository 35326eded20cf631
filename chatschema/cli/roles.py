"""`chatschema roles`: the SQL of the three roles a DBA grants to logins, printed or applied."""

from __future__ import annotations

import click

from ..settings import Settings
from . import connection_options, main, out


@main.command()
@click.option("--apply", "apply_", is_flag=True,
              help="Run the SQL on the database (--dsn, $DATABASE_URL or the embedded server) instead of printing it.")
@click.option("--app-role", default="chatschema_app", show_default=True, metavar="NAME",
              help="The application's role: exactly what the catalog's queries need.")
@click.option("--migrator-role", default="chatschema_migrator", show_default=True, metavar="NAME",
              help="The migration runner's role: owns chatschema's tables and views.")
@click.option("--verifier-role", default="chatschema_verifier", show_default=True, metavar="NAME",
              help="The verification role: SELECT and pg_read_all_stats (check, doctor, lint --dsn, plans verify).")
@connection_options
def roles(apply_: bool, app_role: str, migrator_role: str, verifier_role: str, settings: Settings) -> None:
    """Print (or --apply) the SQL creating three NOLOGIN roles to grant to logins.

    \b
    - the application role: SELECT/INSERT/UPDATE on exactly what the catalog's
      queries touch, USAGE on those tables' sequences; nothing on chatschema's
      bookkeeping (chatschema_version, chatschema_backfill), no DDL, no TRUNCATE;
    - the migration runner: owner of chatschema's tables and views, CREATE on the
      schema, pg_read_all_stats (to name the sessions in a migration's way);
    - the verifier: SELECT on chatschema's relations and pg_read_all_stats. It
      has no write privilege, so `plans verify` skips planning the write queries
      and says why (EXPLAIN of a write needs the privilege to write).

    Idempotent: roles are created when missing, their privileges on chatschema's
    relations revoked and granted again; no other role or object is changed except
    the owner of chatschema's relations. Run it on a database at head. The names of
    existing login or superuser roles are refused.

    \b
    Example:
        chatschema roles > roles.sql && psql -v ON_ERROR_STOP=1 -f roles.sql "$DATABASE_URL"
        chatschema roles --apply --dsn postgresql://dba@db.internal/chat
        psql -c 'GRANT chatschema_app TO chat_backend'
    """
    from ..roles import RoleNames, apply_roles, role_script

    names = RoleNames(app_role, migrator_role, verifier_role)
    if not apply_:
        click.echo(role_script(names), nl=False)
        return
    target, count = apply_roles(settings, names)
    out.print(f"✓ {target}: roles {', '.join(names.all())} in place ({count} statements); grant them to logins "
              f"(GRANT {names.app} TO <login>)", markup=False, soft_wrap=True)
