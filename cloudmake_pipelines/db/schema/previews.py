"""Preview environment archival (issue 6, seed task 4).

The environments table's partial indexes (``postgresql_where``/``sqlite_where``) make SQLAlchemy load
both dialects when they are defined: only the commands that read environments pay for that.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, String, Table, Text, func

from ..types import BigIntId, UTCDateTime
from . import metadata

#: Deployment environments; previews are archived after their TTL (seed task 4). The ``neon_*`` and
#: ``cleanup_*`` columns (migration 0006_previews) hold the preview's Neon branch and the state of freeing
#: it after archival (cleanup_status: pending | failed | freed | already_gone | no_resources); a lease
#: keeps two overlapping runs from cleaning up the same environment at once, and a killed run's lease
#: simply expires.
environments = Table(
    "environments",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("created_at", UTCDateTime, nullable=False, server_default=func.now()),
    Column("ttl_expires_at", UTCDateTime, nullable=True),
    Column("archived_at", UTCDateTime, nullable=True),
    Column("neon_project_id", String(64), nullable=True),
    Column("neon_branch_id", String(64), nullable=True),
    Column("cleanup_status", String(16), nullable=True),
    Column("cleanup_attempts", Integer, nullable=False, server_default="0"),
    Column("cleanup_error", Text, nullable=True),
    Column("cleanup_lease_until", UTCDateTime, nullable=True),
    Column("cleanup_updated_at", UTCDateTime, nullable=True),
)

#: Active previews only, by expiry: the archival statement and its no-op re-run read just this index.
#: It replaces the foundation's (kind, ttl_expires_at) index, which 0006_previews drops: with both,
#: PostgreSQL's estimates (blind to "active previews expire in the future") made it pick that one and read
#: every active preview on a no-op run (31 ms instead of 0.1 ms at 1,000,000 rows).
Index("ix_environments_ttl_expires_at_created_at", environments.c.ttl_expires_at, environments.c.created_at,
      postgresql_where=environments.c.kind == "preview", sqlite_where=environments.c.kind == "preview")

#: Only environments whose resources still wait to be freed: the cleanup backlog.
Index("ix_environments_cleanup_status", environments.c.cleanup_status,
      postgresql_where=environments.c.cleanup_status.in_(["pending", "failed"]),
      sqlite_where=environments.c.cleanup_status.in_(["pending", "failed"]))

#: One row per finished (non-dry) archival run: what it archived and freed, and the database time it used.
preview_archival_runs = Table(
    "preview_archival_runs",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("source", String(32), nullable=False),
    Column("run_id", String(64), nullable=True),
    Column("as_of", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=False),
    Column("archived", Integer, nullable=False),
    Column("freed", Integer, nullable=False),
    Column("already_gone", Integer, nullable=False),
    Column("cleanup_failed", Integer, nullable=False),
    Column("retried", Integer, nullable=False),
    Column("active_after", Integer, nullable=False),
    Column("duration_ms", Float, nullable=False),
    Index(None, "finished_at"),
)
