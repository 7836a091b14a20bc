"""Seed task 5 (and the assets of task 6) in Dagster: a thin layer over :mod:`cloudmake_pipelines.keys`.

* ``jwt_signing_keys`` -> ``jwks``: rotation (when due, or forced by config) and the published key set.
  Dagster cannot say "every 90 days" in cron: the ``jwt_key_rotation_daily`` schedule requests one
  ``jwt_key_rotation_job`` run per due date (``run_key``), in production only; it also requests a run when a
  key's grace ends.
* ``secrets_at_rest``: the encrypted secrets, materialized by the master-key rotation (``jobs/keys.py``).
* Checks: SC-011 on ``jwks`` (it runs after the rotation and the publication); the keyring check on
  ``secrets_at_rest``.
"""

from datetime import datetime

import dagster as dg

from ..db.helpers import require_tables
from ..keys import KEY_TABLES
from ..keys.service import KeyManagement
from ..resources import DatabaseResource, SettingsResource
from . import fails_clearly, labels, run_request, task_job

GROUP = "keys"
SECRETS_AT_REST = dg.AssetKey("secrets_at_rest")
TASK = "jwt_key_rotation"


def keys_for(database: DatabaseResource, settings: SettingsResource, actor: str,
             now: datetime | None = None) -> KeyManagement:
    """Runs get a keyring that creates master key v1 on first use; schedule ticks (``now`` given) only read."""
    require_tables(database.get_engine(), *KEY_TABLES)
    if now is None:
        return KeyManagement(database.get_engine(), settings.get(), actor=actor)
    return KeyManagement(database.get_engine(), settings.get(), actor=actor, clock=lambda: now, bootstrap=False)


class JwtRotationConfig(dg.Config):
    force: bool = False  # rotate even when not due (the manual trigger)


@dg.asset(group_name=GROUP, tags=labels(TASK, 5), kinds={"python"},
          description="JWT signing keys: rotated every 90 days (when due) or on demand.")
@fails_clearly
def jwt_signing_keys(context: dg.AssetExecutionContext, config: JwtRotationConfig, database: DatabaseResource,
                     settings: SettingsResource) -> dg.MaterializeResult:
    signing = keys_for(database, settings, f"dagster:{context.run_id}").signing_keys()
    result = signing.rotate(force=config.force)
    health = signing.health()
    return dg.MaterializeResult(metadata={
        "rotated": result["rotated"], "active_kid": health["active_kid"] or "none",
        "old_kid": str(result.get("old_kid")), "next_kid": str(result.get("next_kid")),
        "retired": ", ".join(result["retired"]) or "none", "active_age_days": health["active_age_days"]})


@dg.asset(group_name=GROUP, deps=[jwt_signing_keys], tags=labels(TASK, 5, "SC-011"), kinds={"python"},
          description="The published JWKS (active, next, grace keys).")
@fails_clearly
def jwks(database: DatabaseResource, settings: SettingsResource) -> dg.MaterializeResult:
    keys = keys_for(database, settings, "dagster")
    document = keys.publish_jwks()
    return dg.MaterializeResult(metadata={"kids": ", ".join(k["kid"] for k in document["keys"]),
                                          "keys": len(document["keys"]), "path": str(keys.jwks_path)})


@dg.asset_check(asset=jwks, name="sc_011_rotation_window", blocking=True, metadata={"sc": "SC-011"},
                description="SC-011: one active key, at most 90 days + 24 h old; no key past its grace published. "
                            "Blocking: an overdue or stale signing key is the seed's failure, not a warning.")
@fails_clearly
def sc_011_rotation_window(database: DatabaseResource, settings: SettingsResource) -> dg.AssetCheckResult:
    keys = keys_for(database, settings, "dagster")
    health = keys.signing_keys().health()
    published = {k["kid"] for k in (keys.published_jwks() or {"keys": []})["keys"]}
    live = {k["kid"] for k in keys.signing_keys().jwks()["keys"]}
    stale = sorted(published - live)
    passed = health["active_keys"] == 1 and health["within_window"] and not stale
    return dg.AssetCheckResult(passed=passed, severity=dg.AssetCheckSeverity.ERROR, metadata={**{k: str(v) for k, v in health.items()},
                                                         "published_but_expired": ", ".join(stale) or "none"})


jwt_key_rotation_job = task_job("jwt_key_rotation_job", [jwt_signing_keys, jwks], tags=labels(TASK, 5),
                                description="Rotate the JWT signing key when due; publish JWKS.")


@dg.schedule(name="jwt_key_rotation_daily", cron_schedule="0 0 * * *", execution_timezone="UTC",
             job=jwt_key_rotation_job,
             default_status=dg.DefaultScheduleStatus.RUNNING,
             description="Daily: one rotation run per 90-day due date (production only); retire ended graces.")
def jwt_key_rotation_daily(context: dg.ScheduleEvaluationContext, database: DatabaseResource,
                     settings: SettingsResource):
    now = context.scheduled_execution_time
    signing = keys_for(database, settings, "dagster:schedule", now).signing_keys()
    requests = [run_request(run_key=f"jwt-retire-{kid}", tags={"retire_kid": kid})
                for kid in signing.expired_grace()]
    due = signing.due()
    if due.is_due and settings.get().is_production:
        key = due.run_key or "jwt-rotation-initial"
        requests.append(run_request(run_key=key, tags={"due_at": str(due.due_at), "old_kid": str(due.kid)}))
    if requests:
        return requests
    if due.is_due:
        return dg.SkipReason(f"JWT rotation is due but {settings.get().environment} rotates manually "
                             "(cloudmake keys rotate-jwt --confirm)")
    return dg.SkipReason(f"next JWT rotation due {due.due_at:%Y-%m-%d %H:%M} UTC")


# ---- secrets at rest -----------------------------------------------------------------------------
secrets_at_rest = dg.AssetSpec(SECRETS_AT_REST, group_name=GROUP,
                               tags=labels("master_key_rotation", 6), kinds={"python"},
                               description="Secrets encrypted in the `secrets` table (materialized by rotations).")


@dg.asset_check(asset=SECRETS_AT_REST, name="keyring_decrypts_with_active_key",
                description="Every secret decrypts, with the active master key; none uses a retired version. "
                            "Not blocking: nothing materializes this asset in a job it could stop (a rotation "
                            "reports it); WARN while a rotation is half done, ERROR when a secret is unreadable.")
@fails_clearly
def keyring_decrypts_with_active_key(database: DatabaseResource, settings: SettingsResource) -> dg.AssetCheckResult:
    health = keys_for(database, settings, "dagster").keyring_health()
    severity = dg.AssetCheckSeverity.ERROR if health["failures"] or health["on_retired"] else \
        dg.AssetCheckSeverity.WARN
    return dg.AssetCheckResult(
        passed=not (health["failures"] or health["on_retired"] or health["not_on_active"]), severity=severity,
        metadata={"secrets": health["secrets"], "failures": len(health["failures"]),
                  "failing": ", ".join(f["secret"] for f in health["failures"]) or "none",
                  "not_on_active": health["not_on_active"], "on_retired": health["on_retired"],
                  "rotation_in_progress": health["rotation_in_progress"]})


defs = dg.Definitions(
    assets=[jwt_signing_keys, jwks, secrets_at_rest],
    asset_checks=[sc_011_rotation_window, keyring_decrypts_with_active_key],
    jobs=[jwt_key_rotation_job],
    schedules=[jwt_key_rotation_daily],
)
