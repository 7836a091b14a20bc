"""Exhaustion events: one append-only row per denied (or deferred) request, recorded exactly once.

Two sources. The project's own :class:`~.service.QuotaService` records in the transaction that denies, so a
denial and its event commit together or not at all. API rate limiters elsewhere append to a Redis stream;
:class:`StreamConsumer` reads it with a consumer group, stores, and only then acknowledges (XACK). An entry
read but not stored (a crash) stays pending and is claimed again (XAUTOCLAIM); one stored but not
acknowledged is re-delivered and stored once, since ``event_key`` is the stream entry id, unique in the table.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Connection, Engine, delete, select

from ..db.helpers import dialect_insert
from ..db.tables import quota_events, quota_exhaustion_stats, quota_hourly
from ..db.types import utcnow
from ..logs import get_logger
from ..validation import validation_message

log = get_logger("quota")
KINDS = ("user", "project", "platform")
Kind = Literal["user", "project", "platform"]


def floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class Exhaustion:
    """A request a bucket could not (fully) serve: ``denied`` of ``requested`` units, under ``limit_per_hour``."""

    kind: str
    bucket: str
    occurred_at: datetime
    requested: int
    denied: int
    limit_per_hour: float

    def row(self, event_key: str, source: str, recorded_at: datetime) -> dict[str, Any]:
        return {"event_key": event_key, "source": source, "recorded_at": recorded_at, "kind": self.kind,
                "bucket": self.bucket,
                "occurred_at": self.occurred_at, "hour": floor_hour(self.occurred_at),
                "requested": self.requested, "denied": self.denied, "limit_per_hour": self.limit_per_hour}


def record(conn: Connection, events: list[tuple[str, Exhaustion]], source: str) -> int:
    """Store ``(event_key, event)`` pairs; a key already stored is skipped. Returns how many were new."""
    if not events:
        return 0
    now = utcnow()
    rows = [event.row(key, source, now) for key, event in events]
    result = conn.execute(dialect_insert(conn, quota_events).values(rows)
                          .on_conflict_do_nothing(index_elements=["event_key"]).returning(quota_events.c.id))
    return len(result.all())  # RETURNING: psycopg reports no rowcount for a multi-row INSERT


def record_denial(conn: Connection, event: Exhaustion) -> None:
    """The quota service's own denial, in the caller's transaction (a fresh key: each denial is one event)."""
    record(conn, [(f"service:{uuid.uuid4().hex}", event)], "service")


class StreamEntry(BaseModel):
    """The fields of one stream entry, as a rate limiter writes them (all strings in Redis).

    ``at`` is ISO 8601 with a zone or Unix seconds; ``denied`` defaults to ``requested``.
    """

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)
    kind: Kind
    bucket: str = Field(min_length=1, max_length=200)
    at: datetime
    requested: int = Field(1, ge=1, le=10**12)
    denied: int | None = Field(None, ge=1, le=10**12)
    limit_per_hour: float = Field(gt=0, le=1e15)

    def event(self) -> Exhaustion:
        at = self.at if self.at.tzinfo else self.at.replace(tzinfo=UTC)
        return Exhaustion(self.kind, self.bucket, at.astimezone(UTC), self.requested,
                          min(self.denied or self.requested, self.requested), self.limit_per_hour)


@dataclass
class ConsumeReport:
    read: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    claimed: int = 0


class StreamConsumer:
    """Drains a Redis stream into ``quota_events`` through the consumer group ``group``.

    ``claim_idle`` is how long an entry read by another consumer must sit unacknowledged before this one
    takes it over (that consumer crashed between read and store).
    """

    def __init__(self, engine: Engine, client, stream: str, *, group: str = "cloudmake-quota",
                 consumer: str = "cloudmake-quota", claim_idle: timedelta = timedelta(minutes=5),
                 batch: int = 1000, max_entries: int = 1_000_000):
        self.engine, self.client, self.stream, self.group, self.consumer = engine, client, stream, group, consumer
        self.claim_idle_ms = int(claim_idle.total_seconds() * 1000)
        self.batch, self.max_entries = batch, max_entries

    def ensure_group(self) -> None:
        import redis

        try:
            self.client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def store(self, entries: list[tuple[Any, dict]]) -> tuple[int, int, int]:
        """Store entries (id, fields) in one transaction: (new, already stored, rejected as malformed)."""
        good: list[tuple[str, Exhaustion]] = []
        rejected = 0
        for entry_id, fields in entries:
            key = _text(entry_id)
            try:
                event = StreamEntry.model_validate({_text(k): _text(v) for k, v in fields.items()}).event()
            except ValidationError as exc:
                rejected += 1
                log.warning("quota stream entry rejected (acknowledged, not stored)",
                            extra={"stream": self.stream, "entry_id": key, "problem": validation_message(exc)})
                continue
            good.append((f"redis:{self.stream}:{key}", event))
        with self.engine.begin() as conn:
            new = record(conn, good, "redis")
        return new, len(good) - new, rejected

    def _handle(self, entries: list[tuple[Any, dict]], report: ConsumeReport) -> None:
        if not entries:
            return
        present = [(i, f) for i, f in entries if f]  # an entry trimmed from the stream comes back without fields
        new, dup, bad = self.store(present)
        self.client.xack(self.stream, self.group, *[i for i, _ in entries])  # only after the commit
        report.read += len(present)
        report.stored += new
        report.duplicates += dup
        report.rejected += bad

    def run(self) -> ConsumeReport:
        """Claim stale pending entries, then read new ones, until the stream is drained (or ``max_entries``)."""
        self.ensure_group()
        report = ConsumeReport()
        cursor = "0-0"
        while report.read < self.max_entries:
            cursor, claimed, *_ = self.client.xautoclaim(self.stream, self.group, self.consumer,
                                                         self.claim_idle_ms, start_id=cursor, count=self.batch)
            report.claimed += len(claimed)
            self._handle(claimed, report)
            if _text(cursor) == "0-0":
                break
        # Our own pending entries (this consumer crashed before storing them last time), then new ones.
        for start in ("0", ">"):
            while report.read < self.max_entries:
                answer = self.client.xreadgroup(self.group, self.consumer, {self.stream: start},
                                                count=self.batch)
                entries = answer[0][1] if answer else []
                if not entries:
                    break
                self._handle(entries, report)
        return report


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def recent(engine: Engine, bucket: str, limit: int = 100) -> list[dict[str, Any]]:
    """The newest events of ``bucket`` (index on bucket, occurred_at)."""
    with engine.connect() as conn:
        rows = conn.execute(select(quota_events).where(quota_events.c.bucket == bucket)
                            .order_by(quota_events.c.occurred_at.desc()).limit(limit)).mappings().all()
    return [dict(r) for r in rows]


def prune(engine: Engine, older_than: timedelta, now: datetime) -> dict[str, int]:
    """Retention: delete events, roll-ups and statistics older than ``older_than`` (index range deletes)."""
    cutoff = floor_hour(now - older_than)
    with engine.begin() as conn:
        counts = {
            "events": conn.execute(delete(quota_events).where(quota_events.c.hour < cutoff)).rowcount,
            "hourly": conn.execute(delete(quota_hourly).where(quota_hourly.c.hour < cutoff)).rowcount,
            "stats": conn.execute(delete(quota_exhaustion_stats)
                                  .where(quota_exhaustion_stats.c.as_of < cutoff)).rowcount,
        }
    return counts


def per_hour(capacity: float, period_seconds: float) -> float:
    limit = capacity * 3600.0 / period_seconds
    return limit if math.isfinite(limit) else float(capacity)
