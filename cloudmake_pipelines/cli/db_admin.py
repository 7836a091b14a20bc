"""`cloudmake db benchmark-admin`: the admin queries under row-level security (seed task 10, SC-004)."""

from __future__ import annotations

import click
from click.core import ParameterSource

from ..adminbench.dataset import Scale
from ..adminbench.runner import (
    RLS_NEEDS_POSTGRES,
    SC004_P95_MS,
    BenchmarkReport,
    run_benchmark,
    store,
)
from ..db.engine import make_engine
from ..db.helpers import require_tables
from ..db.tables import admin_benchmark_results
from ..errors import ConfigError
from .common import INT32_MAX, BoundedInt, FiniteFloat, emit_json, json_option, setup

SCALE_OPTIONS = ("users", "audit_logs", "sessions", "tenants")


def _print(report: BenchmarkReport, explain: bool) -> None:
    click.echo(f"\nadmin queries as {'a synthetic dataset ' + str(report.scale) if report.scale else 'the live tables'}"
               f" (SC-004: p95 <= {report.threshold_ms:g} ms)")
    click.echo(f"{'query':<28}{'iterations':>11}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'max ms':>10}"
               f"{'rows/page':>11}  result")
    for q in report.queries:
        click.echo(f"{q.name:<28}{q.iterations:>11}{q.p50_ms:>10.2f}{q.p95_ms:>10.2f}{q.p99_ms:>10.2f}"
                   f"{q.max_ms:>10.2f}{q.mean_rows:>11.1f}  {'ok' if q.passed else 'SLOW'}")
    click.echo("\nrow-level security isolation:")
    for f in report.isolation.findings:
        click.echo(f"  {f.status:<8}{f.name}: {f.detail}")
    for q in report.queries if explain else []:
        click.echo(f"\nslowest {q.name} iteration {q.slowest_params}:\n{q.plan}")
    click.echo(f"\n{'PASSED' if report.passed else 'FAILED: ' + '; '.join(report.failures())}"
               f" ({report.duration_s} s)")


@click.command("benchmark-admin")
@click.option("--iterations", type=BoundedInt(1, 1_000_000), default=200, show_default=True,
              help="Timed pages per query.")
@click.option("--warmup", type=BoundedInt(0, 100_000), default=10, show_default=True,
              help="Untimed pages per query first.")
@click.option("--threshold-ms", type=FiniteFloat(0, 3_600_000, min_open=True), default=SC004_P95_MS,
              show_default=True, help="The p95 every query must stay within (SC-004).")
@click.option("--seed", "synthetic", is_flag=True,
              help="Benchmark a synthetic dataset in a throw-away schema (dropped afterwards) instead of the "
                   "live tables.")
@click.option("--users", type=BoundedInt(1, INT32_MAX), default=Scale.users, show_default=True, help="With --seed.")
@click.option("--audit-logs", type=BoundedInt(0, INT32_MAX), default=Scale.audit_logs, show_default=True,
              help="With --seed.")
@click.option("--sessions", type=BoundedInt(0, INT32_MAX), default=Scale.sessions, show_default=True,
              help="With --seed.")
@click.option("--tenants", type=BoundedInt(2, 1_000_000), default=Scale.tenants, show_default=True,
              help="With --seed.")
@click.option("--explain", is_flag=True, help="Print EXPLAIN (ANALYZE, BUFFERS) of each query's slowest iteration.")
@click.option("--no-store", is_flag=True, help="Do not append the figures to admin_benchmark_results.")
@json_option
@click.pass_context
def benchmark_admin(ctx: click.Context, iterations: int, warmup: int, threshold_ms: float, synthetic: bool,
                    explain: bool, no_store: bool, as_json: bool, **scale: int) -> None:
    """Time the admin queries (user list, audit logs, sessions) under RLS, as the platform admin (and a
    tenant's admin, whose audit-log query relies on RLS alone for its tenant filter).

    Reports p50/p95/p99 per query and proves that RLS isolates tenants. Without --seed it reads the
    live tables in READ ONLY transactions. PostgreSQL only. Exit 1 when a p95 exceeds --threshold-ms
    or isolation fails.
    """
    settings = setup(as_json)
    if settings.is_sqlite:
        raise ConfigError(RLS_NEEDS_POSTGRES)
    given = [f"--{n.replace('_', '-')}" for n in SCALE_OPTIONS
             if ctx.get_parameter_source(n) is not ParameterSource.DEFAULT]
    if given and not synthetic:
        raise click.UsageError(f"{', '.join(given)} only apply with --seed")
    engine = make_engine(settings.database_url)
    try:
        if not no_store:
            require_tables(engine, admin_benchmark_results.name)
        report = run_benchmark(engine, scale=Scale(**scale) if synthetic else None, iterations=iterations,
                               warmup=warmup, threshold_ms=threshold_ms)
        if not no_store:
            store(engine, report, environment=settings.environment)
    finally:
        engine.dispose()
    if as_json:
        emit_json({"run_key": report.run_key, "dataset": report.dataset, "scale": report.scale,
                   "threshold_ms": report.threshold_ms, "passed": report.passed, "failures": report.failures(),
                   "duration_s": report.duration_s,
                   "queries": [{"name": q.name, "iterations": q.iterations, "p50_ms": q.p50_ms, "p95_ms": q.p95_ms,
                                "p99_ms": q.p99_ms, "max_ms": q.max_ms, "passed": q.passed,
                                **({"plan": q.plan} if explain else {})} for q in report.queries],
                   "isolation": [vars(f) for f in report.isolation.findings]})
    else:
        _print(report, explain)
    if not report.passed:
        raise click.exceptions.Exit(1)
