"""GitHub secrets sync: targets, per-(target, secret) sync state, and the quota service's token buckets.

Revision ID: 0009_github_sync
Revises: 0001_foundation
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

from cloudmake_pipelines.db.types import JSONDoc, UTCDateTime

revision = "0009_github_sync"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "github_sync_targets",
        sa.Column("key", sa.String(400), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("owner", sa.String(100), nullable=False),
        sa.Column("repo", sa.String(100), nullable=True),
        sa.Column("environment", sa.String(255), nullable=True),
        sa.Column("visibility", sa.String(16), nullable=True),
        sa.Column("selected_repository_ids", JSONDoc, nullable=True),
        sa.Column("include", JSONDoc, nullable=False),
        sa.Column("exclude", JSONDoc, nullable=False),
        sa.Column("delete_orphans", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", UTCDateTime, nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("key", name="pk_github_sync_targets"),
    )
    op.create_table(
        "github_sync_state",
        sa.Column("target_key", sa.String(400), nullable=False),
        sa.Column("secret_name", sa.String(255), nullable=False),
        sa.Column("digest", sa.String(64), nullable=True),
        sa.Column("written_at", UTCDateTime, nullable=True),
        sa.Column("remote_updated_at", UTCDateTime, nullable=True),
        sa.Column("created_by_us", sa.Boolean, nullable=False),
        sa.Column("pending_digest", sa.String(64), nullable=True),
        sa.Column("pending_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("target_key", "secret_name", name="pk_github_sync_state"),
    )
    op.create_table(
        "quota_buckets",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("capacity", sa.Float, nullable=False),
        sa.Column("refill_per_second", sa.Float, nullable=False),
        sa.Column("tokens", sa.Float, nullable=False),
        sa.Column("refilled_at", UTCDateTime, nullable=False),
        sa.Column("granted_total", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("denied_total", sa.BigInteger, nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("name", name="pk_quota_buckets"),
    )


def downgrade() -> None:
    op.drop_table("quota_buckets")
    op.drop_table("github_sync_state")
    op.drop_table("github_sync_targets")
