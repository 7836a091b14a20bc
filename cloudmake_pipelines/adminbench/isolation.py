"""Proof, on the live database, that row-level security isolates tenants.

Every probe runs in a transaction that is rolled back; the write probes use explicit ids, so they touch
no sequence. Each finding says what was tried and what PostgreSQL answered.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from . import rls

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"


@dataclass(frozen=True)
class Finding:
    name: str
    status: str
    detail: str


@dataclass
class IsolationReport:
    findings: list[Finding] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(f.status != FAILED for f in self.findings)

    def failures(self) -> list[Finding]:
        return [f for f in self.findings if f.status == FAILED]

    def add(self, name: str, ok: bool, detail: str) -> None:
        self.findings.append(Finding(name, PASSED if ok else FAILED, detail))


def _configuration(conn: Connection, schema: str, report: IsolationReport) -> None:
    roles = conn.execute(text("SELECT rolname, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = ANY(:r)"),
                         {"r": list(rls.ROLES)}).all()
    unsafe = [r.rolname for r in roles if r.rolsuper or r.rolbypassrls]
    missing = sorted(set(rls.ROLES) - {r.rolname for r in roles})
    report.add("roles_cannot_bypass", not unsafe and not missing,
               f"missing roles: {missing}" if missing else
               f"superuser or BYPASSRLS: {unsafe}" if unsafe else "no SUPERUSER, no BYPASSRLS")
    tables = conn.execute(text(
        "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, pg_get_userbyid(c.relowner) AS owner "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = :s AND c.relname = ANY(:t) AND c.relkind = 'r'"),
        {"s": schema, "t": list(rls.PROTECTED_TABLES)}).all()
    weak = sorted({t.relname for t in tables if not (t.relrowsecurity and t.relforcerowsecurity)}
                  | (set(rls.PROTECTED_TABLES) - {t.relname for t in tables}))
    report.add("rls_enabled_and_forced", not weak, f"not enabled and forced: {weak}" if weak else
               f"enabled and forced on {', '.join(rls.PROTECTED_TABLES)}")
    owned = sorted(t.relname for t in tables if t.owner in rls.ROLES)
    report.add("roles_own_no_table", not owned, f"owned by an application role: {owned}" if owned else
               "every table is owned by another role")
    policies = conn.execute(text("SELECT tablename, roles::text[] AS roles FROM pg_policies "
                                 "WHERE schemaname = :s AND tablename = ANY(:t)"),
                            {"s": schema, "t": list(rls.PROTECTED_TABLES)}).all()
    shared = sorted({p.tablename for p in policies if set(rls.ROLES) <= set(p.roles) or "public" in p.roles})
    report.add("one_policy_per_role", not shared, f"a policy covers both roles on: {shared}" if shared else
               "the tenant and admin roles have separate policies")


def _counts(conn: Connection) -> dict[str, int]:
    return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in rls.PROTECTED_TABLES}


def _rejected(conn: Connection, statement: str, params: dict) -> str | None:
    """Run ``statement`` in a savepoint; the error PostgreSQL raised, or None when it was accepted."""
    savepoint = conn.begin_nested()
    try:
        result = conn.execute(text(statement), params)
        if result.rowcount == 0 and statement.lstrip().upper().startswith("UPDATE"):
            return "0 rows updated"
        return None
    except DBAPIError as exc:
        return str(exc.orig).splitlines()[0]
    finally:
        savepoint.rollback()


def _writes(conn: Connection, tenant_a: str, tenant_b: str, own_user: int, their_user: int,
            report: IsolationReport) -> None:
    probes = {
        "insert a user into another tenant":
            ("INSERT INTO users (id, tenant_id, email, display_name) VALUES (-1, :b, 'probe@example.invalid', 'p')",
             {"b": tenant_b}),
        "insert an audit row for another tenant":
            ("INSERT INTO admin_audit_logs (id, tenant_id, operation_type, actor, environment, detail) "
             "VALUES (-1, :b, 'probe', 'probe', 'dev', '{}')", {"b": tenant_b}),
        "insert a platform-level audit row":
            ("INSERT INTO admin_audit_logs (id, tenant_id, operation_type, actor, environment, detail) "
             "VALUES (-1, NULL, 'probe', 'probe', 'dev', '{}')", {}),
        "insert a session for another tenant's user":
            ("INSERT INTO sessions (id, tenant_id, user_id, auth_method, expires_at) "
             "VALUES (-1, :b, :u, 'password', now())", {"b": tenant_b, "u": their_user}),
        "move an own user to another tenant":
            ("UPDATE users SET tenant_id = :b WHERE id = :u", {"b": tenant_b, "u": own_user}),
        "update another tenant's users":
            ("UPDATE users SET display_name = 'probe' WHERE tenant_id = :b", {"b": tenant_b}),
    }
    outcomes = {label: _rejected(conn, sql, params) for label, (sql, params) in probes.items()}
    accepted = [label for label, error in outcomes.items() if error is None]
    report.add("tenant_cannot_write_other_tenants", not accepted,
               f"accepted for tenant {tenant_a}: {accepted}" if accepted else
               "; ".join(f"{label}: {error}" for label, error in outcomes.items()))


def prove_isolation(engine: Engine, schema: str = "public") -> IsolationReport:
    """Check configuration, reads, writes and the no-setting case; every transaction is rolled back."""
    report = IsolationReport()
    with engine.connect() as conn:
        _configuration(conn, schema, report)
        conn.rollback()
        with conn.begin() as tx:
            rls.act_as(conn, rls.ADMIN_ROLE, admin=True, schema=schema)
            tenants = conn.execute(text(
                "SELECT DISTINCT ON (tenant_id) tenant_id, id FROM (SELECT tenant_id, id FROM users LIMIT 5000) u "
                "ORDER BY tenant_id LIMIT 2")).all()
            admin_tenants = conn.execute(text("SELECT count(DISTINCT tenant_id) FROM "
                                              "(SELECT tenant_id FROM users LIMIT 5000) u")).scalar_one()
            tx.rollback()
        for role in rls.ROLES:  # a pooled connection that set the settings before: they must not linger
            with conn.begin() as tx:
                rls.act_as(conn, role, schema=schema)
                seen = _counts(conn)
                tx.rollback()
            report.add(f"{role}_without_settings_sees_nothing", not any(seen.values()), f"rows seen: {seen}")
        if len(tenants) < 2:
            report.findings.append(Finding("tenant_isolation", SKIPPED, "fewer than two tenants have users"))
            return report
        (tenant_a, user_a), (tenant_b, user_b) = tenants
        report.add("admin_sees_every_tenant", admin_tenants >= 2,
                   f"the admin role saw {admin_tenants} tenants among the first 5000 users")
        with conn.begin() as tx:
            rls.act_as(conn, rls.TENANT_ROLE, tenant_id=tenant_a, schema=schema)
            foreign = {t: conn.execute(text(f"SELECT count(*) FROM {t} WHERE tenant_id IS DISTINCT FROM :a"),
                                       {"a": tenant_a}).scalar_one() for t in rls.PROTECTED_TABLES}
            own = conn.execute(text("SELECT count(*) FROM users")).scalar_one()
            report.add("tenant_reads_only_its_rows", own > 0 and not any(foreign.values()),
                       f"tenant {tenant_a} saw {own} own users; rows of other tenants or the platform: {foreign}")
            _writes(conn, tenant_a, tenant_b, user_a, user_b, report)
            tx.rollback()
    return report
