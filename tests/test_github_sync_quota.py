"""The quota service: token buckets in the database, refill by an injected clock, safe under concurrency."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from cloudmake_pipelines.db import make_engine
from cloudmake_pipelines.db.tables import quota_buckets
from cloudmake_pipelines.quota import Limit, QuotaService
from tests.support.fake_github_secrets import ManualClock

HOURLY = Limit(5000, 3600)


def test_take_refill_refund_and_counters(engine):
    clock = ManualClock()
    quota = QuotaService(engine, clock)
    assert quota.available("writes", HOURLY) == 5000
    grant = quota.take("writes", HOURLY, 4990)
    assert (grant.granted, grant.denied) == (4990, 0)
    grant = quota.take("writes", HOURLY, 25)
    assert (grant.granted, grant.denied) == (10, 15)
    assert quota.take("writes", HOURLY, 1).granted == 0
    clock.now += timedelta(seconds=36)  # 5000/h refills 50 in 36 s
    assert quota.available("writes", HOURLY) == 50
    quota.refund("writes", HOURLY, 5)
    assert quota.take("writes", HOURLY, 100).granted == 55
    clock.now += timedelta(days=1)
    assert quota.available("writes", HOURLY) == 5000  # never beyond capacity
    with engine.connect() as conn:
        row = conn.execute(select(quota_buckets)).one()
    assert (row.name, row.granted_total, row.denied_total) == ("writes", 4990 + 10 + 55 - 5, 15 + 1 + 45)


def test_bad_limits_are_refused():
    with pytest.raises(ValueError, match="positive"):
        Limit(0, 3600)


def _race(url: str, threads: int = 6, takes: int = 40) -> tuple[int, list[BaseException]]:
    """``threads`` workers, each with its own engine (as separate runs would be), take one token at a time."""
    granted, errors = [], []
    start = threading.Barrier(threads)
    limit = Limit(100, 10**9)  # no refill to speak of during the race

    def worker():
        eng = make_engine(url)
        quota = QuotaService(eng)
        try:
            start.wait()
            granted.append(sum(quota.take("race", limit, 1).granted for _ in range(takes)))
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            eng.dispose()

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    return sum(granted), errors


def test_concurrent_runs_never_share_a_token(engine):
    total, errors = _race(engine.url.render_as_string(hide_password=False))
    assert errors == []
    assert total == 100
    with engine.connect() as conn:
        row = conn.execute(select(quota_buckets)).one()
    assert (row.granted_total, row.denied_total) == (100, 6 * 40 - 100)
