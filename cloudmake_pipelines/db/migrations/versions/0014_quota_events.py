"""Rate-limit quota monitoring (issue 20): append-only exhaustion events, their hourly roll-up, the hourly
asset's per-bucket statistics, the roll-up's watermark and the per-bucket alert state.

Its own branch from 0001_foundation: it depends on no other task's tables.

Revision ID: 0014_quota_events
Revises: 0001_foundation
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from cloudmake_pipelines.db.types import BigIntId, UTCDateTime

revision = "0014_quota_events"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "quota_events",
        sa.Column("id", BigIntId, nullable=False, autoincrement=True),
        sa.Column("event_key", sa.String(300), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("bucket", sa.String(200), nullable=False),
        sa.Column("occurred_at", UTCDateTime, nullable=False),
        sa.Column("hour", UTCDateTime, nullable=False),
        sa.Column("requested", sa.BigInteger, nullable=False),
        sa.Column("denied", sa.BigInteger, nullable=False),
        sa.Column("limit_per_hour", sa.Float, nullable=False),
        sa.Column("recorded_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_quota_events"),
        sa.UniqueConstraint("event_key", name="uq_quota_events_event_key"),
    )
    op.create_index("ix_quota_events_hour", "quota_events", ["hour"])
    op.create_index("ix_quota_events_recorded_at", "quota_events", ["recorded_at"])
    op.create_index("ix_quota_events_bucket_occurred_at", "quota_events", ["bucket", "occurred_at"])
    op.create_table(
        "quota_hourly",
        sa.Column("hour", UTCDateTime, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("bucket", sa.String(200), nullable=False),
        sa.Column("exhaustions", sa.BigInteger, nullable=False),
        sa.Column("denied", sa.BigInteger, nullable=False),
        sa.Column("limit_per_hour", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("hour", "kind", "bucket", name="pk_quota_hourly"),
    )
    op.create_table(
        "quota_rollup_state",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("rolled_up_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_quota_rollup_state"),
    )
    op.create_table(
        "quota_exhaustion_stats",
        sa.Column("as_of", UTCDateTime, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("bucket", sa.String(200), nullable=False),
        sa.Column("exhaustions_1h", sa.BigInteger, nullable=False),
        sa.Column("exhaustions_24h", sa.BigInteger, nullable=False),
        sa.Column("exhaustions_7d", sa.BigInteger, nullable=False),
        sa.Column("windows_exhausted", sa.Integer, nullable=False),
        sa.Column("windows", sa.Integer, nullable=False),
        sa.Column("peak_demand", sa.Float, nullable=False),
        sa.Column("limit_per_hour", sa.Float, nullable=False),
        sa.Column("trend", sa.BigInteger, nullable=False),
        sa.Column("frequent", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("as_of", "kind", "bucket", name="pk_quota_exhaustion_stats"),
    )
    op.create_index("ix_quota_exhaustion_stats_kind_bucket_as_of", "quota_exhaustion_stats",
                    ["kind", "bucket", "as_of"])
    op.create_table(
        "quota_alert_state",
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("bucket", sa.String(200), nullable=False),
        sa.Column("firing", sa.Boolean, nullable=False),
        sa.Column("alerted_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("kind", "bucket", name="pk_quota_alert_state"),
    )


def downgrade() -> None:
    op.drop_table("quota_alert_state")
    op.drop_index("ix_quota_exhaustion_stats_kind_bucket_as_of", "quota_exhaustion_stats")
    op.drop_table("quota_exhaustion_stats")
    op.drop_table("quota_rollup_state")
    op.drop_table("quota_hourly")
    op.drop_index("ix_quota_events_bucket_occurred_at", "quota_events")
    op.drop_index("ix_quota_events_recorded_at", "quota_events")
    op.drop_index("ix_quota_events_hour", "quota_events")
    op.drop_table("quota_events")
