"""The Dagster layer of key management: the four-op job, the JWT asset job and checks, the schedules."""

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
from sqlalchemy import update

from cloudmake_pipelines.assets import RUN_LOGGING
from cloudmake_pipelines.assets.keys import (
    jwks,
    jwt_key_rotation_daily,
    jwt_signing_keys,
    keyring_decrypts_with_active_key,
    sc_011_rotation_window,
)
from cloudmake_pipelines.db.migrate import upgrade
from cloudmake_pipelines.db.tables import master_key_versions, signing_keys
from cloudmake_pipelines.definitions import defs
from cloudmake_pipelines.jobs.keys import master_key_reminder_weekly
from cloudmake_pipelines.keys.service import KeyManagement
from cloudmake_pipelines.resources import AlertsResource, DatabaseResource, SettingsResource
from cloudmake_pipelines.settings import get_settings


@pytest.fixture
def keys_db(sqlite_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    get_settings.cache_clear()
    upgrade(sqlite_url)
    resources = {"database": DatabaseResource(url=sqlite_url), "settings": SettingsResource(),
                 "alerts": AlertsResource()}
    keys = KeyManagement(DatabaseResource(url=sqlite_url).get_engine(), get_settings(), actor="test")
    return keys, resources


def test_master_rotation_job_runs_four_ops_in_order_and_materializes_secrets_at_rest(keys_db):
    keys, resources = keys_db
    keys.keyring.put("gh_token", "ghp-not-a-real-token-value")
    job = defs.resolve_job_def("master_key_rotation_job")
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(instance=instance, resources=resources)
        assert result.success
        assert [e.step_key for e in result.all_events if e.event_type_value == "STEP_START"] == [
            "master_key_generate", "master_key_reencrypt", "master_key_update_binding", "master_key_invalidate"]
        assert result.output_for_node("master_key_invalidate")["retired_versions"] == [1]
        materialized = instance.get_latest_materialization_event(dg.AssetKey("secrets_at_rest"))
        assert materialized.asset_materialization.metadata["active_version"].value == 2
    assert keys.keyring.get("gh_token") == "ghp-not-a-real-token-value"
    check = keyring_decrypts_with_active_key(database=resources["database"], settings=resources["settings"])
    assert check.passed and check.metadata["secrets"].value == 1


def test_keyring_check_fails_on_a_secret_that_does_not_decrypt(keys_db):
    keys, resources = keys_db
    keys.keyring.put("a_secret", "value-aaaaaa")
    keys.keyring.put("b_secret", "value-bbbbbb")
    from cloudmake_pipelines.db.tables import secrets

    with keys.keyring.engine.begin() as conn:
        conn.execute(update(secrets).where(secrets.c.name == "b_secret").values(ciphertext=b"\x00" * 40))
    check = keyring_decrypts_with_active_key(database=resources["database"], settings=resources["settings"])
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert check.metadata["failing"].value == "b_secret"


def test_jwt_assets_rotate_publish_and_pass_sc_011(keys_db):
    keys, resources = keys_db
    with dg.instance_for_test() as instance:
        result = dg.materialize([jwt_signing_keys, jwks, sc_011_rotation_window], instance=instance,
                                resources=resources,
                                run_config={"ops": {"jwt_signing_keys": {"config": {"force": True}}}})
        assert result.success
        checks = result.get_asset_check_evaluations()
        assert [(c.check_name, c.passed) for c in checks] == [("sc_011_rotation_window", True)]
    published = keys.published_jwks()
    assert [k["kid"] for k in published["keys"]] == [k["kid"] for k in keys.signing_keys().jwks()["keys"]]
    assert len(published["keys"]) == 2
    # a key whose grace ended but is still in the published document fails SC-011
    keys.signing_keys().rotate(force=True)
    keys.publish_jwks()
    with keys.keyring.engine.begin() as conn:
        conn.execute(update(signing_keys).where(signing_keys.c.status == "grace")
                     .values(grace_until=datetime.now(UTC) - timedelta(hours=1)))
    with dg.instance_for_test() as instance:
        check = dg.materialize([jwt_signing_keys, jwks, sc_011_rotation_window], instance=instance,
                               resources=resources, selection=dg.AssetSelection.checks_for_assets(jwks),
                               raise_on_error=False)
        evaluation = check.get_asset_check_evaluations()[0]
        assert not evaluation.passed and evaluation.metadata["published_but_expired"].value != "none"
        assert evaluation.severity == dg.AssetCheckSeverity.ERROR and not check.success, "SC-011 blocks"


def _tick(schedule, resources, when):
    context = dg.build_schedule_context(scheduled_execution_time=when, resources=resources)
    return schedule(context)


def test_due_evaluation_requests_one_run_per_due_date_in_production_only(keys_db, monkeypatch):
    keys, resources = keys_db
    keys.signing_keys().rotate(force=True)
    activated = keys.signing_keys().keys()[1]["activated_at"]
    day = activated.replace(hour=0, minute=0, second=0, microsecond=0)
    early = _tick(jwt_key_rotation_daily, resources, day + timedelta(days=89))
    assert isinstance(early, dg.SkipReason) and "next JWT rotation due" in early.skip_message
    manual = _tick(jwt_key_rotation_daily, resources, day + timedelta(days=91))
    assert isinstance(manual, dg.SkipReason) and "dev rotates manually" in manual.skip_message
    monkeypatch.setenv("ENVIRONMENT", "production")
    get_settings.cache_clear()
    first = _tick(jwt_key_rotation_daily, resources, day + timedelta(days=91))
    again = _tick(jwt_key_rotation_daily, resources, day + timedelta(days=92))
    expected = f"jwt-rotation-{activated + timedelta(days=90):%Y-%m-%d}"
    assert [r.run_key for r in first] == [expected] and [r.run_key for r in again] == [expected]
    assert first[0].run_config == RUN_LOGGING  # the run logs Pino lines (test_schedule_table)


def test_schedule_requests_retirement_when_a_grace_ends(keys_db):
    keys, resources = keys_db
    keys.signing_keys().rotate(force=True)
    keys.signing_keys().rotate(force=True)
    grace = next(k for k in keys.signing_keys().keys() if k["status"] == "grace")
    requests = _tick(jwt_key_rotation_daily, resources, grace["grace_until"] + timedelta(hours=1))
    assert [r.run_key for r in requests] == [f"jwt-retire-{grace['kid']}"]
    assert requests[0].run_config == RUN_LOGGING


def test_annual_master_key_reminder(keys_db):
    keys, resources = keys_db
    now = datetime.now(UTC)
    assert isinstance(_tick(master_key_reminder_weekly, resources, now + timedelta(days=300)), dg.SkipReason)
    request = _tick(master_key_reminder_weekly, resources, now + timedelta(days=366))
    assert request.run_key.startswith("master-key-reminder-v1-") and request.run_config == RUN_LOGGING
    with keys.keyring.engine.begin() as conn:
        conn.execute(update(master_key_versions).values(activated_at=now - timedelta(days=400)))
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("master_key_reminder_job").execute_in_process(instance=instance,
                                                                                    resources=resources)
        assert result.success
