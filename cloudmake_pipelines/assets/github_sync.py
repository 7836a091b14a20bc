"""Seed task 8 in Dagster: asset ``github_secrets_sync`` (nightly 01:00 UTC and on demand) + SC-005 check.

A sync that could not write everything fails the run (``dg.Failure`` with the counts); what succeeded is
recorded either way.
"""

import dagster as dg

from ..github.sync import SyncReport
from ..resources import DatabaseResource
from ..resources.github_sync import GitHubSyncResource
from . import fails_clearly, labels, scheduled_asset_job

TASK = "github_secrets_sync"

SHOWN = 25  # findings listed in metadata; the rest are counted


def _metadata(report: SyncReport) -> dict:
    findings = [f"{o.action} {o.target} {o.name}: {o.reason}" for o in report.outcomes
                if o.action not in ("unchanged", "created", "updated", "deleted", "excluded")]
    return {"result": report.result, **report.counts(), "targets": report.targets, "duration_ms": report.duration_ms,
            "requests_sent": report.requests_sent,
            "findings": dg.MetadataValue.md("\n".join(f"- {f}" for f in findings[:SHOWN]) or "none")}


@dg.asset(group_name="github", kinds={"github"}, tags=labels(TASK, 8, "SC-005"),
          description="Secrets from the keyring synced to GitHub Actions, Codespaces and Dependabot targets "
                      "(hash-based idempotency, 5,000 writes/hour quota).")
@fails_clearly
def github_secrets_sync(context: dg.AssetExecutionContext, database: DatabaseResource,
                        github: GitHubSyncResource) -> dg.MaterializeResult:
    with github.open(database.get_engine()) as service:
        report = service.run()
    counts = report.counts()
    context.log.info(f"github secrets sync: {counts['synced']} synced, {counts['skipped']} skipped, "
                     f"{counts['conflict']} conflicts, {counts['deferred']} deferred, {counts['failed']} failed "
                     f"in {report.duration_ms} ms")
    if counts["failed"]:
        raise dg.Failure(f"{counts['failed']} secret write(s) or target(s) failed; what succeeded is recorded",
                         metadata=_metadata(report))
    if counts["deferred"]:  # stalled: visible on the run and failing SC-005 (its dry run still plans them)
        context.log.warning(f"github secrets sync stalled: {counts['deferred']} write(s) deferred to the next run")
    return dg.MaterializeResult(metadata=_metadata(report))


@dg.asset_check(asset=github_secrets_sync, name="sc_005_github_secrets_valid", blocking=True,
                metadata={"sc": "SC-005"},
                description="SC-005: every expected secret exists at every target, no older than our last "
                            "write, with no conflicts, deferrals or pending writes (a dry run plans nothing). "
                            "Blocking: a secret GitHub does not have is a failed sync, whatever the writes said.")
@fails_clearly
def sc_005_github_secrets_valid(database: DatabaseResource, github: GitHubSyncResource) -> dg.AssetCheckResult:
    with github.open(database.get_engine()) as service:
        report = service.verify()
    return dg.AssetCheckResult(passed=not report.out_of_sync, severity=dg.AssetCheckSeverity.ERROR,
                               metadata={"out_of_sync": len(report.out_of_sync), **_metadata(report)})


github_secrets_sync_job, github_secrets_sync_nightly = scheduled_asset_job(
    "github_secrets_sync_job", [github_secrets_sync], schedule_name="github_secrets_sync_nightly",
    cron="0 1 * * *", tags=labels(TASK, 8),
    description="Sync secrets to GitHub nightly at 01:00 UTC and validate SC-005.")

defs = dg.Definitions(
    assets=[github_secrets_sync], asset_checks=[sc_005_github_secrets_valid], jobs=[github_secrets_sync_job],
    schedules=[github_secrets_sync_nightly], resources={"github": GitHubSyncResource.from_env()})
