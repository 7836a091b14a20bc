"""Preview archival: Neon branch and cleanup state on environments, the partial expiry index, the run log.

Revision ID: 0006_previews
Revises: 0001_foundation
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

from cloudmake_pipelines.db.types import BigIntId, UTCDateTime

revision = "0006_previews"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None

_PREVIEW = sa.text("kind = 'preview'")
_BACKLOG = sa.text("cleanup_status IN ('pending', 'failed')")


def upgrade() -> None:
    # Nullable columns and a constant default: no table rewrite on PostgreSQL, native ALTER on SQLite.
    with op.batch_alter_table("environments") as batch:
        batch.add_column(sa.Column("neon_project_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("neon_branch_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("cleanup_status", sa.String(16), nullable=True))
        batch.add_column(sa.Column("cleanup_attempts", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("cleanup_error", sa.Text, nullable=True))
        batch.add_column(sa.Column("cleanup_lease_until", UTCDateTime, nullable=True))
        batch.add_column(sa.Column("cleanup_updated_at", UTCDateTime, nullable=True))
    op.create_index("ix_environments_ttl_expires_at_created_at", "environments", ["ttl_expires_at", "created_at"],
                    postgresql_where=_PREVIEW, sqlite_where=_PREVIEW)
    # Superseded by the partial index above, and harmful next to it (the planner preferred it and then read
    # every active preview on a no-op run): see db/schema/previews.py.
    op.drop_index("ix_environments_kind_ttl_expires_at", "environments")
    if op.get_bind().dialect.name == "postgresql":
        # An archival run turns its rows into dead entries of the partial index, which the next runs' bitmap
        # scans must still visit until VACUUM (1M rows, 100k archived: 56 ms instead of 4.5 ms). The default
        # threshold (20% of the table changed) may never be reached by archival alone: vacuum after ~1%.
        op.execute("ALTER TABLE environments SET (autovacuum_vacuum_scale_factor = 0.01, "
                   "autovacuum_analyze_scale_factor = 0.02)")
    op.create_index("ix_environments_cleanup_status", "environments", ["cleanup_status"],
                    postgresql_where=_BACKLOG, sqlite_where=_BACKLOG)
    op.create_table(
        "preview_archival_runs",
        sa.Column("id", BigIntId, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("as_of", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime, nullable=False),
        sa.Column("archived", sa.Integer, nullable=False),
        sa.Column("freed", sa.Integer, nullable=False),
        sa.Column("already_gone", sa.Integer, nullable=False),
        sa.Column("cleanup_failed", sa.Integer, nullable=False),
        sa.Column("retried", sa.Integer, nullable=False),
        sa.Column("active_after", sa.Integer, nullable=False),
        sa.Column("duration_ms", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_preview_archival_runs"),
    )
    op.create_index("ix_preview_archival_runs_finished_at", "preview_archival_runs", ["finished_at"])


def downgrade() -> None:
    op.drop_table("preview_archival_runs")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE environments RESET (autovacuum_vacuum_scale_factor, autovacuum_analyze_scale_factor)")
    op.drop_index("ix_environments_cleanup_status", "environments")
    op.drop_index("ix_environments_ttl_expires_at_created_at", "environments")
    op.create_index("ix_environments_kind_ttl_expires_at", "environments", ["kind", "ttl_expires_at"])
    with op.batch_alter_table("environments") as batch:
        for column in ("cleanup_updated_at", "cleanup_lease_until", "cleanup_error", "cleanup_attempts",
                       "cleanup_status", "neon_branch_id", "neon_project_id"):
            batch.drop_column(column)
