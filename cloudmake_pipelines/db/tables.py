"""Every table of the platform, on one MetaData.

Domain packages add their tables here too (each with its own Alembic migration), so that Alembic's
autogenerate comparison and the drift detector see one complete schema.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    true,
)

from .types import BigIntId, JSONDoc, UTCDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

#: The MCP servers this platform watches: load-tested nightly, their breakers polled for outages.
mcp_servers = Table(
    "mcp_servers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("url", Text, nullable=False),
    Column("transport", String(32), nullable=False, server_default="streamable_http"),
    Column("auth_header", String(100), nullable=True),
    Column("auth_secret_ref", String(200), nullable=True),
    Column("enabled", Boolean, nullable=False, server_default=true()),
    Column("thresholds", JSONDoc, nullable=True),
    Column("created_at", UTCDateTime, nullable=False, server_default=func.now()),
    Column("updated_at", UTCDateTime, nullable=False, server_default=func.now()),
)

#: One row per (server, list operation) per load-test run (seed task 1, SC-021).
mcp_server_metrics = Table(
    "mcp_server_metrics",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("server_name", String(100), nullable=False),
    Column("operation", String(64), nullable=False),
    Column("p50_ms", Float, nullable=True),
    Column("p95_ms", Float, nullable=True),
    Column("p99_ms", Float, nullable=True),
    Column("error_rate", Float, nullable=False),
    Column("request_count", Integer, nullable=False),
    Column("errors_by_kind", JSONDoc, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("duration_ms", Float, nullable=False),
    Column("environment", String(16), nullable=False),
    Column("run_id", String(64), nullable=True),
    Index(None, "server_name", "started_at"),
)

#: One row per drift-detection run (seed task 3, SC-008).
mcp_drift_snapshots = Table(
    "mcp_drift_snapshots",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("target", String(200), nullable=False),
    Column("taken_at", UTCDateTime, nullable=False),
    Column("has_drift", Boolean, nullable=False),
    Column("counts", JSONDoc, nullable=False),
    Column("items", JSONDoc, nullable=False),
    Column("spec_digest", String(64), nullable=False),
    Column("code_revision", String(64), nullable=True),
    Column("duration_ms", Float, nullable=False),
    Index(None, "target", "taken_at"),
)

#: Deployment environments; previews are archived after their TTL (seed task 4).
environments = Table(
    "environments",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("created_at", UTCDateTime, nullable=False, server_default=func.now()),
    Column("ttl_expires_at", UTCDateTime, nullable=True),
    Column("archived_at", UTCDateTime, nullable=True),
    Index(None, "kind", "ttl_expires_at"),
)

#: The audit trail of privileged operations (key rotations, syncs, ...), one JSON detail per row.
admin_audit_logs = Table(
    "admin_audit_logs",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("occurred_at", UTCDateTime, nullable=False, server_default=func.now()),
    Column("operation_type", String(64), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("environment", String(16), nullable=False),
    Column("detail", JSONDoc, nullable=False),
    Index(None, "operation_type", "occurred_at"),
)

__all__ = [
    "metadata",
    "mcp_servers",
    "mcp_server_metrics",
    "mcp_drift_snapshots",
    "environments",
    "admin_audit_logs",
]
