"""MCP outage detection: breaker states, the transition log, outage episodes, degradation status.

Revision ID: 0004_mcp_outages
Revises: 0001_foundation
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

from cloudmake_pipelines.db.types import BigIntId, JSONDoc, UTCDateTime

revision = "0004_mcp_outages"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None

STATES = "('closed', 'open', 'half_open')"


def upgrade() -> None:
    op.create_table(
        "mcp_breaker_states",
        sa.Column("server_name", sa.String(100), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("failure_count", sa.Integer, nullable=False),
        sa.Column("left_closed_at", UTCDateTime, nullable=True),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("server_name", name="pk_mcp_breaker_states"),
        sa.CheckConstraint(f"state IN {STATES}", name="ck_mcp_breaker_states_state"),
    )
    op.create_table(
        "mcp_breaker_transitions",
        sa.Column("id", BigIntId, primary_key=True, autoincrement=True),
        sa.Column("server_name", sa.String(100), nullable=False),
        sa.Column("from_state", sa.String(16), nullable=False),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("failure_count", sa.Integer, nullable=False),
        sa.Column("occurred_at", UTCDateTime, nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_mcp_breaker_transitions"),
        sa.CheckConstraint(f"to_state IN {STATES}", name="ck_mcp_breaker_transitions_to_state"),
    )
    op.create_table(
        "mcp_outage_episodes",
        sa.Column("id", BigIntId, primary_key=True, autoincrement=True),
        sa.Column("server_name", sa.String(100), nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("ended_at", UTCDateTime, nullable=True),
        sa.Column("breaker_state", sa.String(16), nullable=False),
        sa.Column("peak_failure_count", sa.Integer, nullable=False),
        sa.Column("transition_count", sa.Integer, nullable=False),
        sa.Column("reopen_count", sa.Integer, nullable=False),
        sa.Column("resolved_at", UTCDateTime, nullable=True),
        sa.Column("alerted_at", UTCDateTime, nullable=True),
        sa.Column("resolved_notified_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_mcp_outage_episodes"),
        sa.UniqueConstraint("server_name", "started_at", name="uq_mcp_outage_episodes_server_name_started_at"),
    )
    op.create_index("ix_mcp_outage_episodes_resolved_at", "mcp_outage_episodes", ["resolved_at"])
    op.create_table(
        "mcp_degradation_status",
        sa.Column("server_name", sa.String(100), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("breaker_state", sa.String(16), nullable=False),
        sa.Column("failure_count", sa.Integer, nullable=False),
        sa.Column("degraded_since", UTCDateTime, nullable=True),
        sa.Column("fallback", JSONDoc, nullable=True),
        sa.Column("last_transition_id", sa.BigInteger, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("server_name", name="pk_mcp_degradation_status"),
    )


def downgrade() -> None:
    op.drop_table("mcp_degradation_status")
    op.drop_index("ix_mcp_outage_episodes_resolved_at", table_name="mcp_outage_episodes")
    op.drop_table("mcp_outage_episodes")
    op.drop_table("mcp_breaker_transitions")
    op.drop_table("mcp_breaker_states")
