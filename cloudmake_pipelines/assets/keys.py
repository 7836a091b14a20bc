"""Seed tasks 5 and 6 in Dagster: a thin layer over :mod:`cloudmake_pipelines.keys`.

* ``master_key_rotation``: a manual job of four ops, in the seed's order. Each op resumes what an
  interrupted run left, so "re-execute from failure" (or the whole job) finishes a killed rotation.
* ``jwt_signing_keys`` -> ``jwks``: rotation (when due, or forced by config) and the published key set.
  Dagster cannot say "every 90 days" in cron: the daily ``jwt_rotation_due`` schedule requests one run
  per due date (``run_key``), in production only; it also requests a run when a key's grace ends.
* Checks: SC-011 on ``jwks`` (it runs after the rotation and the publication); the keyring check on
  ``secrets_at_rest``.
* ``master_key_age_reminder``: a weekly look that alerts once the active master key is over a year old.
"""

from datetime import datetime

import dagster as dg

from ..alerts import Alert
from ..keys.service import KeyManagement
from ..resources import AlertsResource, DatabaseResource, SettingsResource

GROUP = "keys"
SECRETS_AT_REST = dg.AssetKey("secrets_at_rest")


def _keys(database: DatabaseResource, settings: SettingsResource, actor: str,
          now: datetime | None = None) -> KeyManagement:
    """Runs get a keyring that creates master key v1 on first use; schedule ticks (``now`` given) only read."""
    if now is None:
        return KeyManagement(database.get_engine(), settings.get(), actor=actor)
    return KeyManagement(database.get_engine(), settings.get(), actor=actor, clock=lambda: now, bootstrap=False)


# ---- master-key rotation (task 6) ------------------------------------------------------------------
class MasterRotationConfig(dg.Config):
    batch_size: int = 1000


def _master_op(step: str, description: str):
    @dg.op(name=f"master_key_{step}", description=description, ins={"after": dg.In(dg.Nothing)},
           tags={"step": step})
    def _op(context: dg.OpExecutionContext, config: MasterRotationConfig, database: DatabaseResource,
            settings: SettingsResource) -> dict:
        keys = _keys(database, settings, f"dagster:{context.run_id}")
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


@dg.job(name="master_key_rotation", tags={"task": "master_key_rotation"},
        description="Seed task 6 (manual, yearly): rotate the master encryption key with dual-key overlap.")
def master_key_rotation():
    invalidate_op(update_binding_op(reencrypt_op(generate_op())))


# ---- JWT signing keys (task 5) -------------------------------------------------------------------
class JwtRotationConfig(dg.Config):
    force: bool = False  # rotate even when not due (the manual trigger)


@dg.asset(group_name=GROUP, description="JWT signing keys: rotated every 90 days (when due) or on demand.")
def jwt_signing_keys(context: dg.AssetExecutionContext, config: JwtRotationConfig, database: DatabaseResource,
                     settings: SettingsResource) -> dg.MaterializeResult:
    signing = _keys(database, settings, f"dagster:{context.run_id}").signing_keys()
    result = signing.rotate(force=config.force)
    health = signing.health()
    return dg.MaterializeResult(metadata={
        "rotated": result["rotated"], "active_kid": health["active_kid"] or "none",
        "old_kid": str(result.get("old_kid")), "next_kid": str(result.get("next_kid")),
        "retired": ", ".join(result["retired"]) or "none", "active_age_days": health["active_age_days"]})


@dg.asset(group_name=GROUP, deps=[jwt_signing_keys], description="The published JWKS (active, next, grace keys).")
def jwks(database: DatabaseResource, settings: SettingsResource) -> dg.MaterializeResult:
    keys = _keys(database, settings, "dagster")
    document = keys.publish_jwks()
    return dg.MaterializeResult(metadata={"kids": ", ".join(k["kid"] for k in document["keys"]),
                                          "keys": len(document["keys"]), "path": str(keys.jwks_path)})


@dg.asset_check(asset=jwks, name="sc_011_rotation_window",
                description="SC-011: one active key, at most 90 days + 24 h old; no key past its grace published.")
def sc_011_rotation_window(database: DatabaseResource, settings: SettingsResource) -> dg.AssetCheckResult:
    keys = _keys(database, settings, "dagster")
    health = keys.signing_keys().health()
    published = {k["kid"] for k in (keys.published_jwks() or {"keys": []})["keys"]}
    live = {k["kid"] for k in keys.signing_keys().jwks()["keys"]}
    stale = sorted(published - live)
    passed = health["active_keys"] == 1 and health["within_window"] and not stale
    return dg.AssetCheckResult(passed=passed, metadata={**{k: str(v) for k, v in health.items()},
                                                         "published_but_expired": ", ".join(stale) or "none"})


jwt_key_rotation = dg.define_asset_job("jwt_key_rotation", selection=[jwt_signing_keys, jwks],
                                       tags={"task": "jwt_key_rotation"},
                                       description="Seed task 5: rotate the JWT signing key when due; publish JWKS.")


@dg.schedule(name="jwt_rotation_due", cron_schedule="0 0 * * *", execution_timezone="UTC", job=jwt_key_rotation,
             default_status=dg.DefaultScheduleStatus.RUNNING,
             description="Daily: one rotation run per 90-day due date (production only); retire ended graces.")
def jwt_rotation_due(context: dg.ScheduleEvaluationContext, database: DatabaseResource,
                     settings: SettingsResource):
    now = context.scheduled_execution_time
    signing = _keys(database, settings, "dagster:schedule", now).signing_keys()
    requests = [dg.RunRequest(run_key=f"jwt-retire-{kid}", tags={"retire_kid": kid})
                for kid in signing.expired_grace()]
    due = signing.due()
    if due.is_due and settings.get().is_production:
        key = due.run_key or "jwt-rotation-initial"
        requests.append(dg.RunRequest(run_key=key, tags={"due_at": str(due.due_at), "old_kid": str(due.kid)}))
    if requests:
        return requests
    if due.is_due:
        return dg.SkipReason(f"JWT rotation is due but {settings.get().environment} rotates manually "
                             "(cloudmake keys rotate-jwt --confirm)")
    return dg.SkipReason(f"next JWT rotation due {due.due_at:%Y-%m-%d %H:%M} UTC")


# ---- secrets at rest -----------------------------------------------------------------------------
secrets_at_rest = dg.AssetSpec(SECRETS_AT_REST, group_name=GROUP,
                               description="Secrets encrypted in the `secrets` table (materialized by rotations).")


@dg.asset_check(asset=SECRETS_AT_REST, name="keyring_decrypts_with_active_key",
                description="Every secret decrypts, with the active master key; none uses a retired version.")
def keyring_decrypts_with_active_key(database: DatabaseResource, settings: SettingsResource) -> dg.AssetCheckResult:
    health = _keys(database, settings, "dagster").keyring_health()
    severity = dg.AssetCheckSeverity.ERROR if health["failures"] or health["on_retired"] else \
        dg.AssetCheckSeverity.WARN
    return dg.AssetCheckResult(
        passed=not (health["failures"] or health["on_retired"] or health["not_on_active"]), severity=severity,
        metadata={"secrets": health["secrets"], "failures": len(health["failures"]),
                  "failing": ", ".join(f["secret"] for f in health["failures"]) or "none",
                  "not_on_active": health["not_on_active"], "on_retired": health["on_retired"],
                  "rotation_in_progress": health["rotation_in_progress"]})


# ---- the yearly reminder -------------------------------------------------------------------------
@dg.op(description="Alert: the active master key is over a year old.")
def send_master_key_reminder(context: dg.OpExecutionContext, database: DatabaseResource,
                             settings: SettingsResource, alerts: AlertsResource) -> None:
    status = _keys(database, settings, "dagster").master_status()
    if not status["reminder_due"]:
        context.log.info("the active master key is younger than a year: no reminder")
        return
    alerts.get_alerter().send(Alert(
        task="master_key_rotation", key=f"master-key-age-v{status['active_version']}", severity="warning",
        summary=f"master key v{status['active_version']} is {status['active_age_days']} days old: "
                "rotate it (cloudmake keys rotate-master --confirm)",
        details={"active_version": status["active_version"], "age_days": status["active_age_days"]},
        environment=settings.get().environment))


@dg.job(name="master_key_age_reminder", tags={"task": "master_key_rotation"},
        description="Alerts that the master encryption key is due for its annual rotation.")
def master_key_age_reminder():
    send_master_key_reminder()


@dg.schedule(name="master_key_annual_reminder", cron_schedule="0 9 * * 1", execution_timezone="UTC",
             job=master_key_age_reminder, default_status=dg.DefaultScheduleStatus.RUNNING,
             description="Weekly look: remind (alert) when the active master key is over a year old.")
def master_key_annual_reminder(context: dg.ScheduleEvaluationContext, database: DatabaseResource,
                               settings: SettingsResource):
    now = context.scheduled_execution_time
    status = _keys(database, settings, "dagster:schedule", now).master_status()
    if status["active_version"] is None:
        return dg.SkipReason("no master key yet: it is created when the first secret is stored")
    if not status["reminder_due"]:
        return dg.SkipReason(f"master key v{status['active_version']} is {status['active_age_days']} days old")
    return dg.RunRequest(run_key=f"master-key-reminder-v{status['active_version']}-{now:%Y-%m-%d}")


defs = dg.Definitions(
    assets=[jwt_signing_keys, jwks, secrets_at_rest],
    asset_checks=[sc_011_rotation_window, keyring_decrypts_with_active_key],
    jobs=[master_key_rotation, jwt_key_rotation, master_key_age_reminder],
    schedules=[jwt_rotation_due, master_key_annual_reminder],
)
