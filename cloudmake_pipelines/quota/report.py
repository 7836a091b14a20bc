"""Per-bucket exhaustion statistics, the "frequently exhausted" signal, and its alerts.

Windows are whole UTC hours ending at ``as_of`` (an hour boundary): "last 1 h" is ``[as_of - 1h, as_of)``.
A bucket is *frequently exhausted* when it was exhausted (at least one event) in at least N of the last M
hourly windows (config file; defaults 6 of 24, per-kind overrides). Peak demand in an hour is estimated as
the hourly limit plus the units denied in it (an exhausted bucket served its limit and turned the rest
away); the suggested limit is the 7-day peak times ``headroom``.

Cost: :func:`refresh_rollup` re-aggregates only the hours that newly recorded events fall in (index on
``quota_events.recorded_at`` to find them, on ``hour`` to read them); :func:`compute` reads 7 days of
``quota_hourly`` (one row per bucket and exhausted hour), never the raw events.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import Connection, Engine, and_, case, func, literal, or_, select

from ..alerts import Alert, Alerter
from ..configfile import load_model
from ..db.helpers import dialect_insert
from ..db.tables import (
    quota_alert_state,
    quota_events,
    quota_exhaustion_stats,
    quota_hourly,
    quota_rollup_state,
)
from ..db.types import UTCDateTime, utcnow
from .events import KINDS, Kind, floor_hour

TASK = "quota_exhaustion"
WEEK_HOURS = 168
#: Events recorded this long before the last roll-up are looked at again (open transactions, clock skew).
ROLLUP_MARGIN = timedelta(minutes=15)


class Threshold(BaseModel):
    """Exhausted in at least ``min_exhausted`` of the last ``windows`` hourly windows."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    windows: int = Field(24, ge=1, le=WEEK_HOURS)
    min_exhausted: int = Field(6, ge=1, le=WEEK_HOURS)

    @model_validator(mode="after")
    def _fits(self) -> Threshold:
        if self.min_exhausted > self.windows:
            raise ValueError(f"min_exhausted ({self.min_exhausted}) must be at most windows ({self.windows})")
        return self


class QuotaConfig(BaseModel):
    """The quota monitoring config file (YAML or JSON); every key optional."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    default: Threshold = Threshold()
    kinds: dict[Kind, Threshold] = {}
    headroom: float = Field(1.25, ge=1.0, le=10.0)
    storm_threshold: int = Field(10, ge=1, le=100_000)
    top: int = Field(20, ge=1, le=1000)
    retention_days: int = Field(30, ge=8, le=3650)

    def threshold(self, kind: str) -> Threshold:
        return self.kinds.get(kind, self.default)  # type: ignore[call-overload]


def load_config(path: Path | str | None) -> QuotaConfig:
    """The config file through the project's one loader (errors name file, field, value; exit 2)."""
    return QuotaConfig() if path is None else load_model(path, QuotaConfig)


@dataclass(slots=True)
class BucketStats:
    kind: str
    bucket: str
    exhaustions_1h: int
    exhaustions_24h: int
    exhaustions_7d: int
    windows_exhausted: int
    windows: int
    peak_demand: float
    limit_per_hour: float
    trend: int  # exhaustions in the last 24 h minus the 24 h before
    frequent: bool
    suggested_limit: int

    @property
    def share(self) -> float:
        return self.windows_exhausted / self.windows

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "share": round(self.share, 4)}


def refresh_rollup(conn: Connection, first_from: datetime) -> None:
    """Re-aggregate into ``quota_hourly`` every hour that an event recorded since the last roll-up (less
    :data:`ROLLUP_MARGIN`, for transactions still open then and clocks apart) falls in, late ones included;
    on the first run, every hour from ``first_from``. Idempotent: an hour is always re-aggregated whole."""
    e, state = quota_events.c, quota_rollup_state.c
    started = utcnow()
    last = conn.execute(select(state.rolled_up_at).where(state.name == "hourly")).scalar()
    if last is None:
        hours = e.hour >= first_from
    else:  # the touched hours first, as values: the planner then reads them by the hour index, never the table
        touched = conn.execute(select(e.hour).where(e.recorded_at >= last - ROLLUP_MARGIN).distinct()).scalars().all()
        if not touched:
            return _mark(conn, started)
        hours = e.hour.in_(touched)
    rolled = (select(e.hour, e.kind, e.bucket, func.count().label("exhaustions"),
                     func.sum(e.denied).label("denied"), func.max(e.limit_per_hour).label("limit_per_hour"))
              .where(hours).group_by(e.hour, e.kind, e.bucket))
    insert = dialect_insert(conn, quota_hourly).from_select(
        ["hour", "kind", "bucket", "exhaustions", "denied", "limit_per_hour"], rolled)
    conn.execute(insert.on_conflict_do_update(
        index_elements=["hour", "kind", "bucket"],
        set_={c: insert.excluded[c] for c in ("exhaustions", "denied", "limit_per_hour")}))
    _mark(conn, started)


def _mark(conn: Connection, started: datetime) -> None:
    mark = dialect_insert(conn, quota_rollup_state).values(name="hourly", rolled_up_at=started)
    conn.execute(mark.on_conflict_do_update(index_elements=["name"], set_={"rolled_up_at": started}))


def active_hours(config: QuotaConfig) -> int:
    """A bucket not exhausted for this many hours is neither frequent nor stored: the hourly run skips it."""
    return max(24, config.default.windows, *(t.windows for t in config.kinds.values()))


def compute(conn: Connection, as_of: datetime, config: QuotaConfig, kind: str | None = None,
            active_only: bool = False) -> list[BucketStats]:
    """Statistics of every bucket exhausted in the 7 days before ``as_of`` (floored to the hour); with
    ``active_only``, of those exhausted in the last :func:`active_hours` only (what the hourly run needs)."""
    as_of = floor_hour(as_of)
    h = quota_hourly.c

    def since(hours: int):
        return literal(as_of - timedelta(hours=hours), UTCDateTime)

    def total(condition):
        return func.sum(case((condition, h.exhaustions), else_=0))

    window_start = case({k: since(config.threshold(k).windows) for k in KINDS}, value=h.kind,
                        else_=since(config.default.windows))
    query = (select(h.kind, h.bucket, total(h.hour >= since(1)), total(h.hour >= since(24)), func.sum(h.exhaustions),
                    total(and_(h.hour >= since(48), h.hour < since(24))),
                    func.count(case((h.hour >= window_start, 1))),
                    func.max(h.limit_per_hour + h.denied), func.max(h.limit_per_hour))
             .where(h.hour >= since(WEEK_HOURS), h.hour < literal(as_of, UTCDateTime))
             .group_by(h.kind, h.bucket))
    if kind:
        query = query.where(h.kind == kind)
    if active_only:
        query = query.having(func.max(h.hour) >= since(active_hours(config)))
    thresholds = {k: config.threshold(k) for k in KINDS}
    headroom = config.headroom
    return [BucketStats(kind_, bucket, int(e1), int(e24), int(e7), windows_exhausted, t.windows, float(peak),
                        float(limit), int(e24) - int(prev24), windows_exhausted >= t.min_exhausted,
                        math.ceil(max(peak, limit) * headroom))
            for kind_, bucket, e1, e24, e7, prev24, windows_exhausted, peak, limit in conn.execute(query).all()
            for t in (thresholds.get(kind_, config.default),)]


def ranked(stats: list[BucketStats]) -> list[BucketStats]:
    """Most pressing first: frequent, then most windows exhausted, then most exhaustions in 24 h."""
    return sorted(stats, key=lambda s: (not s.frequent, -s.windows_exhausted, -s.exhaustions_24h, s.kind, s.bucket))


def run(engine: Engine, as_of: datetime, config: QuotaConfig, *, store: bool = True, kind: str | None = None,
        active_only: bool = False) -> list[BucketStats]:
    """Roll up the recent events, compute the statistics, and (``store``) keep them as ``as_of``'s rows."""
    as_of = floor_hour(as_of)
    with engine.begin() as conn:
        refresh_rollup(conn, as_of - timedelta(hours=WEEK_HOURS))
        stats = compute(conn, as_of, config, kind, active_only)
        # Kept: buckets exhausted in the last 24 h or frequently exhausted (a quiet bucket's row would only
        # repeat its 7-day tail every hour: 50,000 such rows an hour add up).
        rows = [{k: v for k, v in asdict(s).items() if k != "suggested_limit"} | {"as_of": as_of}
                for s in stats if s.exhaustions_24h or s.frequent] if store else []
        if rows:
            insert = dialect_insert(conn, quota_exhaustion_stats)
            upsert = insert.on_conflict_do_update(  # a re-run in the same hour (late events) replaces its rows
                index_elements=["as_of", "kind", "bucket"],
                set_={c: insert.excluded[c] for c in rows[0] if c not in ("as_of", "kind", "bucket")})
            for i in range(0, len(rows), 5000):
                conn.execute(upsert, rows[i:i + 5000])
    return stats


@dataclass
class AlertOutcome:
    alerted: list[str]
    resolved: list[str]
    grouped: bool


def _line(s: BucketStats) -> str:
    return (f"{s.kind} {s.bucket}: exhausted in {s.windows_exhausted} of the last {s.windows} h, limit "
            f"{s.limit_per_hour:g}/h, peak {s.peak_demand:g}/h, suggested {s.suggested_limit}/h")


def send_alerts(engine: Engine, alerter: Alerter, stats: list[BucketStats], config: QuotaConfig, now: datetime,
                environment: str = "dev") -> AlertOutcome:
    """At most one alert per bucket per day while frequently exhausted, one "resolved" when it no longer is;
    more than ``storm_threshold`` at once become one grouped alert listing the top ``config.top``."""
    frequent = {(s.kind, s.bucket): s for s in stats if s.frequent}
    a = quota_alert_state.c
    day_ago = now - timedelta(days=1)
    with engine.connect() as conn:
        state = {(r.kind, r.bucket): r for r in conn.execute(
            select(quota_alert_state).where(or_(a.firing, a.alerted_at >= day_ago)))}
    due = ranked([s for key, s in frequent.items()
                  if not (key in state and state[key].firing and state[key].alerted_at >= day_ago)])
    calmed = sorted(key for key, row in state.items() if row.firing and key not in frequent)
    grouped = False
    if len(due) > config.storm_threshold:
        grouped = True
        top = due[:config.top]
        alerter.send(Alert(TASK, f"quota:storm:{now:%Y-%m-%dT%H}", severity="warning", environment=environment,
                           summary=f"{len(due)} quota buckets are frequently exhausted (top {len(top)} listed)",
                           details={"count": len(due), "by_kind": {k: sum(s.kind == k for s in due) for k in KINDS},
                                    "top": [s.as_dict() for s in top]}))
    else:
        for s in due:
            alerter.send(Alert(TASK, f"quota:{s.kind}:{s.bucket}:{now:%Y-%m-%d}", severity="warning",
                               environment=environment, summary=_line(s),
                               details={**s.as_dict(), "action": f"raise the limit from {s.limit_per_hour:g}/h to "
                                                                 f"about {s.suggested_limit}/h, or shed load"}))
    if len(calmed) > config.storm_threshold:
        grouped = True
        alerter.send(Alert(TASK, f"quota:storm:{now:%Y-%m-%dT%H}:resolved", severity="resolved",
                           environment=environment, summary=f"{len(calmed)} quota buckets are no longer "
                                                            "frequently exhausted",
                           details={"count": len(calmed), "buckets": [f"{k} {b}" for k, b in calmed[:config.top]]}))
    else:
        for kind, bucket in calmed:
            alerter.send(Alert(TASK, f"quota:{kind}:{bucket}:resolved:{now:%Y-%m-%d}", severity="resolved",
                               environment=environment, summary=f"{kind} {bucket} is no longer frequently exhausted",
                               details={"kind": kind, "bucket": bucket}))
    rows = [{"kind": s.kind, "bucket": s.bucket, "firing": True, "alerted_at": now} for s in due] + \
           [{"kind": k, "bucket": b, "firing": False, "alerted_at": now} for k, b in calmed]
    if rows:
        with engine.begin() as conn:
            insert = dialect_insert(conn, quota_alert_state)
            conn.execute(insert.on_conflict_do_update(
                index_elements=["kind", "bucket"],
                set_={"firing": insert.excluded.firing, "alerted_at": insert.excluded.alerted_at}), rows)
    return AlertOutcome([f"{s.kind} {s.bucket}" for s in due], [f"{k} {b}" for k, b in calmed], grouped)
