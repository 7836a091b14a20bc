"""Token propagation in Dagster: real sensor ticks (cursor across restarts), the asset and its blocking check."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from cloudmake_pipelines.assets.tokens import design_token_propagation, sc_002_token_propagation
from cloudmake_pipelines.resources import AlertsResource, DatabaseResource
from cloudmake_pipelines.resources.tokens import TokenPropagationResource
from cloudmake_pipelines.sensors.tokens import design_token_propagation_monitor
from cloudmake_pipelines.tokens import App, AppRegistry, TokenSource, VersionStore
from tests.support.token_apps import TokenApp
from tests.support.webhook import WebhookReceiver
from tests.test_tokens import Repo, tokens_json


@pytest.fixture
def webhook():
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def resources(db_url, engine, webhook):
    return {"database": DatabaseResource(url=db_url), "alerts": AlertsResource(webhook_url=webhook.url_for()),
            "tokens": TokenPropagationResource(slo_seconds="300")}


@pytest.fixture
def setup(engine, tmp_path):
    """A repository with one token version 400 s old, one app registered an hour ago still serving 1.0.0."""
    (tmp_path / "ds").mkdir()
    repo = Repo(tmp_path / "ds")
    repo.commit(tokens_json("2.0.0"), when=time.time() - 400)
    VersionStore(engine).add_source(TokenSource(str(repo.path)))
    with TokenApp("1.0.0") as fake:
        AppRegistry(engine, clock=lambda: datetime.now(UTC) - timedelta(hours=1)).add(
            App("web", fake.page, "json", "meta.tokens"))
        yield repo, fake


def tick(resources, cursor: str | None):
    with dg.instance_for_test() as instance:  # a fresh instance per tick: a daemon restart keeps only the cursor
        context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources)
        return design_token_propagation_monitor(context)


def test_sensor_ticks_measure_alert_once_and_keep_etags_across_restarts(resources, setup, webhook):
    repo, fake = setup
    first = tick(resources, None)
    assert "1 app(s) polled (0 not modified, 0 unknown); 1 alert(s)" in first.skip_reason.skip_message
    assert json.loads(first.cursor)["apps"]["web"][1] == "1.0.0"
    second = tick(resources, first.cursor)
    assert "(1 not modified, 0 unknown); 0 alert(s)" in second.skip_reason.skip_message
    assert fake.requests[-1].status == 304
    fake.serve("2.0.0")
    third = tick(resources, second.cursor)
    assert "1 alert(s)" in third.skip_reason.skip_message
    assert [a["severity"] for a in webhook.alerts] == ["error", "resolved"]


def test_sensor_skips_with_the_reason_on_an_unmigrated_database(sqlite_url):
    resources = {"database": DatabaseResource(url=sqlite_url), "alerts": AlertsResource(),
                 "tokens": TokenPropagationResource()}
    result = tick(resources, None)
    assert "run `cloudmake db upgrade` first" in result.skip_message


def test_asset_records_the_table_and_the_blocking_check_fails_when_overdue_or_late(resources, setup):
    repo, fake = setup
    cursor = tick(resources, None).cursor
    failed = dg.materialize([design_token_propagation, sc_002_token_propagation], resources=resources,
                            raise_on_error=False)
    check = failed.get_asset_check_evaluations()[0]
    assert not failed.success and not check.passed and check.metadata["failing_apps"].value == "web (overdue)"
    fake.serve("2.0.0")
    cursor = tick(resources, cursor).cursor
    late = dg.materialize([design_token_propagation, sc_002_token_propagation], resources=resources,
                          raise_on_error=False)
    metadata = late.asset_materializations_for_node("design_token_propagation")[0].metadata
    assert metadata["version"].value == "2.0.0"
    assert [r.data["status"] for r in metadata["latest_version"].records] == ["late"]
    assert metadata["web/max_s"].value > 300
    assert not late.get_asset_check_evaluations()[0].passed  # late is a miss of SC-002
    repo.commit(tokens_json("3.0.0"), when=time.time() - 2)
    fake.serve("3.0.0")
    tick(resources, cursor)
    passed = dg.materialize([design_token_propagation, sc_002_token_propagation], resources=resources)
    assert passed.success and passed.get_asset_check_evaluations()[0].passed
