"""The alert outbox (issue 15 item 2): every alert, persisted before its webhook POST."""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, String, Table, Text

from ..types import BigIntId, JSONDoc, UTCDateTime
from . import metadata

#: Every alert, persisted before its webhook POST (issue 15 item 2): delivered at least once, retried across
#: ticks until the webhook accepts it. ``idempotency_key`` (alert key + what makes this notification unique) is
#: unique, so recording the same notification twice is a no-op, and goes in the payload for receivers.
alert_outbox = Table(
    "alert_outbox",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("idempotency_key", Text, nullable=False, unique=True),  # keys hold paths (drift targets): no cap
    Column("task", String(100), nullable=False),
    Column("alert_key", Text, nullable=False),
    Column("severity", String(16), nullable=False),
    Column("payload", JSONDoc, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", Text, nullable=True),
    Column("last_attempt_at", UTCDateTime, nullable=True),
    Column("next_attempt_at", UTCDateTime, nullable=True),
    Column("delivered_at", UTCDateTime, nullable=True),
    Index(None, "delivered_at", "next_attempt_at"),
)
