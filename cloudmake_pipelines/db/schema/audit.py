"""The audit trail of privileged operations (key rotations, syncs, ...)."""

from __future__ import annotations

from sqlalchemy import Column, Index, String, Table, func

from ..types import BigIntId, JSONDoc, UTCDateTime
from . import metadata

#: The audit trail of privileged operations (key rotations, syncs, ...), one JSON detail per row.
admin_audit_logs = Table(
    "admin_audit_logs",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("occurred_at", UTCDateTime, nullable=False, server_default=func.now()),
    Column("operation_type", String(64), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("environment", String(16), nullable=False),
    Column("detail", JSONDoc, nullable=False),
    # Platform-level rows (key rotations, syncs) have no tenant; under RLS (migration 0010_admin_rls) a
    # tenant's rows are visible to that tenant only.
    Column("tenant_id", String(64), nullable=True),
    Index(None, "operation_type", "occurred_at"),
    Index(None, "tenant_id", "occurred_at", "id"),
)
