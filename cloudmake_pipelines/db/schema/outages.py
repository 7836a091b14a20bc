"""MCP outage detection (seed task 2): circuit breakers, their transition log, outage episodes, degradation."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from ..types import BigIntId, JSONDoc, UTCDateTime
from . import metadata

_BREAKER_STATES = "('closed', 'open', 'half_open')"

#: The circuit-breaker state of each MCP server (by registry name), written by whoever owns the breakers.
mcp_breaker_states = Table(
    "mcp_breaker_states",
    metadata,
    Column("server_name", String(100), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("failure_count", Integer, nullable=False),
    Column("left_closed_at", UTCDateTime, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
    CheckConstraint(f"state IN {_BREAKER_STATES}", name="state"),
)

#: Append-only log of breaker state changes; ``id`` orders them and is the outage sensor's cursor.
mcp_breaker_transitions = Table(
    "mcp_breaker_transitions",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("server_name", String(100), nullable=False),
    Column("from_state", String(16), nullable=False),
    Column("to_state", String(16), nullable=False),
    Column("failure_count", Integer, nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("reason", Text, nullable=True),
    Column("source", String(64), nullable=False),
    CheckConstraint(f"to_state IN {_BREAKER_STATES}", name="to_state"),
)

#: One row per outage episode (a server out of CLOSED, flapping folded in); unique per server and start.
mcp_outage_episodes = Table(
    "mcp_outage_episodes",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("server_name", String(100), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime, nullable=True),
    Column("breaker_state", String(16), nullable=False),
    Column("peak_failure_count", Integer, nullable=False),
    Column("transition_count", Integer, nullable=False),
    Column("reopen_count", Integer, nullable=False),
    Column("resolved_at", UTCDateTime, nullable=True),
    Column("alerted_at", UTCDateTime, nullable=True),
    Column("resolved_notified_at", UTCDateTime, nullable=True),
    UniqueConstraint("server_name", "started_at"),
    Index(None, "resolved_at"),
)

#: Degradation status per server as of the last detector tick, with fallback guidance: what the API shows.
mcp_degradation_status = Table(
    "mcp_degradation_status",
    metadata,
    Column("server_name", String(100), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("breaker_state", String(16), nullable=False),
    Column("failure_count", Integer, nullable=False),
    Column("degraded_since", UTCDateTime, nullable=True),
    Column("fallback", JSONDoc, nullable=True),
    Column("last_transition_id", BigInteger, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
