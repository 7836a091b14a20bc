"""Admin schema under row-level security (seed task 10): users, sessions, tenant-scoped audit logs.

On PostgreSQL: the tenant and platform-admin roles (created if missing: roles are cluster-wide), RLS
enabled and forced on users, sessions and admin_audit_logs, one policy per role (see
``cloudmake_pipelines.adminbench.rls``). On SQLite: the tables only (SQLite has no RLS).

Revision ID: 0010_admin_rls
Revises: 0001_foundation
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

from cloudmake_pipelines.adminbench import rls
from cloudmake_pipelines.db.types import BigIntId, JSONDoc, UTCDateTime

revision = "0010_admin_rls"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("admin_audit_logs") as batch:
        batch.add_column(sa.Column("tenant_id", sa.String(64), nullable=True))
    op.create_index("ix_admin_audit_logs_tenant_id_occurred_at_id", "admin_audit_logs",
                    ["tenant_id", "occurred_at", "id"])
    op.create_table(
        "users",
        sa.Column("id", BigIntId, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(32), nullable=False, server_default="member"),
        sa.Column("status", sa.String(16), nullable=False, server_default="active"),
        sa.Column("created_at", UTCDateTime, nullable=False, server_default=sa.func.now()),
        sa.Column("last_login_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("tenant_id", "id", name="uq_users_tenant_id_id"),
        sa.UniqueConstraint("tenant_id", "email", name="uq_users_tenant_id_email"),
    )
    op.create_index("ix_users_tenant_id_created_at_id", "users", ["tenant_id", "created_at", "id"])
    op.create_table(
        "sessions",
        sa.Column("id", BigIntId, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("user_id", BigIntId, nullable=False),
        sa.Column("auth_method", sa.String(16), nullable=False),
        sa.Column("ip_address", sa.String(45), nullable=True),
        sa.Column("user_agent", sa.String(300), nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False, server_default=sa.func.now()),
        sa.Column("last_seen_at", UTCDateTime, nullable=False, server_default=sa.func.now()),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("revoked_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_sessions"),
        sa.ForeignKeyConstraint(["tenant_id", "user_id"], ["users.tenant_id", "users.id"],
                                name="fk_sessions_tenant_id_users", ondelete="CASCADE"),
    )
    op.create_index("ix_sessions_tenant_id_user_id_created_at", "sessions", ["tenant_id", "user_id", "created_at"])
    op.create_index("ix_sessions_tenant_id_last_seen_at_id", "sessions", ["tenant_id", "last_seen_at", "id"])
    op.create_table(
        "admin_benchmark_results",
        sa.Column("id", BigIntId, primary_key=True, autoincrement=True),
        sa.Column("run_key", sa.String(36), nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("query", sa.String(64), nullable=False),
        sa.Column("iterations", sa.Integer, nullable=False),
        sa.Column("p50_ms", sa.Float, nullable=False),
        sa.Column("p95_ms", sa.Float, nullable=False),
        sa.Column("p99_ms", sa.Float, nullable=False),
        sa.Column("max_ms", sa.Float, nullable=False),
        sa.Column("threshold_ms", sa.Float, nullable=False),
        sa.Column("passed", sa.Boolean, nullable=False),
        sa.Column("dataset", sa.String(16), nullable=False),
        sa.Column("scale", JSONDoc, nullable=True),
        sa.Column("environment", sa.String(16), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("slowest_plan", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_admin_benchmark_results"),
    )
    op.create_index("ix_admin_benchmark_results_query_started_at", "admin_benchmark_results",
                    ["query", "started_at"])
    if op.get_bind().dialect.name == "postgresql":
        rls.protect(op.get_bind())


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        rls.unprotect(op.get_bind(), tables=["admin_audit_logs"])
    op.drop_table("admin_benchmark_results")
    op.drop_table("sessions")
    op.drop_table("users")
    op.drop_index("ix_admin_audit_logs_tenant_id_occurred_at_id", "admin_audit_logs")
    with op.batch_alter_table("admin_audit_logs") as batch:
        batch.drop_column("tenant_id")
