"""Quota monitoring at scale: the hourly asset's computation against a naive GROUP BY over every event.

1,000,000 exhaustion events over 7 days for 50,000 buckets (defaults), on PostgreSQL and SQLite, each in a
database of its own (created here, dropped at the end). Events come in bursts (``--burst`` events for one
bucket within one hour, as a rate limiter denies every request until it refills); 80% user, 19% project,
1% platform buckets. Measured in one run, per database:

* the steady-state hourly computation (:func:`cloudmake_pipelines.quota.report.run`: roll up the hours
  touched by the events recorded since the previous run, compute every bucket's statistics from the 7-day
  roll-up), and separately a run that also stores the statistics rows. The previous runs are simulated by one roll-up of everything but the last hour, whose events
  (1/168 of the total) are then recorded;
* the naive peer: the same statistics by one GROUP BY over the whole events table (per bucket and hour, then
  per bucket), median of ``--repeats``; its results are compared with the asset's.

Both compute what the hourly run needs: the buckets exhausted within the last 24 hourly windows (the
default M; older ones can be neither frequent nor stored), with their 1 h / 24 h / 7 d counts.

    .venv/bin/python benchmarks/quota_exhaustion.py [--events 1000000] [--buckets 50000] [--burst 20]
        [--databases postgresql,sqlite]

Needs PostgreSQL at BENCH_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.preview_archival import scratch_database as postgresql_database  # noqa: E402
from cloudmake_pipelines.db import make_engine  # noqa: E402
from cloudmake_pipelines.db.migrate import upgrade  # noqa: E402
from cloudmake_pipelines.db.tables import quota_events  # noqa: E402
from cloudmake_pipelines.db.types import utcnow  # noqa: E402
from cloudmake_pipelines.quota.events import floor_hour  # noqa: E402
from cloudmake_pipelines.quota.report import WEEK_HOURS, QuotaConfig, compute, refresh_rollup, run  # noqa: E402

COLUMNS = ("event_key", "source", "kind", "bucket", "occurred_at", "hour", "requested", "denied",
           "limit_per_hour", "recorded_at")

NAIVE = """
SELECT kind, bucket,
       SUM(CASE WHEN hour >= :h1 THEN n ELSE 0 END), SUM(CASE WHEN hour >= :h24 THEN n ELSE 0 END), SUM(n),
       COUNT(CASE WHEN hour >= :h24 THEN 1 END), MAX(limit_per_hour + denied)
FROM (SELECT kind, bucket, hour, COUNT(*) AS n, SUM(denied) AS denied, MAX(limit_per_hour) AS limit_per_hour
      FROM quota_events GROUP BY kind, bucket, hour) per_hour
WHERE hour >= :h168 AND hour < :as_of
GROUP BY kind, bucket
HAVING MAX(hour) >= :h24
"""


@contextmanager
def sqlite_database():
    with tempfile.TemporaryDirectory(prefix="cm_bench_quota_") as folder:
        yield f"sqlite:///{folder}/quota.db"


def generate(events: int, buckets: int, burst: int, as_of, seed: int = 20):
    """(older rows, last hour's rows): bursts of ``burst`` events of one bucket within one hour."""
    rng = random.Random(seed)
    older, last = [], []
    for b in range(events // burst):
        bucket_no = b % buckets
        kind = "platform" if bucket_no % 100 == 0 else "project" if bucket_no % 100 < 20 else "user"
        hour = as_of - timedelta(hours=1 + rng.randrange(WEEK_HOURS))
        limit = 5000.0 if kind == "platform" else 1000.0 if kind == "project" else 100.0
        for i in range(burst):
            at = hour + timedelta(seconds=rng.randrange(3600))
            row = (f"bench:{b}:{i}", "bench", kind, f"{kind}-{bucket_no}", at, hour, 2, 1 + i % 3, limit, at)
            (last if hour == as_of - timedelta(hours=1) else older).append(row)
    return older, last


def load(engine, rows) -> None:
    if engine.dialect.name == "postgresql":
        raw = engine.raw_connection()
        try:
            with raw.cursor() as cur, cur.copy(f"COPY quota_events ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            raw.commit()
        finally:
            raw.close()
        with engine.begin() as conn:
            conn.execute(text("ANALYZE quota_events"))
        return
    with engine.begin() as conn:
        for i in range(0, len(rows), 20_000):
            conn.execute(quota_events.insert(), [dict(zip(COLUMNS, r, strict=True)) for r in rows[i:i + 20_000]])


def naive(engine, as_of):
    params = {"as_of": as_of, **{f"h{n}": as_of - timedelta(hours=n) for n in (1, 24, 168)}}
    if engine.dialect.name == "sqlite":  # UTCDateTime stores ISO text there: compare like with like
        params = {k: v.replace(tzinfo=None).isoformat(" ") for k, v in params.items()}
    with engine.connect() as conn:
        return conn.execute(text(NAIVE), params).all()


def measure(url: str, args, as_of) -> dict:
    upgrade(url)
    engine = make_engine(url)
    older, last = generate(args.events, args.buckets, args.burst, as_of)
    started = time.perf_counter()
    load(engine, older)
    with engine.begin() as conn:  # the previous hourly runs
        refresh_rollup(conn, as_of - timedelta(hours=WEEK_HOURS))
    load(engine, [r[:-1] + (utcnow(),) for r in last])  # this hour's events, recorded since
    setup_s = time.perf_counter() - started
    config = QuotaConfig()
    rollups, computations = [], []
    for _ in range(args.repeats):  # each repeat rolls the new hour up again (its events are recent)
        t0 = time.perf_counter()
        with engine.begin() as conn:  # what run(store=False) does, timed in its two steps
            refresh_rollup(conn, as_of - timedelta(hours=WEEK_HOURS))
            rollups.append(time.perf_counter() - t0)
            stats = compute(conn, as_of, config, active_only=True)
        computations.append(time.perf_counter() - t0)
    asset_s, rollup_s = statistics.median(computations), statistics.median(rollups)
    t0 = time.perf_counter()
    run(engine, as_of, config, active_only=True)  # again, storing the rows (the roll-up is current now)
    store_s = time.perf_counter() - t0
    timings, result = [], None
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        result = naive(engine, as_of)
        timings.append(time.perf_counter() - t0)
    naive_s = statistics.median(timings)
    mine = {(s.kind, s.bucket): (s.exhaustions_1h, s.exhaustions_24h, s.exhaustions_7d, s.windows_exhausted)
            for s in stats}
    theirs = {(r[0], r[1]): (int(r[2]), int(r[3]), int(r[4]), int(r[5])) for r in result}
    engine.dispose()
    return {"events": len(older) + len(last), "last_hour_events": len(last), "buckets_with_stats": len(stats),
            "frequent": sum(s.frequent for s in stats), "same_results": mine == theirs, "setup_s": setup_s,
            "asset_s": asset_s, "rollup_s": rollup_s, "store_s": store_s, "naive_s": naive_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, choices=range(1000, 5_000_001), metavar="N")
    parser.add_argument("--buckets", type=int, default=50_000, choices=range(1, 1_000_001), metavar="N")
    parser.add_argument("--burst", type=int, default=20, choices=range(1, 1001), metavar="N")
    parser.add_argument("--repeats", type=int, default=3, choices=range(1, 11), metavar="N")
    parser.add_argument("--databases", default="postgresql,sqlite")
    args = parser.parse_args()
    as_of = floor_hour(utcnow())
    print(f"{args.events:,} events over 7 days, {args.buckets:,} buckets, bursts of {args.burst}, as of "
          f"{as_of:%Y-%m-%d %H:00} UTC")
    for name in args.databases.split(","):
        database = {"postgresql": postgresql_database, "sqlite": sqlite_database}[name.strip()]
        with database() as url:
            r = measure(url, args, as_of)
        print(f"{name}: {r['events']:,} events ({r['last_hour_events']:,} in the last hour, recorded since the "
              f"previous run); {r['buckets_with_stats']:,} buckets exhausted in the last 24 h, {r['frequent']} frequent; "
              f"same results as the naive query: {r['same_results']}")
        print(f"  hourly asset computation (median of {args.repeats}): {r['asset_s'] * 1000:,.0f} ms (roll-up of the new hour "
              f"{r['rollup_s'] * 1000:,.0f} ms, 7-day statistics of those buckets {(r['asset_s'] - r['rollup_s']) * 1000:,.0f} ms)")
        print(f"  (a run that also stores the {r['buckets_with_stats']:,} statistics rows: {r['store_s'] * 1000:,.0f} ms)")
        print(f"  naive GROUP BY over the whole table (median of {args.repeats}): {r['naive_s'] * 1000:,.0f} ms")
        print(f"  ratio naive / asset: {r['naive_s'] / r['asset_s']:.1f}x   (load and earlier roll-up: "
              f"{r['setup_s']:.0f} s)")


if __name__ == "__main__":
    main()
