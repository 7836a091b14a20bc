"""Seed task 4 in Dagster: ``archived_preview_environments``, ``preview_archival_every_6h`` (``0 */6 * * *`` UTC).

* the asset archives expired previews and frees their Neon branches (:mod:`cloudmake_pipelines.previews`),
  recording counts as numeric metadata (plotted under the asset's *Plots* tab), including
  ``preview_env_active_total``;
* ``no_expired_preview_active`` (ERROR, blocking): no preview past its TTL at the run's database time is
  still active;
* ``preview_cleanup_backlog`` (WARN): no archived preview has failed cleanup 3 times or more.
"""

import dagster as dg

from ..previews import last_run
from ..previews.archive import backlog, count, expired_as_of
from ..previews.clock import DatabaseClock
from ..previews.runner import ALERT_AFTER_ATTEMPTS
from ..resources import AlertsResource, DatabaseResource
from ..resources.previews import PreviewsResource
from . import fails_clearly, labels, scheduled_asset_job

ASSET = "archived_preview_environments"
TASK = "preview_archival"
_SAMPLE_IDS = 50


@dg.asset(
    name=ASSET,
    group_name="previews",
    kinds={"python", "sql"},
    tags=labels(TASK, 4),
    description="Archive preview environments past their TTL (default 72 h from creation) in one "
                "set-based statement on the database clock, free their Neon branches (failures retried next "
                "run), and count preview_env_active_total from the database.",
)
@fails_clearly
def archived_preview_environments(context: dg.AssetExecutionContext, database: DatabaseResource,
                                  alerts: AlertsResource, previews: PreviewsResource) -> dg.MaterializeResult:
    archiver = previews.get_archiver(database.get_engine(), alerts.get_alerter(database.get_engine()))
    source = "schedule" if context.run.tags.get("dagster/schedule_name") else "dagster"
    report = archiver.run(source=source, run_id=context.run_id)
    counts = report.cleanup.counts()
    sample = report.archived[:_SAMPLE_IDS]
    return dg.MaterializeResult(metadata={
        "archived": dg.MetadataValue.int(len(report.archived)),
        "preview_env_active_total": dg.MetadataValue.int(report.active),
        "cleanup_freed": dg.MetadataValue.int(counts["freed"]),
        "cleanup_already_gone": dg.MetadataValue.int(counts["already_gone"]),
        "cleanup_failed": dg.MetadataValue.int(counts["failed"]),
        "cleanup_retried": dg.MetadataValue.int(counts["retried"]),
        "cleanup_backlog": dg.MetadataValue.int(report.cleanup_backlog),
        "expired_remaining": dg.MetadataValue.int(report.expired_remaining),
        "duration_ms": dg.MetadataValue.float(report.duration_ms),
        "as_of": dg.MetadataValue.timestamp(report.as_of),
        "archived_ids": dg.MetadataValue.text(
            ", ".join(sample) + (f" ... and {len(report.archived) - len(sample)} more" if len(report.archived) >
                                 len(sample) else "") or "none"),
        "metrics_pushed": dg.MetadataValue.text({None: "no Pushgateway configured", True: "yes",
                                                 False: "FAILED (see logs)"}[report.metrics_pushed]),
    })


@dg.asset_check(asset=ASSET, name="no_expired_preview_active", blocking=True,
                description="No preview environment past its TTL (at the last run's database time) is still "
                            "active. Blocking: the seed's archival promise; a miss fails the run.")
@fails_clearly
def no_expired_preview_active(database: DatabaseResource) -> dg.AssetCheckResult:
    engine = database.get_engine()
    run = last_run(engine)
    if run is None:
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.ERROR,
                                   description="no archival run is recorded yet: materialize the asset first")
    with engine.connect() as conn:
        remaining = count(conn, expired=expired_as_of(conn, DatabaseClock(), as_of=run["as_of"]))["expired"]
    return dg.AssetCheckResult(passed=remaining == 0, severity=dg.AssetCheckSeverity.ERROR, metadata={
        "expired_remaining": dg.MetadataValue.int(remaining), "as_of": dg.MetadataValue.timestamp(run["as_of"])})


@dg.asset_check(asset=ASSET, name="preview_cleanup_backlog",
                description=f"No archived preview has failed resource cleanup {ALERT_AFTER_ATTEMPTS}+ times "
                            "(those need a person: see `cloudmake previews list --archived`). Not blocking "
                            "(WARN): the archival itself succeeded; the backlog is retried and alerted on.")
@fails_clearly
def preview_cleanup_backlog(database: DatabaseResource) -> dg.AssetCheckResult:
    with database.get_engine().connect() as conn:
        counts = count(conn, backlog=backlog(), stuck=backlog(ALERT_AFTER_ATTEMPTS))
    return dg.AssetCheckResult(passed=counts["stuck"] == 0, severity=dg.AssetCheckSeverity.WARN, metadata={
        "cleanup_backlog": dg.MetadataValue.int(counts["backlog"]), "stuck": dg.MetadataValue.int(counts["stuck"])})


preview_archival_job, preview_archival_every_6h = scheduled_asset_job(
    "preview_archival_job", [archived_preview_environments], schedule_name="preview_archival_every_6h",
    cron="0 */6 * * *", tags=labels(TASK, 4),
    description="Archive expired preview environments every 6 hours (UTC) and free their resources.")

defs = dg.Definitions(
    assets=[archived_preview_environments],
    asset_checks=[no_expired_preview_active, preview_cleanup_backlog],
    jobs=[preview_archival_job],
    schedules=[preview_archival_every_6h],
    resources={"previews": PreviewsResource.from_env()},
)
