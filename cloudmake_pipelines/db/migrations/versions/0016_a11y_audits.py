"""Accessibility audits: targets (a Storybook and/or pages), one row per audit, and each audit's violations.

Revision ID: 0016_a11y_audits
Revises: 0001_foundation
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from cloudmake_pipelines.db.types import BigIntId, JSONDoc, UTCDateTime

revision = "0016_a11y_audits"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "a11y_targets",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("storybook_url", sa.Text, nullable=True),
        sa.Column("page_urls", JSONDoc, nullable=False),
        sa.Column("auth_header", sa.String(100), nullable=True),
        sa.Column("auth_secret_ref", sa.String(200), nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_a11y_targets"),
        sa.UniqueConstraint("name", name="uq_a11y_targets_name"),
    )
    op.create_table(
        "a11y_audits",
        sa.Column("id", BigIntId, primary_key=True, autoincrement=True),
        sa.Column("target_name", sa.String(100), nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime, nullable=False),
        sa.Column("pages", sa.Integer, nullable=False),
        sa.Column("audited", sa.Integer, nullable=False),
        sa.Column("failed", sa.Integer, nullable=False),
        sa.Column("passed", sa.Integer, nullable=False),
        sa.Column("violations", sa.Integer, nullable=False),
        sa.Column("incomplete", sa.Integer, nullable=False),
        sa.Column("compliance", sa.Float, nullable=True),
        sa.Column("new_violations", sa.Integer, nullable=False),
        sa.Column("new_serious", sa.Integer, nullable=False),
        sa.Column("report_path", sa.Text, nullable=True),
        sa.Column("summary", JSONDoc, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_a11y_audits"),
    )
    op.create_index("ix_a11y_audits_target_name_started_at", "a11y_audits", ["target_name", "started_at"])
    op.create_table(
        "a11y_findings",
        sa.Column("id", BigIntId, primary_key=True, autoincrement=True),
        sa.Column("audit_id", sa.BigInteger, nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("page_id", sa.Text, nullable=False),
        sa.Column("component", sa.Text, nullable=False),
        sa.Column("rule", sa.String(100), nullable=False),
        sa.Column("impact", sa.String(16), nullable=True),
        sa.Column("selector", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_a11y_findings"),
    )
    op.create_index("ix_a11y_findings_audit_id", "a11y_findings", ["audit_id"])


def downgrade() -> None:
    op.drop_table("a11y_findings")
    op.drop_table("a11y_audits")
    op.drop_table("a11y_targets")
