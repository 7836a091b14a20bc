"""The hourly quota run, shared by the Dagster asset and `cloudmake quota`: drain the Redis stream (when one is
configured), roll up and compute the statistics, alert, push the gauges."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine

from ..alerts import Alerter
from ..db.helpers import require_tables
from ..db.tables import (
    quota_alert_state,
    quota_events,
    quota_exhaustion_stats,
    quota_hourly,
    quota_rollup_state,
)
from ..errors import CloudMakeError
from ..settings import Settings
from . import metrics
from .events import ConsumeReport, StreamConsumer, floor_hour, prune
from .report import AlertOutcome, BucketStats, QuotaConfig, ranked, run, send_alerts


def require_schema(engine: Engine) -> None:
    require_tables(engine, quota_events, quota_hourly, quota_rollup_state, quota_exhaustion_stats, quota_alert_state)


def consume_stream(engine: Engine, settings: Settings, claim_idle: timedelta = timedelta(minutes=5)) -> ConsumeReport:
    """Drain ``CLOUDMAKE_QUOTA_STREAM`` into the events table (store, then acknowledge)."""
    import redis

    url = settings.quota.redis_url
    if url is None:
        return ConsumeReport()
    client = redis.Redis.from_url(url.reveal(), socket_timeout=30, socket_connect_timeout=10)
    try:
        return StreamConsumer(engine, client, settings.quota.stream, claim_idle=claim_idle).run()
    except redis.RedisError as exc:  # the message of a connection error holds host and port, not the password
        raise CloudMakeError(f"cannot read the quota stream {settings.quota.stream!r} from Redis "
                             f"(CLOUDMAKE_QUOTA_REDIS_URL): {type(exc).__name__}: {exc}") from None
    finally:
        client.close()


@dataclass
class HourlyReport:
    as_of: datetime
    stats: list[BucketStats]
    consumed: ConsumeReport
    alerts: AlertOutcome
    metrics_pushed: bool | None = None
    pruned: dict[str, int] = field(default_factory=dict)

    @property
    def frequent(self) -> list[BucketStats]:
        return [s for s in ranked(self.stats) if s.frequent]


def hourly(engine: Engine, settings: Settings, config: QuotaConfig, alerter: Alerter, now: datetime) -> HourlyReport:
    """One hourly run: events in, statistics stored as ``now``'s hour, alerts out, gauges pushed, rows past
    ``retention_days`` deleted (an index range each)."""
    require_schema(engine)
    consumed = consume_stream(engine, settings)
    stats = run(engine, now, config, active_only=True)
    outcome = send_alerts(engine, alerter, stats, config, now, settings.environment)
    url = settings.previews.pushgateway_url
    pushed = metrics.push(stats, url, settings.environment) if url else None
    pruned = prune(engine, timedelta(days=config.retention_days), now)
    return HourlyReport(floor_hour(now), stats, consumed, outcome, pushed, pruned)
