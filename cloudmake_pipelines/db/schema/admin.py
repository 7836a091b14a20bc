"""Admin schema under row-level security (issue 10, seed task 10, SC-004).

The RLS policies, roles and grants live in the 0010_admin_rls migration (cloudmake_pipelines.adminbench.rls):
metadata holds no policies. Every tenant-scoped index leads with tenant_id, the column the policy filters.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)

from ..types import BigIntId, JSONDoc, UTCDateTime
from . import metadata

#: The people of each tenant (RLS: a tenant sees its own users; a platform admin sees all).
users = Table(
    "users",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("tenant_id", String(64), nullable=False),
    Column("email", String(320), nullable=False),
    Column("display_name", String(200), nullable=False),
    Column("role", String(32), nullable=False, server_default="member"),
    Column("status", String(16), nullable=False, server_default="active"),
    Column("created_at", UTCDateTime, nullable=False, server_default=func.now()),
    Column("last_login_at", UTCDateTime, nullable=True),
    UniqueConstraint("tenant_id", "id"),
    UniqueConstraint("tenant_id", "email"),
    Index(None, "tenant_id", "created_at", "id"),
)

#: Login sessions; (tenant_id, user_id) references users so a session cannot point into another tenant.
sessions = Table(
    "sessions",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("tenant_id", String(64), nullable=False),
    Column("user_id", BigIntId, nullable=False),
    Column("auth_method", String(16), nullable=False),
    Column("ip_address", String(45), nullable=True),
    Column("user_agent", String(300), nullable=True),
    Column("created_at", UTCDateTime, nullable=False, server_default=func.now()),
    Column("last_seen_at", UTCDateTime, nullable=False, server_default=func.now()),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
    ForeignKeyConstraint(["tenant_id", "user_id"], ["users.tenant_id", "users.id"], ondelete="CASCADE"),
    Index(None, "tenant_id", "user_id", "created_at"),
    Index(None, "tenant_id", "last_seen_at", "id"),
)

#: One row per admin query per benchmark run (seed task 10): p50/p95/p99 against the SC-004 target.
admin_benchmark_results = Table(
    "admin_benchmark_results",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("run_key", String(36), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("query", String(64), nullable=False),
    Column("iterations", Integer, nullable=False),
    Column("p50_ms", Float, nullable=False),
    Column("p95_ms", Float, nullable=False),
    Column("p99_ms", Float, nullable=False),
    Column("max_ms", Float, nullable=False),
    Column("threshold_ms", Float, nullable=False),
    Column("passed", Boolean, nullable=False),
    Column("dataset", String(16), nullable=False),
    Column("scale", JSONDoc, nullable=True),
    Column("environment", String(16), nullable=False),
    Column("run_id", String(64), nullable=True),
    Column("slowest_plan", Text, nullable=True),
    Index(None, "query", "started_at"),
)
