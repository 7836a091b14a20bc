"""Quota gauges for Prometheus, pushed like ``preview_env_active_total`` (same Pushgateway, own job group).

Recomputed from the statistics each hour, never incremented, so a missed run cannot make them drift.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Gauge

from ..previews.metrics import push_registry
from .events import KINDS
from .report import BucketStats

PUSH_JOB = "cloudmake_quota_exhaustion"


def registry(stats: list[BucketStats]) -> CollectorRegistry:
    reg = CollectorRegistry()
    gauges = (
        ("quota_exhaustions_last_hour_total", "Requests denied by quota buckets in the last whole hour",
         lambda s: s.exhaustions_1h),
        ("quota_buckets_exhausted_last_hour", "Quota buckets exhausted at least once in the last whole hour",
         lambda s: s.exhaustions_1h > 0),
        ("quota_buckets_frequently_exhausted", "Quota buckets exhausted in at least N of the last M hours",
         lambda s: s.frequent),
    )
    for name, documentation, value in gauges:
        gauge = Gauge(name, documentation, ["kind"], registry=reg)
        for kind in KINDS:
            gauge.labels(kind=kind).set(sum(int(value(s)) for s in stats if s.kind == kind))
    Gauge("quota_exhaustion_last_success_unixtime", "When the last quota statistics run finished (Unix time)",
          registry=reg).set(time.time())
    return reg


def push(stats: list[BucketStats], gateway_url: str, environment: str) -> bool:
    return push_registry(registry(stats), PUSH_JOB, gateway_url, environment)
