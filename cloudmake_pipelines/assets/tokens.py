"""Design-token propagation in Dagster: asset ``design_token_propagation`` and blocking check ``sc_002_token_propagation``.

The sensor (:mod:`cloudmake_pipelines.sensors.tokens`) measures; this asset reports what it measured: one
record per version and app (kept in ``token_propagation``), the latest version's table, and per-app
p50/p95/max propagation over the last 30 days as numeric metadata, so the UI plots them over time
(materialized hourly). The check fails when an app missed SC-002 (≤ 5 min) for the latest version.
"""

from datetime import timedelta

import dagster as dg

from ..resources import AlertsResource, DatabaseResource
from ..resources.tokens import TokenPropagationResource
from . import fails_clearly, labels, scheduled_asset_job

ASSET = "design_token_propagation"
TASK = "token_propagation"
SEED_TASK = 11  # the seed's "Future Enhancements": design system token propagation monitoring
_TABLE = dg.TableSchema(columns=[dg.TableColumn(n, t) for n, t in (
    ("app", "string"), ("version", "string"), ("committed", "string"), ("seen", "string"),
    ("propagation_s", "float"), ("uncertainty_s", "float"), ("status", "string"))])


def _fmt(when) -> str:
    return when.isoformat().replace("+00:00", "Z") if when else ""


def _latest(database: DatabaseResource, alerts: AlertsResource, tokens: TokenPropagationResource):
    """The monitor, the latest version's rows and those failing SC-002: what the asset and the check read."""
    monitor = tokens.monitor(database, alerts.get_alerter(database.get_engine()))
    rows = monitor.table()
    return monitor, rows, monitor.failing(rows)


@dg.asset(name=ASSET, group_name="tokens", kinds={"python", "sql"}, tags=labels(TASK, SEED_TASK, "SC-002"),
          description="Design-token propagation: per version and app, the time from the commit to the app first "
                      "serving it (measured by design_token_propagation_monitor), with p50/p95/max per app.")
@fails_clearly
def design_token_propagation(database: DatabaseResource, alerts: AlertsResource,
                             tokens: TokenPropagationResource) -> dg.MaterializeResult:
    monitor, rows, failing = _latest(database, alerts, tokens)
    stats = monitor.history_stats(monitor.clock() - timedelta(days=30))
    metadata: dict = {
        "version": dg.MetadataValue.text(rows[0].version if rows else "none recorded"),
        "apps": dg.MetadataValue.int(len(rows)),
        "failing": dg.MetadataValue.int(len(failing)),
        "latest_version": dg.MetadataValue.table(records=[dg.TableRecord({
            "app": r.app, "version": r.version, "committed": _fmt(r.committed_at), "seen": _fmt(r.first_seen_at),
            "propagation_s": r.propagation_s, "uncertainty_s": r.uncertainty_s, "status": r.status}) for r in rows],
            schema=_TABLE),
    }
    for app, figures in stats.items():
        metadata.update({f"{app}/{name}": dg.MetadataValue.float(value) for name, value in figures.items()})
    return dg.MaterializeResult(metadata=metadata)


@dg.asset_check(asset=ASSET, name="sc_002_token_propagation", blocking=True,
                description="SC-002: every app served the latest token version within 5 minutes of its commit "
                            "(late, overdue, or unknown past 5 minutes fails; superseded does not).")
@fails_clearly
def sc_002_token_propagation(database: DatabaseResource, alerts: AlertsResource,
                             tokens: TokenPropagationResource) -> dg.AssetCheckResult:
    _, rows, failing = _latest(database, alerts, tokens)
    return dg.AssetCheckResult(passed=not failing, severity=dg.AssetCheckSeverity.ERROR, metadata={
        "checked": dg.MetadataValue.int(len(rows)), "failing": dg.MetadataValue.int(len(failing)),
        "failing_apps": dg.MetadataValue.text(", ".join(f"{r.app} ({r.status})" for r in failing) or "none")})


token_propagation_job, token_propagation_hourly = scheduled_asset_job(
    "token_propagation_job", [design_token_propagation], schedule_name="token_propagation_hourly",
    cron="10 * * * *", tags=labels(TASK, SEED_TASK, "SC-002"),
    description="Report design-token propagation (SC-002) hourly, for the per-app plots.")

defs = dg.Definitions(assets=[design_token_propagation], asset_checks=[sc_002_token_propagation],
                      jobs=[token_propagation_job], schedules=[token_propagation_hourly])
