"""Spec drift detection (seed task 3, SC-008): one snapshot per run."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, Index, String, Table

from ..types import BigIntId, JSONDoc, UTCDateTime
from . import metadata

#: One row per drift-detection run (seed task 3, SC-008).
mcp_drift_snapshots = Table(
    "mcp_drift_snapshots",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("target", String(200), nullable=False),
    Column("taken_at", UTCDateTime, nullable=False),
    Column("has_drift", Boolean, nullable=False),
    Column("counts", JSONDoc, nullable=False),
    Column("items", JSONDoc, nullable=False),
    Column("spec_digest", String(64), nullable=False),
    Column("code_revision", String(64), nullable=True),
    Column("duration_ms", Float, nullable=False),
    Index(None, "target", "taken_at"),
)
