"""GitHub sync: each write's attempt window (GitHub's ``Date`` when sent and when answered), kept until a
listing settles whether the secret's ``updated_at`` is ours (issue 15 item 3).

Rows written before this revision get a window from our own clock (``written_at``/``pending_at``), which
the clock-skew margin covers until the next listing settles them.

Revision ID: 0011_github_write_windows
Revises: 0009_github_sync
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from cloudmake_pipelines.db.types import UTCDateTime

revision = "0011_github_write_windows"
down_revision = "0009_github_sync"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("github_sync_state") as batch:
        batch.add_column(sa.Column("attempt_sent_at", UTCDateTime, nullable=True))
        batch.add_column(sa.Column("attempt_replied_at", UTCDateTime, nullable=True))
    op.execute("UPDATE github_sync_state SET attempt_sent_at = written_at, attempt_replied_at = written_at "
               "WHERE remote_updated_at IS NULL AND written_at IS NOT NULL AND pending_at IS NULL")
    op.execute("UPDATE github_sync_state SET attempt_sent_at = pending_at WHERE pending_at IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("github_sync_state") as batch:
        batch.drop_column("attempt_replied_at")
        batch.drop_column("attempt_sent_at")
