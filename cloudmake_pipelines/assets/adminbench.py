"""Seed task 10 in Dagster: the ``admin_query_benchmark`` asset, run on demand after RLS changes.

* job ``admin_benchmark_job`` (no schedule: launch it from the UI or ``dagster job execute``);
* checks: ``sc_004_admin_p95`` (ERROR, blocking: every admin query's p95 <= 150 ms) and ``rls_isolation``
  (ERROR: the tenant role cannot read or write another tenant's rows; no setting sees nothing);
* each query's p50/p95/p99 is numeric metadata (plotted across runs in the UI) and a row of
  ``admin_benchmark_results``.

All the work is in :mod:`cloudmake_pipelines.adminbench`; this module only wires it to Dagster.
"""

import dagster as dg

from ..adminbench.dataset import Scale
from ..adminbench.runner import SC004_P95_MS, require_postgres, run_benchmark, store
from ..db.helpers import require_tables
from ..db.tables import admin_benchmark_results
from ..resources import DatabaseResource, SettingsResource
from . import fails_clearly, labels, load_step_tags, task_job

TASK = "admin_benchmark"
SC004_CHECK = "sc_004_admin_p95"
ISOLATION_CHECK = "rls_isolation"


class AdminBenchmarkConfig(dg.Config):
    """Launchpad options. By default the live tables are read (read-only); ``synthetic`` seeds a throw-away
    schema of the given scale instead, dropped when the run ends."""

    iterations: int = 200
    warmup: int = 10
    threshold_ms: float = SC004_P95_MS
    synthetic: bool = False
    users: int = 100_000
    audit_logs: int = 1_000_000
    sessions: int = 500_000
    tenants: int = 1_000


@dg.asset(
    name="admin_query_benchmark",
    group_name="adminbench",
    kinds={"python", "postgres"},
    tags=labels(TASK, 10, "SC-004"),
    op_tags=load_step_tags(),
    description="Admin queries (user list, audit logs, sessions) timed as the platform-admin role (and one "
                "as a tenant's admin) with row-level security in force: p50/p95/p99 per query, the plan of the "
                "slowest iteration, and a proof that RLS isolates tenants.",
    check_specs=[
        dg.AssetCheckSpec(SC004_CHECK, asset="admin_query_benchmark", blocking=True,
                          description="SC-004: every admin query's p95 <= 150 ms under RLS. Blocking: the seed's "
                                      "target; a slower query fails the run.", metadata={"sc": "SC-004"}),
        dg.AssetCheckSpec(ISOLATION_CHECK, asset="admin_query_benchmark", blocking=True,
                          description="RLS isolates tenants: no cross-tenant read or write; no setting, no rows. "
                                      "Blocking: a leak between tenants is never acceptable."),
    ],
)
@fails_clearly
def admin_query_benchmark(context: dg.AssetExecutionContext, config: AdminBenchmarkConfig,
                          database: DatabaseResource, settings: SettingsResource) -> dg.MaterializeResult:
    engine = database.get_engine()
    require_postgres(engine)
    require_tables(engine, admin_benchmark_results.name)
    scale = Scale(config.users, config.audit_logs, config.sessions, config.tenants) if config.synthetic else None
    report = run_benchmark(engine, scale=scale, iterations=config.iterations, warmup=config.warmup,
                           threshold_ms=config.threshold_ms)
    store(engine, report, environment=settings.get().environment, run_id=context.run_id)
    metadata: dict[str, dg.RawMetadataValue] = {
        "dataset": report.dataset, "run_key": report.run_key, "duration_s": dg.MetadataValue.float(report.duration_s),
        "iterations": dg.MetadataValue.int(config.iterations)}
    for q in report.queries:
        for figure in ("p50_ms", "p95_ms", "p99_ms"):
            metadata[f"{q.name}.{figure}"] = dg.MetadataValue.float(getattr(q, figure))
        if not q.passed and q.plan:
            metadata[f"{q.name}.slowest_plan"] = dg.MetadataValue.md(f"```\n{q.plan}\n```")
    worst = max(report.queries, key=lambda q: q.p95_ms)
    isolation = report.isolation
    return dg.MaterializeResult(
        metadata=metadata,
        check_results=[
            dg.AssetCheckResult(
                check_name=SC004_CHECK, passed=report.within_target, severity=dg.AssetCheckSeverity.ERROR,
                metadata={"threshold_ms": config.threshold_ms, "worst_query": worst.name,
                          "worst_p95_ms": dg.MetadataValue.float(worst.p95_ms),
                          "failures": "; ".join(f for f in report.failures() if not f.startswith("isolation"))
                          or "none"}),
            dg.AssetCheckResult(
                check_name=ISOLATION_CHECK, passed=isolation.passed, severity=dg.AssetCheckSeverity.ERROR,
                metadata={f.name: f"{f.status}: {f.detail}" for f in isolation.findings}),
        ],
    )


admin_benchmark_job = task_job(
    "admin_benchmark_job", [admin_query_benchmark], tags=labels(TASK, 10),
    description="On demand after RLS changes: benchmark the admin queries under RLS (SC-004).",
    generates_load=True)

defs = dg.Definitions(assets=[admin_query_benchmark], jobs=[admin_benchmark_job])
