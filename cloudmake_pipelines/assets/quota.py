"""Rate-limit quota monitoring (issue 20, seed "Future Enhancements") in Dagster: ``quota_exhaustion``, hourly.

* the asset drains the Redis exhaustion stream (when ``CLOUDMAKE_QUOTA_REDIS_URL`` is set), rolls up the
  recent events and stores per-bucket statistics as rows (:mod:`cloudmake_pipelines.quota`), alerts, and
  pushes the gauges; the top buckets are a table in its metadata;
* ``no_platform_bucket_frequently_exhausted`` (ERROR, blocking): no platform bucket (the GitHub write quota
  among them) is frequently exhausted.

The stream is read in the asset's run, not by a sensor: the statistics need the events stored first, and an
hourly drain is enough for an hourly signal; a sensor would either work inside the daemon or launch a run
per tick to do the same.
"""

import dagster as dg

from ..db.types import utcnow
from ..quota.monitor import hourly
from ..quota.report import ranked, run
from ..resources import AlertsResource, DatabaseResource
from ..resources.quota import QuotaResource
from . import fails_clearly, labels, scheduled_asset_job

ASSET = "quota_exhaustion"
TASK = "quota_exhaustion"
TOP = 20


def _top_table(stats) -> dg.TableMetadataValue:
    columns = [("kind", "string"), ("bucket", "string"), ("exhausted_windows", "string"), ("last_1h", "int"),
               ("last_24h", "int"), ("last_7d", "int"), ("limit_per_hour", "float"), ("peak_per_hour", "float"),
               ("suggested_limit", "int"), ("trend_24h", "int"), ("frequent", "bool")]
    records = [dg.TableRecord({"kind": s.kind, "bucket": s.bucket,
                               "exhausted_windows": f"{s.windows_exhausted}/{s.windows}", "last_1h": s.exhaustions_1h,
                               "last_24h": s.exhaustions_24h, "last_7d": s.exhaustions_7d,
                               "limit_per_hour": s.limit_per_hour, "peak_per_hour": s.peak_demand,
                               "suggested_limit": s.suggested_limit, "trend_24h": s.trend, "frequent": s.frequent})
               for s in ranked(stats)[:TOP]]
    return dg.MetadataValue.table(records=records,
                                  schema=dg.TableSchema(columns=[dg.TableColumn(n, t) for n, t in columns]))


@dg.asset(
    name=ASSET,
    group_name="quota",
    kinds={"python", "sql", "redis"},
    tags=labels(TASK, 8),
    description="Per quota bucket (user, project, platform): exhaustions in the last 1 h / 24 h / 7 d, the share "
                "of hourly windows exhausted, peak demand versus limit and the trend, stored as rows. A bucket "
                "exhausted in N of the last M hours (default 6 of 24) is alerted once a day, with a suggested "
                "limit; many at once are one grouped alert.",
)
@fails_clearly
def quota_exhaustion(context: dg.AssetExecutionContext, database: DatabaseResource, alerts: AlertsResource,
                     quota: QuotaResource) -> dg.MaterializeResult:
    report = hourly(database.get_engine(), quota.settings(), quota.config(), alerts.get_alerter(database.get_engine()), utcnow())
    frequent = report.frequent
    by_kind = {k: sum(s.kind == k for s in frequent) for k in ("user", "project", "platform")}
    return dg.MaterializeResult(metadata={
        "as_of": dg.MetadataValue.timestamp(report.as_of),
        "buckets_active": dg.MetadataValue.int(len(report.stats)),
        "quota_exhaustions_last_hour_total": dg.MetadataValue.int(sum(s.exhaustions_1h for s in report.stats)),
        "frequently_exhausted": dg.MetadataValue.int(len(frequent)),
        **{f"frequently_exhausted_{k}": dg.MetadataValue.int(v) for k, v in by_kind.items()},
        "stream_entries_stored": dg.MetadataValue.int(report.consumed.stored),
        "stream_entries_rejected": dg.MetadataValue.int(report.consumed.rejected),
        "alerts_sent": dg.MetadataValue.int(len(report.alerts.alerted)),
        "alerts_resolved": dg.MetadataValue.int(len(report.alerts.resolved)),
        "events_pruned": dg.MetadataValue.int(report.pruned["events"]),
        "top_buckets": _top_table(report.stats),
        "metrics_pushed": dg.MetadataValue.text({None: "no Pushgateway configured", True: "yes",
                                                 False: "FAILED (see logs)"}[report.metrics_pushed]),
    })


@dg.asset_check(asset=ASSET, name="no_platform_bucket_frequently_exhausted", blocking=True,
                description="No platform quota bucket (e.g. the GitHub sync's 5,000 writes/hour) is frequently "
                            "exhausted in the latest statistics. Blocking: the platform itself needs more quota.")
@fails_clearly
def no_platform_bucket_frequently_exhausted(database: DatabaseResource, quota: QuotaResource) -> dg.AssetCheckResult:
    stats = run(database.get_engine(), utcnow(), quota.config(), store=False, kind="platform", active_only=True)
    buckets = [s for s in ranked(stats) if s.frequent]
    return dg.AssetCheckResult(passed=not buckets, severity=dg.AssetCheckSeverity.ERROR, metadata={
        "platform_buckets_active": dg.MetadataValue.int(len(stats)),
        "frequently_exhausted": dg.MetadataValue.int(len(buckets)),
        "buckets": dg.MetadataValue.text("; ".join(
            f"{s.bucket} ({s.windows_exhausted}/{s.windows} h, limit {s.limit_per_hour:g}/h, suggested "
            f"{s.suggested_limit}/h)" for s in buckets[:20]) or "none")})


quota_exhaustion_job, quota_exhaustion_hourly = scheduled_asset_job(
    "quota_exhaustion_job", [quota_exhaustion], schedule_name="quota_exhaustion_hourly", cron="5 * * * *",
    tags=labels(TASK, 8),
    description="Hourly (UTC, 5 past): quota exhaustion statistics and the frequently-exhausted signal.")

defs = dg.Definitions(
    assets=[quota_exhaustion],
    asset_checks=[no_platform_bucket_frequently_exhausted],
    jobs=[quota_exhaustion_job],
    schedules=[quota_exhaustion_hourly],
    resources={"quota": QuotaResource.from_env()},
)
