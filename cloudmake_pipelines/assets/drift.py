"""Seed task 3 in Dagster: asset ``mcp_drift_snapshots`` (``spec_drift_hourly`` and on demand) + blocking check.

The asset runs a drift check and hands it to :mod:`cloudmake_pipelines.drift.workflow` (snapshot row, alert
on drift new since the previous snapshot). The check re-reads the stored snapshot: drift fails it with
severity ERROR, and because it is blocking, ``dagster asset materialize --select mcp_drift_snapshots`` exits
non-zero.
"""

import dagster as dg

from ..db.types import utcnow
from ..drift import DIMENSIONS, snapshots
from ..drift.report import as_markdown
from ..drift.workflow import TASK, record_and_alert
from ..resources import AlertsResource, DatabaseResource, SettingsResource
from ..resources.drift import DriftTargetResource
from . import fails_clearly, labels, scheduled_asset_job


@dg.asset(group_name="drift", kinds={"python"}, tags=labels(TASK, 3, "SC-008"),
          description="The spec (specs/NNN-feature/) against the code in four dimensions — entities, routes, "
                      "schemas, design tokens; one snapshot row per run.")
@fails_clearly
def mcp_drift_snapshots(context: dg.AssetExecutionContext, database: DatabaseResource,
                        drift: DriftTargetResource, alerts: AlertsResource,
                        settings: SettingsResource) -> dg.MaterializeResult:
    report = drift.check()
    change = record_and_alert(database.get_engine(), report, alerts.get_alerter(database.get_engine()),
                              environment=settings.get().environment, now=utcnow())
    for item in change.new:
        context.log.warning(f"new drift: {item.key} (expected {item.expected}, actual {item.actual}) at {item.location}")
    counts = report.counts
    return dg.MaterializeResult(metadata={
        "has_drift": int(report.has_drift), "drift_total": counts["total"],
        **{f"drift_{d}": counts[d] for d in DIMENSIONS},
        "new": len(change.new), "resolved": len(change.resolved), "accepted": counts["accepted"],
        "duration_ms": report.duration_ms, "snapshot_id": change.snapshot_id,
        "target": snapshots.target_key(report.target),
        "spec_digest": report.spec_digest, "code_revision": report.code_revision or "unknown",
        "drift": dg.MetadataValue.md(as_markdown(report, limit=50)),
    })


@dg.asset_check(asset=mcp_drift_snapshots, name="sc_008_no_spec_drift", blocking=True, metadata={"sc": "SC-008"},
                description="SC-008: the latest snapshot shows no drift (accepted, unexpired drift aside). "
                            "Blocking: a failure fails the run, so CI materializations exit non-zero.")
@fails_clearly
def sc_008_no_spec_drift(database: DatabaseResource, drift: DriftTargetResource) -> dg.AssetCheckResult:
    row = snapshots.latest(database.get_engine(), str(drift.target_path()))
    if row is None:
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.ERROR,
                                   metadata={"reason": "no snapshot stored for this target"})
    shown = "\n".join(f"- `{i['key']}`: expected `{i['expected']}`, actual `{i['actual']}`" for i in row["items"][:25])
    return dg.AssetCheckResult(
        passed=not row["has_drift"], severity=dg.AssetCheckSeverity.ERROR,
        metadata={"drift_total": row["counts"].get("total", 0), "snapshot_id": row["id"],
                  "taken_at": row["taken_at"].isoformat(), "items": dg.MetadataValue.md(shown or "none")})


spec_drift_job, spec_drift_hourly = scheduled_asset_job(
    "spec_drift_job", [mcp_drift_snapshots], schedule_name="spec_drift_hourly", cron="0 * * * *",
    tags=labels(TASK, 3), description="Take a spec drift snapshot and check SC-008.")

defs = dg.Definitions(
    assets=[mcp_drift_snapshots], asset_checks=[sc_008_no_spec_drift], jobs=[spec_drift_job],
    schedules=[spec_drift_hourly], resources={"drift": DriftTargetResource.from_env()})
