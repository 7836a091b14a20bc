"""Foundation tables: MCP server registry, load-test metrics, drift snapshots, environments, audit log.

Revision ID: 0001_foundation
Revises:
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

from cloudmake_pipelines.db.types import BigIntId, JSONDoc, UTCDateTime

revision = "0001_foundation"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mcp_servers",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("transport", sa.String(32), nullable=False, server_default="streamable_http"),
        sa.Column("auth_header", sa.String(100), nullable=True),
        sa.Column("auth_secret_ref", sa.String(200), nullable=True),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("thresholds", JSONDoc, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", UTCDateTime, nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name="pk_mcp_servers"),
        sa.UniqueConstraint("name", name="uq_mcp_servers_name"),
    )
    op.create_table(
        "mcp_server_metrics",
        sa.Column("id", BigIntId, primary_key=True, autoincrement=True),
        sa.Column("server_name", sa.String(100), nullable=False),
        sa.Column("operation", sa.String(64), nullable=False),
        sa.Column("p50_ms", sa.Float, nullable=True),
        sa.Column("p95_ms", sa.Float, nullable=True),
        sa.Column("p99_ms", sa.Float, nullable=True),
        sa.Column("error_rate", sa.Float, nullable=False),
        sa.Column("request_count", sa.Integer, nullable=False),
        sa.Column("errors_by_kind", JSONDoc, nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("duration_ms", sa.Float, nullable=False),
        sa.Column("environment", sa.String(16), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_mcp_server_metrics"),
    )
    op.create_index("ix_mcp_server_metrics_server_name_started_at", "mcp_server_metrics",
                    ["server_name", "started_at"])
    op.create_table(
        "mcp_drift_snapshots",
        sa.Column("id", BigIntId, primary_key=True, autoincrement=True),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("taken_at", UTCDateTime, nullable=False),
        sa.Column("has_drift", sa.Boolean, nullable=False),
        sa.Column("counts", JSONDoc, nullable=False),
        sa.Column("items", JSONDoc, nullable=False),
        sa.Column("spec_digest", sa.String(64), nullable=False),
        sa.Column("code_revision", sa.String(64), nullable=True),
        sa.Column("duration_ms", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_mcp_drift_snapshots"),
    )
    op.create_index("ix_mcp_drift_snapshots_target_taken_at", "mcp_drift_snapshots", ["target", "taken_at"])
    op.create_table(
        "environments",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False, server_default=sa.func.now()),
        sa.Column("ttl_expires_at", UTCDateTime, nullable=True),
        sa.Column("archived_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_environments"),
    )
    op.create_index("ix_environments_kind_ttl_expires_at", "environments", ["kind", "ttl_expires_at"])
    op.create_table(
        "admin_audit_logs",
        sa.Column("id", BigIntId, primary_key=True, autoincrement=True),
        sa.Column("occurred_at", UTCDateTime, nullable=False, server_default=sa.func.now()),
        sa.Column("operation_type", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("environment", sa.String(16), nullable=False),
        sa.Column("detail", JSONDoc, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_admin_audit_logs"),
    )
    op.create_index("ix_admin_audit_logs_operation_type_occurred_at", "admin_audit_logs",
                    ["operation_type", "occurred_at"])


def downgrade() -> None:
    op.drop_table("admin_audit_logs")
    op.drop_table("environments")
    op.drop_table("mcp_drift_snapshots")
    op.drop_table("mcp_server_metrics")
    op.drop_table("mcp_servers")
