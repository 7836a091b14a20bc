"""Row-level security for the admin schema: roles, policies and grants, in one place.

The migration applies these to ``public``; the benchmark applies the same to its throw-away schema.

How the policies are written (the pattern public guidance recommends, and what this machine measured):

* The tenant, and the caller's admin claim, come from per-transaction settings (``set_config(..., true)``),
  read through a sub-select, ``(SELECT current_setting(...))``, so PostgreSQL evaluates them once per
  statement (an InitPlan) instead of once per row, and can match them against an index.
* One policy per role (``TO cloudmake_tenant`` / ``TO cloudmake_admin``), never one policy with an admin
  ``OR`` arm: the ``OR`` keeps the planner from using the index on ``tenant_id`` (a sequential scan).
* Every tenant-scoped index leads with ``tenant_id``, the column the tenant policy filters on.
* RLS is enabled and FORCED; the application roles have no BYPASSRLS and own nothing, so they are
  always subject to the policies. A role without the settings matches no policy: it sees nothing.
* Platform jobs that connect as the schema owner (key rotations write audit rows) keep access to the
  platform-level audit rows only (``tenant_id IS NULL``), through a policy of their own.

Roles are cluster-wide, so creating them tolerates their existence (many databases share one server).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, text

TENANT_ROLE = "cloudmake_tenant"
ADMIN_ROLE = "cloudmake_admin"
ROLES = (TENANT_ROLE, ADMIN_ROLE)
#: Per-transaction settings the application sets after ``SET LOCAL ROLE``.
TENANT_SETTING = "cloudmake.tenant_id"
CLAIM_SETTING = "cloudmake.claim"
PLATFORM_ADMIN = "platform_admin"

TENANT_MATCH = f"tenant_id = (SELECT current_setting('{TENANT_SETTING}', true))"
#: The whole comparison sits inside the sub-select: the planner then sees one boolean, estimated at 50%,
#: where ``(SELECT ...) = 'x'`` would be estimated at 0.5% and skew every row estimate of admin queries.
ADMIN_MATCH = f"(SELECT current_setting('{CLAIM_SETTING}', true) = '{PLATFORM_ADMIN}')"

#: table -> privileges granted to each role (audit logs are append-only: no UPDATE, no DELETE).
GRANTS: dict[str, dict[str, str]] = {
    "users": {TENANT_ROLE: "SELECT, INSERT, UPDATE", ADMIN_ROLE: "SELECT, UPDATE"},
    "sessions": {TENANT_ROLE: "SELECT, INSERT, UPDATE", ADMIN_ROLE: "SELECT, UPDATE"},
    "admin_audit_logs": {TENANT_ROLE: "SELECT, INSERT", ADMIN_ROLE: "SELECT, INSERT"},
}
PROTECTED_TABLES = tuple(GRANTS)
#: The indexes that lead with the policy column (the benchmark's peer runs without them).
POLICY_INDEXES = {
    "users": ("ix_users_tenant_id_created_at_id",),
    "sessions": ("ix_sessions_tenant_id_last_seen_at_id", "ix_sessions_tenant_id_user_id_created_at"),
    "admin_audit_logs": ("ix_admin_audit_logs_tenant_id_occurred_at_id",),
}
#: Policy styles: the recommended one, and the common ``OR``-arm one (kept only as a benchmark peer).
PER_ROLE, OR_ARM = "per_role", "or_arm"


def _q(schema: str, table: str) -> str:
    return f'"{schema}"."{table}"'


def _id_sequence(conn: Connection, target: str) -> str:
    """The sequence behind ``target``'s ``id`` (every protected table has a bigserial id)."""
    return conn.execute(text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": target}).scalar_one()


def ensure_roles(conn: Connection) -> None:
    """Create the application roles if missing: NOLOGIN, no BYPASSRLS, no superuser. Tolerates races.

    A role that exists is altered back to NOBYPASSRLS, so a hand-made grant cannot silently disable RLS.
    When the migrating user is not a superuser, it is made a member, so it can ``SET ROLE`` to them.
    """
    for role in ROLES:
        conn.exec_driver_sql(f"""
            DO $$
            BEGIN
                IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
                    BEGIN
                        CREATE ROLE {role} NOLOGIN NOSUPERUSER NOBYPASSRLS;
                    EXCEPTION WHEN duplicate_object OR unique_violation THEN
                        NULL;  -- created meanwhile by a migration of another database on this server
                    END;
                END IF;
                IF (SELECT rolbypassrls OR rolsuper FROM pg_roles WHERE rolname = '{role}') THEN
                    ALTER ROLE {role} NOSUPERUSER NOBYPASSRLS;
                END IF;
                IF NOT pg_has_role(current_user, '{role}', 'MEMBER') THEN
                    EXECUTE 'GRANT {role} TO ' || quote_ident(current_user);
                END IF;
            END
            $$""")


def _policies(schema: str, table: str, style: str) -> list[str]:
    target = _q(schema, table)
    if style == OR_ARM:
        either = f"({TENANT_MATCH} OR {ADMIN_MATCH})"
        statements = [f"CREATE POLICY {table}_tenant_or_admin ON {target} FOR ALL TO {TENANT_ROLE}, {ADMIN_ROLE} "
                      f"USING {either} WITH CHECK {either}"]
    else:
        statements = [
            f"CREATE POLICY {table}_tenant_isolation ON {target} FOR ALL TO {TENANT_ROLE} "
            f"USING ({TENANT_MATCH}) WITH CHECK ({TENANT_MATCH})",
            f"CREATE POLICY {table}_platform_admin ON {target} FOR ALL TO {ADMIN_ROLE} "
            f"USING ({ADMIN_MATCH}) WITH CHECK ({ADMIN_MATCH})",
        ]
    if table == "admin_audit_logs":
        statements.append(f"CREATE POLICY {table}_platform_rows ON {target} FOR ALL TO CURRENT_USER "
                          "USING (tenant_id IS NULL) WITH CHECK (tenant_id IS NULL)")
    return statements


def drop_policies(conn: Connection, schema: str = "public", tables: Iterable[str] = PROTECTED_TABLES) -> None:
    """Drop every policy on ``tables`` (whatever its name): the state before :func:`protect`."""
    for table in tables:
        names = conn.execute(text("SELECT policyname FROM pg_policies WHERE schemaname = :s AND tablename = :t"),
                             {"s": schema, "t": table}).scalars().all()
        for name in names:
            conn.exec_driver_sql(f'DROP POLICY "{name}" ON {_q(schema, table)}')


def protect(conn: Connection, schema: str = "public", style: str = PER_ROLE) -> None:
    """Enable and force RLS on the admin tables of ``schema``, (re)create the policies, grant the roles.

    Idempotent: existing policies on these tables are replaced, so a re-run leaves exactly one set.
    """
    ensure_roles(conn)
    roles = ", ".join(ROLES)
    conn.exec_driver_sql(f'GRANT USAGE ON SCHEMA "{schema}" TO {roles}')
    drop_policies(conn, schema)
    for table, grants in GRANTS.items():
        target = _q(schema, table)
        conn.exec_driver_sql(f"ALTER TABLE {target} ENABLE ROW LEVEL SECURITY")
        conn.exec_driver_sql(f"ALTER TABLE {target} FORCE ROW LEVEL SECURITY")
        for statement in _policies(schema, table, style):
            conn.exec_driver_sql(statement)
        for role, privileges in grants.items():
            conn.exec_driver_sql(f"GRANT {privileges} ON {target} TO {role}")
        conn.exec_driver_sql(f"GRANT USAGE ON SEQUENCE {_id_sequence(conn, target)} TO {roles}")


def unprotect(conn: Connection, schema: str = "public", tables: Iterable[str] = PROTECTED_TABLES) -> None:
    """Undo :func:`protect` on ``tables`` (the roles stay: other databases on the server may use them)."""
    tables = list(tables)
    drop_policies(conn, schema, tables)
    for table in tables:
        target = _q(schema, table)
        conn.exec_driver_sql(f"ALTER TABLE {target} NO FORCE ROW LEVEL SECURITY")
        conn.exec_driver_sql(f"ALTER TABLE {target} DISABLE ROW LEVEL SECURITY")
        conn.exec_driver_sql(f"REVOKE ALL ON {target} FROM {', '.join(ROLES)}")
        conn.exec_driver_sql(f"REVOKE ALL ON SEQUENCE {_id_sequence(conn, target)} FROM {', '.join(ROLES)}")


def act_as(conn: Connection, role: str, *, tenant_id: str | None = None, admin: bool = False,
           schema: str | None = None, statement_timeout_ms: int = 30_000) -> None:
    """Inside the current transaction: become ``role`` and set the per-transaction settings the policies read.

    Everything is ``LOCAL``: it ends with the transaction, so a pooled connection never leaks a tenant.
    """
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    conn.exec_driver_sql(f"SET LOCAL ROLE {role}")
    conn.execute(text("SELECT set_config('statement_timeout', :ms, true)"), {"ms": str(statement_timeout_ms)})
    if schema:
        conn.execute(text("SELECT set_config('search_path', :s, true)"), {"s": f'"{schema}"'})
    if tenant_id is not None:
        conn.execute(text(f"SELECT set_config('{TENANT_SETTING}', :v, true)"), {"v": tenant_id})
    if admin:
        conn.execute(text(f"SELECT set_config('{CLAIM_SETTING}', :v, true)"), {"v": PLATFORM_ADMIN})
