"""Accessibility audits: the Dagster run that recorded an audit (``run_key``), unique per target, so a step
re-executed under the same run (a Celery worker killed mid-step) replaces its audit instead of adding one.

Audits from the CLI have no run (NULL): NULLs never collide in a unique constraint (PostgreSQL and SQLite).

Revision ID: 0017_a11y_audit_run_key
Revises: 0016_a11y_audits
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0017_a11y_audit_run_key"
down_revision = "0016_a11y_audits"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("a11y_audits") as batch:
        batch.add_column(sa.Column("run_key", sa.String(64), nullable=True))
        batch.create_unique_constraint("uq_a11y_audits_run_key_target_name", ["run_key", "target_name"])


def downgrade() -> None:
    with op.batch_alter_table("a11y_audits") as batch:
        batch.drop_constraint("uq_a11y_audits_run_key_target_name", type_="unique")
        batch.drop_column("run_key")
