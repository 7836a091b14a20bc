"""Token buckets in the ``quota_buckets`` table: N units per period, shared safely by concurrent runs.

Each bucket holds at most ``capacity`` tokens and refills continuously at ``capacity / period``. A caller
:meth:`QuotaService.take` s up to what it wants and gets what is available now; what it could not get is
its to defer (and count), never to drop. Unused grants go back with :meth:`QuotaService.refund`.

Atomicity: every change runs in one transaction that first *writes* the bucket's row (a no-op update).
On PostgreSQL that takes the row lock, on SQLite the database write lock, so concurrent takers serialise
on the row and no token is ever granted twice. Time comes from an injectable clock.

A take that is denied (part of) what it wanted records one exhaustion event (:mod:`.events`) in the same
transaction: the denial and its event commit together, exactly once.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, select, update

from ..db.helpers import dialect_insert
from ..db.tables import quota_buckets
from ..db.types import utcnow
from .events import KINDS, Exhaustion, per_hour, record_denial


@dataclass(frozen=True)
class Limit:
    """``capacity`` units per ``period_seconds``: e.g. ``Limit(5000, 3600)`` is 5,000 an hour."""

    capacity: int
    period_seconds: float

    def __post_init__(self) -> None:
        if self.capacity <= 0 or self.period_seconds <= 0:
            raise ValueError(f"a quota limit needs a positive capacity and period, got {self}")

    @property
    def refill_per_second(self) -> float:
        return self.capacity / self.period_seconds


@dataclass(frozen=True)
class Grant:
    bucket: str
    wanted: int
    granted: int
    remaining: float

    @property
    def denied(self) -> int:
        return self.wanted - self.granted


class QuotaService:
    def __init__(self, engine: Engine, clock: Callable[[], datetime] = utcnow):
        self.engine = engine
        self.clock = clock

    def _locked_row(self, conn: Connection, name: str, limit: Limit):
        """Lock (creating it full when new) and return the bucket row, refilled up to now."""
        table = quota_buckets
        now = self.clock()
        conn.execute(dialect_insert(conn, table).values(
            name=name, capacity=limit.capacity, refill_per_second=limit.refill_per_second,
            tokens=float(limit.capacity), refilled_at=now).on_conflict_do_nothing(index_elements=["name"]))
        conn.execute(update(table).where(table.c.name == name).values(tokens=table.c.tokens))
        now = self.clock()
        row = conn.execute(select(table).where(table.c.name == name)).one()
        elapsed = max(0.0, (now - row.refilled_at).total_seconds())
        tokens = min(float(limit.capacity), row.tokens + elapsed * limit.refill_per_second)
        return row, tokens, max(now, row.refilled_at)

    def take(self, name: str, limit: Limit, wanted: int = 1, kind: str = "platform") -> Grant:
        """Take up to ``wanted`` whole tokens from bucket ``name``; the rest is counted as denied and recorded
        as an exhaustion of a ``kind`` (user, project, platform) bucket."""
        if wanted < 0:
            raise ValueError("wanted must be >= 0")
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        with self.engine.begin() as conn:
            row, tokens, now = self._locked_row(conn, name, limit)
            granted = min(wanted, math.floor(tokens + 1e-9))
            conn.execute(update(quota_buckets).where(quota_buckets.c.name == name).values(
                capacity=limit.capacity, refill_per_second=limit.refill_per_second,
                tokens=tokens - granted, refilled_at=now,
                granted_total=row.granted_total + granted,
                denied_total=row.denied_total + (wanted - granted)))
            if granted < wanted:
                record_denial(conn, Exhaustion(kind, name, now, wanted, wanted - granted,
                                               per_hour(limit.capacity, limit.period_seconds)))
        return Grant(name, wanted, granted, tokens - granted)

    def refund(self, name: str, limit: Limit, unused: int) -> None:
        """Give back tokens granted but not spent (e.g. writes stopped by a GitHub rate limit)."""
        if unused <= 0:
            return
        with self.engine.begin() as conn:
            row, tokens, now = self._locked_row(conn, name, limit)
            conn.execute(update(quota_buckets).where(quota_buckets.c.name == name).values(
                tokens=min(float(limit.capacity), tokens + unused), refilled_at=now,
                granted_total=max(0, row.granted_total - unused)))

    def available(self, name: str, limit: Limit) -> int:
        """Whole tokens available now, without taking any (for dry runs and dashboards)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(quota_buckets).where(quota_buckets.c.name == name)).one_or_none()
        if row is None:
            return limit.capacity
        elapsed = max(0.0, (self.clock() - row.refilled_at).total_seconds())
        return math.floor(min(float(limit.capacity), row.tokens + elapsed * limit.refill_per_second) + 1e-9)
