"""Preview archival as Dagster runs it (asset, checks, schedule) and as `cloudmake previews` runs it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import dagster as dg
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import insert

from cloudmake_pipelines.assets import previews as previews_module
from cloudmake_pipelines.assets.previews import no_expired_preview_active
from cloudmake_pipelines.cli import cli
from cloudmake_pipelines.db.tables import environments as env
from cloudmake_pipelines.errors import ConfigError
from cloudmake_pipelines.previews import Archiver, ManualClock, neon_provider
from cloudmake_pipelines.resources import DatabaseResource, shared_resources
from cloudmake_pipelines.resources.previews import PreviewsResource
from cloudmake_pipelines.settings import get_settings
from tests.support.fake_neon import API_KEY, FakeNeon
from tests.support.fake_pushgateway import FakePushgateway

# This module's definitions with the shared resources, as definitions.py merges them (the whole code
# location is loaded by tests/test_dagster_location.py).
defs = dg.Definitions.merge(previews_module.defs, dg.Definitions(resources=shared_resources()))


def _previews(engine, now):
    rows = [
        {"id": "pr-1", "name": "pr-1", "kind": "preview", "created_at": now - timedelta(hours=80),
         "neon_project_id": "proj-1", "neon_branch_id": "br-1"},
        {"id": "pr-2", "name": "pr-2", "kind": "preview", "created_at": now - timedelta(hours=2),
         "ttl_expires_at": now - timedelta(minutes=1)},
        {"id": "pr-3", "name": "pr-3", "kind": "preview", "created_at": now - timedelta(hours=2)},
    ]
    with engine.begin() as conn:
        for row in rows:
            conn.execute(insert(env).values(**row))


def test_schedule_and_job_shape():
    schedule = defs.resolve_schedule_def("preview_archival_every_6h")
    assert schedule.cron_schedule == "0 */6 * * *" and schedule.execution_timezone == "UTC"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    job = defs.resolve_job_def("preview_archival")
    assert job.asset_layer.executable_asset_keys == {dg.AssetKey("archived_preview_environments")}
    checks = {key.name for key in job.asset_layer.asset_graph.asset_check_keys}
    assert {"no_expired_preview_active", "preview_cleanup_backlog"} <= checks


def test_asset_archives_frees_pushes_and_passes_its_checks(engine, db_url, monkeypatch):
    monkeypatch.setenv("NEON_API_KEY", API_KEY)
    _previews(engine, datetime.now(UTC))
    with FakeNeon() as neon, FakePushgateway() as gateway:
        neon_url, gateway_url = neon.api_url, gateway.url
        neon.add_branch("proj-1", "br-1")
        resources = {"database": DatabaseResource(url=db_url),
                     "previews": PreviewsResource(neon_api_url=neon_url, pushgateway_url=gateway_url)}
        with dg.instance_for_test() as instance:
            result = defs.resolve_job_def("preview_archival").execute_in_process(
                instance=instance, resources=resources)
            assert result.success
            checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
            assert checks == {"no_expired_preview_active": True, "preview_cleanup_backlog": True}
            event = instance.get_latest_materialization_event(dg.AssetKey("archived_preview_environments"))
            metadata = {k: v.value for k, v in event.asset_materialization.metadata.items()}
        assert metadata["archived"] == 2 and metadata["preview_env_active_total"] == 1
        assert metadata["cleanup_freed"] == 1 and metadata["cleanup_failed"] == 0
        assert isinstance(metadata["duration_ms"], float) and metadata["archived_ids"] == "pr-1, pr-2"
        assert not neon.branches and neon.deletes()[0].bearer == API_KEY
        body = gateway.pushes[-1].text
        values = {s.name: s.value for f in text_string_to_metric_families(body) for s in f.samples}
        assert values["preview_env_active_total"] == 1


def test_check_fails_when_an_expired_preview_is_left_active(engine, db_url):
    clock = ManualClock(datetime(2026, 11, 29, 12, tzinfo=UTC))
    Archiver(engine, [neon_provider(None)], clock=clock).run()  # a run at 12:00 ...
    with engine.begin() as conn:  # ... yet a preview that expired at 11:00 is active (archival broken)
        conn.execute(insert(env).values(id="late", name="late", kind="preview", created_at=clock.now,
                                        ttl_expires_at=clock.now - timedelta(hours=1)))
    result = no_expired_preview_active(database=DatabaseResource(url=db_url))
    assert not result.passed and result.metadata["expired_remaining"].value == 1


def _cli(args, db_url, **env_vars):
    get_settings.cache_clear()  # each invocation is a fresh process in real life
    return CliRunner().invoke(cli, ["previews", *args], env={"DATABASE_URL": db_url, **env_vars},
                              catch_exceptions=False)


def test_cli_dry_run_archive_and_list(engine, db_url):
    now = datetime.now(UTC)
    _previews(engine, now)
    dry = _cli(["archive", "--dry-run", "--json"], db_url)
    assert dry.exit_code == 0
    assert [row["id"] for row in json.loads(dry.stdout)["would_archive"]] == ["pr-1", "pr-2"]
    listed = json.loads(_cli(["list", "--json"], db_url).stdout)
    assert [row["id"] for row in listed] == ["pr-1", "pr-2", "pr-3"], "soonest to expire first, nothing archived"

    # No NEON_API_KEY: pr-1's branch cannot be freed: archived anyway, reported, exit 1, retried next run.
    run = _cli(["archive", "--json"], db_url)
    report = json.loads(run.stdout)
    assert run.exit_code == 1 and report["archived"] == ["pr-1", "pr-2"]
    assert "NEON_API_KEY" in report["cleanup_failures"]["pr-1"]
    assert json.loads(run.stderr.splitlines()[-1])["msg"] == "preview archival finished"

    skipped = _cli(["archive"], db_url)
    assert skipped.exit_code == 0 and "skipped" in skipped.stdout and "--force" in skipped.stdout
    with FakeNeon() as neon:
        url = neon.api_url
        neon.add_branch("proj-1", "br-1")
        forced = _cli(["archive", "--force"], db_url, NEON_API_KEY=API_KEY, NEON_API_URL=url)
        assert forced.exit_code == 0, forced.stdout
        assert "archived 0 preview environment(s)" in forced.stdout and "1 freed" in forced.stdout
        assert "1 retried" in forced.stdout and API_KEY not in forced.stdout
    archived = _cli(["list", "--archived"], db_url)
    assert "pr-1  pr-1  archived" in archived.stdout and "cleanup freed after 2 attempt(s)" in archived.stdout
    assert _cli(["list"], db_url).stdout.startswith("pr-3")


def test_cli_on_an_unmigrated_database_says_what_to_do(sqlite_url):
    for args in (["list"], ["archive", "--dry-run"]):
        get_settings.cache_clear()
        result = CliRunner().invoke(cli, ["previews", *args], env={"DATABASE_URL": sqlite_url})
        assert isinstance(result.exception, ConfigError) and "cloudmake db upgrade" in str(result.exception)
