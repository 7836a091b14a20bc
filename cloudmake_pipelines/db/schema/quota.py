"""The quota service's token buckets and rate-limit quota monitoring (issue 20, seed "Future Enhancements")."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Float, Index, Integer, PrimaryKeyConstraint, String, Table

from ..types import BigIntId, UTCDateTime
from . import metadata

#: Token buckets of the quota service, shared by every run and process (e.g. 5,000 GitHub writes/hour).
quota_buckets = Table(
    "quota_buckets",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("capacity", Float, nullable=False),
    Column("refill_per_second", Float, nullable=False),
    Column("tokens", Float, nullable=False),
    Column("refilled_at", UTCDateTime, nullable=False),
    Column("granted_total", BigInteger, nullable=False, server_default="0"),
    Column("denied_total", BigInteger, nullable=False, server_default="0"),
)

#: Append-only: one row per denied (or deferred) request of a quota bucket. ``event_key`` is unique per
#: source record (a Redis stream entry id, a service-generated id), so a re-delivered record stores once.
#: ``hour`` is ``occurred_at`` floored to the hour; ``recorded_at`` (when stored) finds the hours that late
#: events touched: the hourly roll-up reads those hours by index, never the whole table.
quota_events = Table(
    "quota_events",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("event_key", String(300), nullable=False, unique=True),
    Column("source", String(16), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("bucket", String(200), nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("hour", UTCDateTime, nullable=False),
    Column("requested", BigInteger, nullable=False),
    Column("denied", BigInteger, nullable=False),
    Column("limit_per_hour", Float, nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    Index(None, "hour"),
    Index(None, "recorded_at"),
    Index(None, "bucket", "occurred_at"),
)

#: Per (hour, bucket): exhaustions, denied units and the limit, rolled up from ``quota_events``. The hourly
#: asset re-rolls only the hours that events recorded since its last roll-up fall in, then reads 7 days of
#: this, never old events.
quota_hourly = Table(
    "quota_hourly",
    metadata,
    Column("hour", UTCDateTime, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("bucket", String(200), nullable=False),
    Column("exhaustions", BigInteger, nullable=False),
    Column("denied", BigInteger, nullable=False),
    Column("limit_per_hour", Float, nullable=False),
    PrimaryKeyConstraint("hour", "kind", "bucket"),
)

#: When the roll-up last ran (one row): events recorded since then (minus a margin) are rolled up next.
quota_rollup_state = Table(
    "quota_rollup_state",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("rolled_up_at", UTCDateTime, nullable=False),
)

#: The hourly asset's result per bucket (those exhausted in the last 7 days), kept as history to plot.
quota_exhaustion_stats = Table(
    "quota_exhaustion_stats",
    metadata,
    Column("as_of", UTCDateTime, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("bucket", String(200), nullable=False),
    Column("exhaustions_1h", BigInteger, nullable=False),
    Column("exhaustions_24h", BigInteger, nullable=False),
    Column("exhaustions_7d", BigInteger, nullable=False),
    Column("windows_exhausted", Integer, nullable=False),
    Column("windows", Integer, nullable=False),
    Column("peak_demand", Float, nullable=False),
    Column("limit_per_hour", Float, nullable=False),
    Column("trend", BigInteger, nullable=False),
    Column("frequent", Boolean, nullable=False),
    PrimaryKeyConstraint("as_of", "kind", "bucket"),
    Index(None, "kind", "bucket", "as_of"),
)

#: Alerting state per bucket: at most one alert a day while frequently exhausted, one "resolved" after.
quota_alert_state = Table(
    "quota_alert_state",
    metadata,
    Column("kind", String(16), nullable=False),
    Column("bucket", String(200), nullable=False),
    Column("firing", Boolean, nullable=False),
    Column("alerted_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("kind", "bucket"),
)
