"""One module per scheduled task: thin assets, their checks and schedules. Each module exposes ``defs``."""

from __future__ import annotations

import dagster as dg


def scheduled_asset_job(job_name: str, assets: list, *, schedule_name: str, cron: str, task: str,
                        description: str) -> tuple[dg.UnresolvedAssetJobDefinition, dg.ScheduleDefinition]:
    """The job that materializes ``assets`` and its UTC schedule, on by default.

    Every such job runs in process (one step: a subprocess per step would only add seconds) and carries
    the ``task`` tag that dagster.yaml's run-queue limits key on.
    """
    job = dg.define_asset_job(job_name, selection=dg.AssetSelection.assets(*assets),
                              executor_def=dg.in_process_executor, tags={"task": task}, description=description)
    schedule = dg.ScheduleDefinition(name=schedule_name, job=job, cron_schedule=cron, execution_timezone="UTC",
                                     default_status=dg.DefaultScheduleStatus.RUNNING, description=description)
    return job, schedule
