"""Seed task 3 in Dagster: asset ``mcp_drift_snapshots`` (hourly and on demand) + blocking SC-008 check.

The asset runs a drift check, stores a snapshot row and alerts on drift that is new since the
previous snapshot. The check re-reads the stored snapshot: drift fails it with severity ERROR, and
because it is blocking, ``dagster asset materialize --select mcp_drift_snapshots`` exits non-zero.
"""

import dagster as dg

from ..alerts import Alert
from ..db.types import utcnow
from ..drift import DIMENSIONS, SpecError, snapshots
from ..drift.report import as_markdown, summary
from ..resources import AlertsResource, DatabaseResource, SettingsResource
from ..resources.drift import DriftTargetResource
from . import scheduled_asset_job


@dg.asset(group_name="drift", kinds={"python"}, tags={"task": "spec_drift"},
          description="Seed task 3: the spec (specs/NNN-feature/) against the code in four dimensions — "
                      "entities, routes, schemas, design tokens; one snapshot row per run (SC-008).")
def mcp_drift_snapshots(context: dg.AssetExecutionContext, database: DatabaseResource,
                        drift: DriftTargetResource, alerts: AlertsResource,
                        settings: SettingsResource) -> dg.MaterializeResult:
    try:
        report = drift.check()
    except SpecError as exc:
        raise dg.Failure(f"the spec cannot be read: {exc}") from None
    change = snapshots.record(database.get_engine(), report, utcnow())
    for item in change.new:
        context.log.warning(f"new drift: {item.key} (expected {item.expected}, actual {item.actual}) at {item.location}")
    target = snapshots.target_key(report.target)
    if change.new:
        alerts.get_alerter().send(Alert(
            task="spec_drift", key=f"spec_drift:{target}", summary=f"{summary(report)}; {len(change.new)} new",
            details={"new": [i.key for i in change.new][:50], "target": target},
            environment=settings.get().environment))
    elif change.resolved and not report.has_drift:
        alerts.get_alerter().send(Alert(task="spec_drift", key=f"spec_drift:{target}", severity="resolved",
                                        summary="spec drift resolved", details={"target": target},
                                        environment=settings.get().environment))
    counts = report.counts
    return dg.MaterializeResult(metadata={
        "has_drift": int(report.has_drift), "drift_total": counts["total"],
        **{f"drift_{d}": counts[d] for d in DIMENSIONS},
        "new": len(change.new), "resolved": len(change.resolved), "accepted": counts["accepted"],
        "duration_ms": report.duration_ms, "snapshot_id": change.snapshot_id, "target": target,
        "spec_digest": report.spec_digest, "code_revision": report.code_revision or "unknown",
        "drift": dg.MetadataValue.md(as_markdown(report, limit=50)),
    })


@dg.asset_check(asset=mcp_drift_snapshots, name="sc_008_no_spec_drift", blocking=True,
                description="SC-008: the latest snapshot shows no drift (accepted, unexpired drift aside). "
                            "Blocking: a failure fails the run, so CI materializations exit non-zero.")
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


mcp_drift_snapshots_job, mcp_drift_snapshots_hourly = scheduled_asset_job(
    "mcp_drift_snapshots_job", [mcp_drift_snapshots], schedule_name="mcp_drift_snapshots_hourly",
    cron="0 * * * *", task="spec_drift", description="Seed task 3: take a spec drift snapshot and check SC-008.")

defs = dg.Definitions(
    assets=[mcp_drift_snapshots], asset_checks=[sc_008_no_spec_drift], jobs=[mcp_drift_snapshots_job],
    schedules=[mcp_drift_snapshots_hourly], resources={"drift": DriftTargetResource.from_env()})
