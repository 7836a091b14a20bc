"""Seed task 6 in Dagster: the op-only jobs of master-key rotation (no asset of their own).

* ``master_key_rotation_job``: manual, four ops in the seed's order. Each op resumes what an interrupted run
  left, so "re-execute from failure" (or the whole job) finishes a killed rotation. The last op reports a
  materialization of ``secrets_at_rest`` (:mod:`cloudmake_pipelines.assets.keys`).
* ``master_key_reminder_weekly`` -> ``master_key_reminder_job``: a weekly look that alerts once the active
  master key is over a year old (the seed's yearly reminder; cron cannot say "yearly from the key's date").
"""

import dagster as dg

from ..alerts import Alert
from ..assets import fails_clearly, labels, run_request
from ..assets.keys import SECRETS_AT_REST, keys_for
from ..resources import AlertsResource, DatabaseResource, SettingsResource

TASK = "master_key_rotation"


class MasterRotationConfig(dg.Config):
    batch_size: int = 1000


def _master_op(step: str, description: str):
    @dg.op(name=f"master_key_{step}", description=description, ins={"after": dg.In(dg.Nothing)},
           tags={"step": step})
    @fails_clearly
    def _op(context: dg.OpExecutionContext, config: MasterRotationConfig, database: DatabaseResource,
            settings: SettingsResource) -> dict:
        keys = keys_for(database, settings, f"dagster:{context.run_id}")
        rotation = keys.master_rotation(config.batch_size, on_batch=lambda done, total: context.log.info(
            f"re-encrypted {done}/{total} secrets"))
        result = getattr(rotation, step)()
        context.log.info(f"{step}: v{result['from_version']} -> v{result['to_version']} "
                         f"{result.get('skipped', 'done')}")
        if step == "invalidate":
            health = keys.keyring_health()
            context.log_event(dg.AssetMaterialization(SECRETS_AT_REST, metadata={
                "active_version": health["active_version"], "secrets": health["secrets"],
                "rotation_id": result["rotation_id"], "retired_versions": str(result["retired_versions"])}))
        return result

    return _op


generate_op = _master_op("generate", "Step 1: generate a new master key and publish it to the env binding(s).")
reencrypt_op = _master_op("reencrypt", "Step 2: make it the writing key, re-encrypt secrets and JWT keys.")
update_binding_op = _master_op("update_binding", "Step 3: point the env binding(s) at the new key.")
invalidate_op = _master_op("invalidate", "Step 4: retire the old key (refused while any row still uses it).")


@dg.job(name="master_key_rotation_job", tags=labels(TASK, 6), executor_def=dg.in_process_executor,
        description="Manual, yearly: rotate the master encryption key with dual-key overlap.")
def master_key_rotation_job():
    invalidate_op(update_binding_op(reencrypt_op(generate_op())))


# ---- the reminder: a weekly look at the master key's age -------------------------------------------
@dg.op(description="Alert: the active master key is over a year old.")
@fails_clearly
def send_master_key_reminder(context: dg.OpExecutionContext, database: DatabaseResource,
                             settings: SettingsResource, alerts: AlertsResource) -> None:
    status = keys_for(database, settings, "dagster").master_status()
    if not status["reminder_due"]:
        context.log.info("the active master key is younger than a year: no reminder")
        return
    alerts.get_alerter(database.get_engine()).send(Alert(
        task=TASK, key=f"master-key-age-v{status['active_version']}", severity="warning",
        summary=f"master key v{status['active_version']} is {status['active_age_days']} days old: "
                "rotate it (cloudmake keys rotate-master --confirm)",
        details={"active_version": status["active_version"], "age_days": status["active_age_days"]},
        environment=settings.get().environment))


@dg.job(name="master_key_reminder_job", tags=labels(TASK, 6), executor_def=dg.in_process_executor,
        description="Alerts that the master encryption key is due for its annual rotation.")
def master_key_reminder_job():
    send_master_key_reminder()


@dg.schedule(name="master_key_reminder_weekly", cron_schedule="0 9 * * 1", execution_timezone="UTC",
             job=master_key_reminder_job, default_status=dg.DefaultScheduleStatus.RUNNING,
             description="Weekly look: remind (alert) when the active master key is over a year old.")
def master_key_reminder_weekly(context: dg.ScheduleEvaluationContext, database: DatabaseResource,
                               settings: SettingsResource):
    now = context.scheduled_execution_time
    status = keys_for(database, settings, "dagster:schedule", now).master_status()
    if status["active_version"] is None:
        return dg.SkipReason("no master key yet: it is created when the first secret is stored")
    if not status["reminder_due"]:
        return dg.SkipReason(f"master key v{status['active_version']} is {status['active_age_days']} days old")
    return run_request(run_key=f"master-key-reminder-v{status['active_version']}-{now:%Y-%m-%d}")


defs = dg.Definitions(jobs=[master_key_rotation_job, master_key_reminder_job], schedules=[master_key_reminder_weekly])
