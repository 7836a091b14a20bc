"""GitHub secrets sync (issue 9, seed task 8): targets and what was last written."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, PrimaryKeyConstraint, String, Table, false, func

from ..types import JSONDoc, UTCDateTime
from . import metadata

#: Where secrets go: one row per GitHub target (scope + repository, environment or organization level).
github_sync_targets = Table(
    "github_sync_targets",
    metadata,
    Column("key", String(400), primary_key=True),
    Column("scope", String(16), nullable=False),
    Column("level", String(16), nullable=False),
    Column("owner", String(100), nullable=False),
    Column("repo", String(100), nullable=True),
    Column("environment", String(255), nullable=True),
    Column("visibility", String(16), nullable=True),
    Column("selected_repository_ids", JSONDoc, nullable=True),
    Column("include", JSONDoc, nullable=False),
    Column("exclude", JSONDoc, nullable=False),
    Column("delete_orphans", Boolean, nullable=False, server_default=false()),
    Column("created_at", UTCDateTime, nullable=False, server_default=func.now()),
)

#: What this sync last wrote per (target, secret): an HMAC of value + visibility + selected repositories
#: (never a plain hash), GitHub's updated_at after that write, and a pending marker set before each write.
github_sync_state = Table(
    "github_sync_state",
    metadata,
    Column("target_key", String(400), nullable=False),
    Column("secret_name", String(255), nullable=False),
    Column("digest", String(64), nullable=True),
    Column("written_at", UTCDateTime, nullable=True),
    Column("remote_updated_at", UTCDateTime, nullable=True),
    Column("created_by_us", Boolean, nullable=False),
    Column("pending_digest", String(64), nullable=True),
    Column("pending_at", UTCDateTime, nullable=True),
    # The last write's attempt window in GitHub's time (``Date`` headers; 0011_github_write_windows):
    # kept until a listing settles whether ``updated_at`` is ours. replied NULL: no answer seen yet.
    Column("attempt_sent_at", UTCDateTime, nullable=True),
    Column("attempt_replied_at", UTCDateTime, nullable=True),
    PrimaryKeyConstraint("target_key", "secret_name"),
)
