"""The MCP servers this platform watches and their load-test metrics (seed task 1, SC-021)."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, Index, Integer, String, Table, Text, func, true

from ..types import BigIntId, JSONDoc, UTCDateTime
from . import metadata

#: The MCP servers this platform watches: load-tested nightly, their breakers polled for outages.
mcp_servers = Table(
    "mcp_servers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("url", Text, nullable=False),
    Column("transport", String(32), nullable=False, server_default="streamable_http"),
    Column("auth_header", String(100), nullable=True),
    Column("auth_secret_ref", String(200), nullable=True),
    Column("enabled", Boolean, nullable=False, server_default=true()),
    Column("thresholds", JSONDoc, nullable=True),
    Column("created_at", UTCDateTime, nullable=False, server_default=func.now()),
    Column("updated_at", UTCDateTime, nullable=False, server_default=func.now()),
)

#: One row per (server, list operation) per load-test run (seed task 1, SC-021).
mcp_server_metrics = Table(
    "mcp_server_metrics",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("server_name", String(100), nullable=False),
    Column("operation", String(64), nullable=False),
    Column("p50_ms", Float, nullable=True),
    Column("p95_ms", Float, nullable=True),
    Column("p99_ms", Float, nullable=True),
    Column("error_rate", Float, nullable=False),
    Column("request_count", Integer, nullable=False),
    Column("errors_by_kind", JSONDoc, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("duration_ms", Float, nullable=False),
    Column("environment", String(16), nullable=False),
    Column("run_id", String(64), nullable=True),
    Index(None, "server_name", "started_at"),
)
