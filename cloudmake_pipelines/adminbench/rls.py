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
* Platform jobs that connect as the schema owner (key rotations write audit rows) read and append
  platform-level audit rows only (``tenant_id IS NULL``), through policies of their own.

What the tenant setting trusts (:func:`act_as`): the application, connected as the schema owner, sets
``cloudmake.tenant_id`` and a seal of it per transaction (``SET LOCAL``), *then* switches to the tenant
role. The seal is an HMAC-SHA256 (pgcrypto) of the tenant, the backend and the transaction's start
under a key only the owner can read (``cloudmake_private.tenant_key``), made by ``cloudmake_tenant_seal()``,
which only the owner may execute. The policies read the tenant through ``cloudmake_tenant()``, which
returns it only while the seal matches: SQL running as ``cloudmake_tenant`` can change the setting
(PostgreSQL lets any role set a custom setting) but not re-seal it, so a switch matches no row. Trusted:
whoever connects as the schema owner (and so anyone who can ``RESET ROLE`` on such a connection).

Append-only audit log (:func:`harden`): no UPDATE, DELETE or TRUNCATE privilege for the application
roles, and a statement trigger that refuses all three for everyone, the owner included, unless the
transaction breaks glass: ``SET LOCAL cloudmake.break_glass = 'on'`` by a member of
:data:`BREAK_GLASS_ROLE` (superusers are members of every role). The same trigger refuses
moving a user to another tenant (``UPDATE ... SET tenant_id``). The admin role inserts
tenant-level audit rows only: a platform-level row (``tenant_id IS NULL``) comes from the owner's jobs.

Roles are cluster-wide, so creating them tolerates their existence (many databases share one server).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, text

TENANT_ROLE = "cloudmake_tenant"
ADMIN_ROLE = "cloudmake_admin"
ROLES = (TENANT_ROLE, ADMIN_ROLE)
#: The documented break-glass role: its members may change audit rows or a row's tenant, in a
#: transaction that also sets :data:`BREAK_GLASS_SETTING` to ``on`` (nobody is a member by default).
BREAK_GLASS_ROLE = "cloudmake_break_glass"
BREAK_GLASS_SETTING = "cloudmake.break_glass"
#: Per-transaction settings the application sets (the tenant and its seal before ``SET LOCAL ROLE``).
TENANT_SETTING = "cloudmake.tenant_id"
SEAL_SETTING = "cloudmake.tenant_seal"
KEY_SCHEMA = "cloudmake_private"
CLAIM_SETTING = "cloudmake.claim"
PLATFORM_ADMIN = "platform_admin"

#: ``cloudmake_tenant()`` is the sealed setting (or NULL); in a sub-select it runs once per statement.
TENANT_MATCH = "tenant_id = (SELECT cloudmake_tenant())"
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
        if style != OR_ARM:  # the admin appends tenant-level rows only: no forged platform-level row
            statements[1] = (f"CREATE POLICY {table}_platform_admin ON {target} FOR ALL TO {ADMIN_ROLE} "
                             f"USING ({ADMIN_MATCH}) WITH CHECK ({ADMIN_MATCH} AND tenant_id IS NOT NULL)")
        statements += [f"CREATE POLICY {table}_platform_rows ON {target} FOR SELECT TO CURRENT_USER "
                       "USING (tenant_id IS NULL)",
                       f"CREATE POLICY {table}_platform_append ON {target} FOR INSERT TO CURRENT_USER "
                       "WITH CHECK (tenant_id IS NULL)"]
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
    _tenant_seal(conn, schema)
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


def _pgcrypto_schema(conn: Connection) -> str:
    conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pgcrypto")
    return conn.execute(text("SELECT extnamespace::regnamespace::text FROM pg_extension "
                             "WHERE extname = 'pgcrypto'")).scalar_one()


def _tenant_seal(conn: Connection, schema: str) -> None:
    """The key, the owner-only sealing function and the reader the policies call (see the module doc)."""
    crypto, s = _pgcrypto_schema(conn), f'"{schema}"'
    # The seal binds the tenant to this backend and this transaction: a seal seen once is useless later.
    payload = ("tenant || '|' || pg_backend_pid() || '|' || "
               "extract(epoch FROM transaction_timestamp())::text")
    # One key per database, in a schema of its own: owner-only, and outside the application's tables.
    conn.exec_driver_sql(f"""
        CREATE SCHEMA IF NOT EXISTS {KEY_SCHEMA};
        REVOKE ALL ON SCHEMA {KEY_SCHEMA} FROM PUBLIC, {", ".join(ROLES)};
        CREATE TABLE IF NOT EXISTS {KEY_SCHEMA}.tenant_key (id int PRIMARY KEY CHECK (id = 1), key bytea NOT NULL);
        REVOKE ALL ON {KEY_SCHEMA}.tenant_key FROM PUBLIC, {", ".join(ROLES)};
        INSERT INTO {KEY_SCHEMA}.tenant_key VALUES (1, {crypto}.gen_random_bytes(32)) ON CONFLICT DO NOTHING;
        CREATE OR REPLACE FUNCTION {s}.cloudmake_tenant_seal(tenant text) RETURNS text
            LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
            SELECT encode({crypto}.hmac(convert_to({payload}, 'UTF8'), key, 'sha256'), 'hex')
            FROM {KEY_SCHEMA}.tenant_key WHERE id = 1 $$;
        REVOKE ALL ON FUNCTION {s}.cloudmake_tenant_seal(text) FROM PUBLIC, {", ".join(ROLES)};
        CREATE OR REPLACE FUNCTION {s}.cloudmake_tenant() RETURNS text
            LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
            SELECT t FROM (SELECT current_setting('{TENANT_SETTING}', true) AS t) setting
            WHERE current_setting('{SEAL_SETTING}', true) = {s}.cloudmake_tenant_seal(t) $$;
        REVOKE ALL ON FUNCTION {s}.cloudmake_tenant() FROM PUBLIC;
        GRANT EXECUTE ON FUNCTION {s}.cloudmake_tenant() TO {", ".join(ROLES)}""")


def harden(conn: Connection, schema: str = "public") -> None:
    """Audit rows append-only and tenants fixed, for every role including the owner (break glass aside)."""
    s = f'"{schema}"'
    conn.exec_driver_sql(f"""
        DO $$
        BEGIN
            CREATE ROLE {BREAK_GLASS_ROLE} NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;  -- cluster-wide: made by another database's migration
        END
        $$;
        CREATE OR REPLACE FUNCTION {s}.cloudmake_refuse_unless_break_glass() RETURNS trigger
            LANGUAGE plpgsql SET search_path = pg_catalog AS $$
        BEGIN
            IF current_setting('{BREAK_GLASS_SETTING}', true) = 'on'
                    AND pg_has_role(current_user, '{BREAK_GLASS_ROLE}', 'MEMBER') THEN
                RETURN CASE WHEN TG_LEVEL = 'ROW' THEN NEW END;
            END IF;
            RAISE EXCEPTION USING MESSAGE = TG_ARGV[0], ERRCODE = 'insufficient_privilege',
                HINT = 'break glass: a member of {BREAK_GLASS_ROLE} sets {BREAK_GLASS_SETTING} = on in the transaction';
        END $$;
        REVOKE UPDATE, DELETE, TRUNCATE ON {s}.admin_audit_logs FROM PUBLIC, {", ".join(ROLES)};
        DROP TRIGGER IF EXISTS admin_audit_logs_append_only ON {s}.admin_audit_logs;
        CREATE TRIGGER admin_audit_logs_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON {s}.admin_audit_logs
            FOR EACH STATEMENT EXECUTE FUNCTION {s}.cloudmake_refuse_unless_break_glass(
                'admin_audit_logs is append-only: UPDATE, DELETE and TRUNCATE are refused');""")
    # AFTER: a tenant's own attempt is refused by its policy first. Sessions need no trigger: their
    # composite foreign key (tenant_id, user_id) already refuses pointing at another tenant.
    conn.exec_driver_sql(f"""
        DROP TRIGGER IF EXISTS users_tenant_fixed ON {s}.users;
        CREATE TRIGGER users_tenant_fixed AFTER UPDATE OF tenant_id ON {s}.users FOR EACH ROW
            WHEN (OLD.tenant_id IS DISTINCT FROM NEW.tenant_id)
            EXECUTE FUNCTION {s}.cloudmake_refuse_unless_break_glass(
                'users.tenant_id cannot change: a user stays with its tenant')""")


def soften(conn: Connection, schema: str = "public") -> None:
    """Undo :func:`harden` (the role stays: it is cluster-wide)."""
    s = f'"{schema}"'
    conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS users_tenant_fixed ON {s}.users")
    conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS admin_audit_logs_append_only ON {s}.admin_audit_logs")
    conn.exec_driver_sql(f"DROP FUNCTION IF EXISTS {s}.cloudmake_refuse_unless_break_glass()")


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
    """Inside the current transaction: set the per-transaction settings the policies read and become ``role``.

    Called as the schema owner: the tenant is set and sealed *before* ``SET LOCAL ROLE`` (only the owner
    may seal). Everything is ``LOCAL``: it ends with the transaction, so a pooled connection never leaks
    a tenant.
    """
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if schema:
        conn.execute(text("SELECT set_config('search_path', :s, true)"), {"s": f'"{schema}"'})
    if tenant_id is not None:
        conn.execute(text(f"SELECT set_config('{TENANT_SETTING}', :v, true), "
                          f"set_config('{SEAL_SETTING}', cloudmake_tenant_seal(:v), true)"), {"v": tenant_id})
    conn.exec_driver_sql(f"SET LOCAL ROLE {role}")
    conn.execute(text("SELECT set_config('statement_timeout', :ms, true)"), {"ms": str(statement_timeout_ms)})
    if admin:
        conn.execute(text(f"SELECT set_config('{CLAIM_SETTING}', :v, true)"), {"v": PLATFORM_ADMIN})
