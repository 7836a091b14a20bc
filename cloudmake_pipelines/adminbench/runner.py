"""Run the admin queries with RLS in force: p50/p95/p99 per query (SC-004).

Each iteration is one transaction, as the application would run it: ``SET LOCAL ROLE cloudmake_admin``
and the per-transaction admin claim (or the tenant role and its tenant, for a tenant admin's query), then
one page of one query (READ ONLY). Only the query and the fetch of its
rows are timed; latencies go into an HdrHistogram (microseconds, 3 significant digits). The slowest
iteration is re-run under ``EXPLAIN (ANALYZE, BUFFERS)`` so its plan explains the tail.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hdrh.histogram import HdrHistogram
from sqlalchemy import Connection, Engine, insert, text

from ..db.helpers import require_tables
from ..db.tables import admin_benchmark_results
from ..db.types import utcnow
from ..errors import ConfigError
from ..logs import get_logger
from . import rls
from .dataset import Scale, synthetic_schema
from .isolation import IsolationReport, prove_isolation
from .queries import ADMIN_QUERIES, AdminQuery, Pager, load_sample

log = get_logger("adminbench")
SC004_P95_MS = 150.0
RLS_NEEDS_POSTGRES = ("row-level security needs PostgreSQL: the admin benchmark cannot run on SQLite; "
                      "set DATABASE_URL to a postgresql:// URL")


@dataclass
class QueryStats:
    name: str
    description: str
    iterations: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    mean_rows: float
    threshold_ms: float
    slowest_params: dict[str, Any]
    plan: str | None = None

    @property
    def passed(self) -> bool:
        return self.p95_ms <= self.threshold_ms


@dataclass
class BenchmarkReport:
    run_key: str
    started_at: datetime
    dataset: str  # "synthetic" or "live"
    scale: dict[str, int] | None
    threshold_ms: float
    queries: list[QueryStats] = field(default_factory=list)
    isolation: IsolationReport | None = None
    duration_s: float = 0.0

    @property
    def within_target(self) -> bool:
        return all(q.passed for q in self.queries)

    @property
    def passed(self) -> bool:
        return self.within_target and (self.isolation is None or self.isolation.passed)

    def failures(self) -> list[str]:
        slow = [f"{q.name}: p95 {q.p95_ms:.2f} ms > {q.threshold_ms:g} ms" for q in self.queries if not q.passed]
        leaks = [f"isolation {f.name}: {f.detail}" for f in (self.isolation.failures() if self.isolation else [])]
        return slow + leaks


@contextmanager
def _read_only_as(conn: Connection, schema: str, role: str = rls.ADMIN_ROLE,
                  params: dict[str, Any] | None = None) -> Iterator[None]:
    """One READ ONLY transaction as ``role``: the admin claim, or the tenant of ``params``."""
    tenant_id = (params or {}).get("tenant_id") if role == rls.TENANT_ROLE else None
    with conn.begin() as tx:
        conn.exec_driver_sql("SET TRANSACTION READ ONLY")
        rls.act_as(conn, role, admin=role == rls.ADMIN_ROLE, tenant_id=tenant_id, schema=schema)
        yield
        tx.rollback()


def _explain(conn: Connection, schema: str, query: AdminQuery, params: dict[str, Any]) -> str:
    with _read_only_as(conn, schema, query.role, params):
        rows = conn.execute(text(f"EXPLAIN (ANALYZE, BUFFERS) {query.sql}"), params).scalars().all()
    return "\n".join(rows)


def measure(conn: Connection, schema: str, query: AdminQuery, pager: Pager, *, iterations: int, warmup: int,
            threshold_ms: float, explain: bool) -> QueryStats:
    """Time ``iterations`` pages of ``query`` (after ``warmup`` untimed ones) as its role."""
    histogram = HdrHistogram(1, 60_000_000, 3)
    slowest_us, slowest_params, rows_total = -1, {}, 0
    for i in range(warmup + iterations):
        params = pager.next_params()
        with _read_only_as(conn, schema, query.role, params):
            started = time.perf_counter_ns()
            rows = conn.execute(text(query.sql), params).all()
            elapsed_us = max(1, (time.perf_counter_ns() - started) // 1000)
        pager.saw(rows)
        if i < warmup:
            continue
        histogram.record_value(elapsed_us)
        rows_total += len(rows)
        if elapsed_us > slowest_us:
            slowest_us, slowest_params = elapsed_us, params

    def ms(percentile: float) -> float:
        return round(histogram.get_value_at_percentile(percentile) / 1000, 3)

    return QueryStats(query.name, query.description, iterations, ms(50), ms(95), ms(99),
                      round(histogram.get_max_value() / 1000, 3), round(rows_total / max(iterations, 1), 1),
                      threshold_ms, slowest_params,
                      _explain(conn, schema, query, slowest_params) if explain and iterations else None)


def run_queries(engine: Engine, schema: str = "public", *, iterations: int = 200, warmup: int = 10,
                threshold_ms: float = SC004_P95_MS, explain: bool = True, seed: int = 10,
                now: datetime | None = None, queries: Sequence[AdminQuery] = ADMIN_QUERIES) -> list[QueryStats]:
    """Benchmark ``queries`` against the admin tables of ``schema``."""
    rng = random.Random(seed)
    now = now or utcnow()
    results = []
    with engine.connect() as conn:
        with _read_only_as(conn, schema):
            sample = load_sample(conn, rng)
        for query in queries:
            stats = measure(conn, schema, query, Pager(query, sample, rng, now), iterations=iterations,
                            warmup=warmup, threshold_ms=threshold_ms, explain=explain)
            log.info(f"admin query {query.name}: p95 {stats.p95_ms} ms",
                     extra={"query": query.name, "p50_ms": stats.p50_ms, "p95_ms": stats.p95_ms,
                            "p99_ms": stats.p99_ms, "iterations": iterations, "passed": stats.passed})
            results.append(stats)
    return results


def require_postgres(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        raise ConfigError(RLS_NEEDS_POSTGRES)


def run_benchmark(engine: Engine, *, scale: Scale | None = None, iterations: int = 200, warmup: int = 10,
                  threshold_ms: float = SC004_P95_MS, explain: bool = True, seed: int = 10,
                  clock: Callable[[], datetime] = utcnow) -> BenchmarkReport:
    """The whole run: (optionally) a synthetic dataset, the isolation proof, every admin query's figures.

    Without ``scale`` it reads the live tables (``public``) and writes nothing there.
    """
    require_postgres(engine)
    if not scale:
        require_tables(engine, *rls.PROTECTED_TABLES)
    if iterations < 1 or warmup < 0 or threshold_ms <= 0:
        raise ConfigError("iterations must be ≥ 1, warmup ≥ 0 and threshold-ms > 0")
    started, now = time.perf_counter(), clock()
    report = BenchmarkReport(str(uuid.uuid4()), now, "synthetic" if scale else "live",
                             scale.as_dict() if scale else None, threshold_ms)
    with synthetic_schema(engine, scale, now) if scale else nullcontext("public") as schema:
        report.isolation = prove_isolation(engine, schema)
        report.queries = run_queries(engine, schema, iterations=iterations, warmup=warmup,
                                     threshold_ms=threshold_ms, explain=explain, seed=seed, now=now)
    report.duration_s = round(time.perf_counter() - started, 2)
    log.info("admin query benchmark finished", extra={"run_key": report.run_key, "passed": report.passed,
                                                      "failures": report.failures(), "duration_s": report.duration_s})
    return report


def store(engine: Engine, report: BenchmarkReport, *, environment: str, run_id: str | None = None) -> int:
    """Append one row per query to ``admin_benchmark_results``; returns how many."""
    require_tables(engine, admin_benchmark_results.name)
    rows = [{"run_key": report.run_key, "started_at": report.started_at, "query": q.name,
             "iterations": q.iterations, "p50_ms": q.p50_ms, "p95_ms": q.p95_ms, "p99_ms": q.p99_ms,
             "max_ms": q.max_ms, "threshold_ms": q.threshold_ms, "passed": q.passed, "dataset": report.dataset,
             "scale": report.scale, "environment": environment, "run_id": run_id, "slowest_plan": q.plan}
            for q in report.queries]
    with engine.begin() as conn:
        conn.execute(insert(admin_benchmark_results), rows)
    return len(rows)
