"""Design-token propagation: token sources, versions (one per commit), apps, and per-app propagation history.

Revision ID: 0015_token_propagation
Revises: 0001_foundation
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from cloudmake_pipelines.db.types import BigIntId, UTCDateTime

revision = "0015_token_propagation"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "token_sources",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("location", sa.String(500), nullable=False),
        sa.Column("tokens_path", sa.String(500), nullable=False),
        sa.Column("version_field", sa.String(200), nullable=False),
        sa.Column("branch", sa.String(200), nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_token_sources"),
        sa.UniqueConstraint("location", "tokens_path", name="uq_token_sources_location_tokens_path"),
    )
    op.create_table(
        "token_versions",
        sa.Column("id", BigIntId, primary_key=True, autoincrement=True),
        sa.Column("source_id", sa.Integer, nullable=False),
        sa.Column("sha", sa.String(64), nullable=False),
        sa.Column("version", sa.String(200), nullable=False),
        sa.Column("committed_at", UTCDateTime, nullable=False),
        sa.Column("recorded_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_token_versions"),
        sa.UniqueConstraint("source_id", "sha", name="uq_token_versions_source_id_sha"),
    )
    op.create_index("ix_token_versions_committed_at", "token_versions", ["committed_at"])
    op.create_table(
        "token_apps",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("read_kind", sa.String(16), nullable=False),
        sa.Column("read_selector", sa.String(200), nullable=False),
        sa.Column("auth_header", sa.String(100), nullable=True),
        sa.Column("auth_secret_ref", sa.String(200), nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_token_apps"),
        sa.UniqueConstraint("name", name="uq_token_apps_name"),
        sa.CheckConstraint("read_kind IN ('json', 'css', 'header')", name="ck_token_apps_read_kind"),
    )
    op.create_table(
        "token_propagation",
        sa.Column("id", BigIntId, primary_key=True, autoincrement=True),
        sa.Column("version_id", sa.BigInteger, nullable=False),
        sa.Column("app_name", sa.String(100), nullable=False),
        sa.Column("committed_at", UTCDateTime, nullable=False),
        sa.Column("first_seen_at", UTCDateTime, nullable=True),
        sa.Column("previous_poll_at", UTCDateTime, nullable=True),
        sa.Column("last_polled_at", UTCDateTime, nullable=True),
        sa.Column("reachable", sa.Boolean, nullable=True),
        sa.Column("last_served", sa.String(200), nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("superseded_by", sa.String(200), nullable=True),
        sa.Column("alerted_at", UTCDateTime, nullable=True),
        sa.Column("resolved_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_token_propagation"),
        sa.UniqueConstraint("version_id", "app_name", name="uq_token_propagation_version_id_app_name"),
    )
    op.create_index("ix_token_propagation_app_name_committed_at", "token_propagation", ["app_name", "committed_at"])


def downgrade() -> None:
    op.drop_table("token_propagation")
    op.drop_table("token_apps")
    op.drop_table("token_versions")
    op.drop_table("token_sources")
