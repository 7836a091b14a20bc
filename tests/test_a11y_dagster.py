"""Accessibility audits in Dagster: the asset audits every target in Chromium, its metadata (plots, worst
components, top rules, report path), the blocking checks and one alert per failing audit."""

from __future__ import annotations

import dagster as dg
import pytest

from cloudmake_pipelines.a11y import Target, TargetRegistry
from cloudmake_pipelines.assets.a11y import accessibility_audit, no_new_a11y_violations, sc_003_aa_compliance
from cloudmake_pipelines.resources import AlertsResource, DatabaseResource
from cloudmake_pipelines.resources.a11y import AccessibilityAuditResource
from tests.support.storybook import StaticStorybook, small
from tests.support.webhook import WebhookReceiver

ASSETS = [accessibility_audit, sc_003_aa_compliance, no_new_a11y_violations]


@pytest.fixture
def webhook():
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def storybook(tmp_path):
    with StaticStorybook(small(tmp_path / "ds")) as fake:
        yield fake, tmp_path / "ds"


def resources(sqlite_url, webhook, tmp_path, threshold: str) -> dict:
    return {"database": DatabaseResource(url=sqlite_url), "alerts": AlertsResource(webhook_url=webhook.url_for()),
            "a11y": AccessibilityAuditResource(threshold_percent=threshold, contexts="2", page_timeout_seconds="20",
                                               report_dir=str(tmp_path / "reports"))}


def test_asset_metadata_checks_and_alerts(sqlite_url, webhook, storybook, tmp_path, chromium):
    from cloudmake_pipelines.db import make_engine
    from cloudmake_pipelines.db.migrate import upgrade

    fake, root = storybook
    upgrade(sqlite_url)
    TargetRegistry(make_engine(sqlite_url)).add(Target("ds", f"{fake.url}/"))
    failed = dg.materialize(ASSETS, resources=resources(sqlite_url, webhook, tmp_path, "98"), raise_on_error=False)
    checks = {c.check_name: c for c in failed.get_asset_check_evaluations()}
    assert not failed.success and not checks["sc_003_aa_compliance"].passed
    assert checks["sc_003_aa_compliance"].metadata["failing"].value.startswith("ds (9")
    assert checks["no_new_a11y_violations"].passed  # the first audit is the baseline
    metadata = failed.asset_materializations_for_node("accessibility_audit")[0].metadata
    assert 90 < metadata["compliance_percent"].value < 98 and metadata["ds/violations"].value == 1
    assert [(r.data["component"], r.data["violations"]) for r in metadata["worst_components"].records] == [("Card", 1)]
    assert [r.data["rule"] for r in metadata["top_rules"].records] == ["color-contrast"]
    report = metadata["ds/report"].value
    assert report.startswith(str(tmp_path / "reports" / "ds")) and "color-contrast" in open(report).read()
    assert [a["key"] for a in webhook.alerts] == ["a11y:ds"] and webhook.alerts[0]["details"]["components"] == ["Card"]
    assert webhook.alerts[0]["idempotency_key"] == f"a11y:ds:{failed.run_id}"  # the run's audit alerts once

    (root / "stories" / "button--primary.js").write_text('export default function render() { return '
                                                        '"<button type=\\"button\\"></button>"; }\n')
    regressed = dg.materialize(ASSETS, resources=resources(sqlite_url, webhook, tmp_path, "50"), raise_on_error=False)
    checks = {c.check_name: c for c in regressed.get_asset_check_evaluations()}
    assert checks["sc_003_aa_compliance"].passed and not checks["no_new_a11y_violations"].passed
    assert checks["no_new_a11y_violations"].metadata["new_serious"].value == 1
    assert len(webhook.alerts) == 2 and "1 new serious/critical violation(s); components: Button" in \
        webhook.alerts[1]["summary"]


def test_no_target_registered_passes_with_nothing_audited(sqlite_url, webhook, tmp_path):
    from cloudmake_pipelines.db.migrate import upgrade

    upgrade(sqlite_url)
    # the configured Chromium is checked every run (configuration); /bin/true exists and is never started
    result = dg.materialize(ASSETS, resources={**resources(sqlite_url, webhook, tmp_path, "98"),
                                               "a11y": AccessibilityAuditResource(chromium="/bin/true")},
                            raise_on_error=False)
    assert result.success
    assert result.asset_materializations_for_node("accessibility_audit")[0].metadata["targets"].value == 0


def test_an_unmigrated_database_fails_the_step_with_what_to_do(sqlite_url, webhook, tmp_path):
    result = dg.materialize(ASSETS, resources=resources(sqlite_url, webhook, tmp_path, "98"), raise_on_error=False)
    error = result.get_step_failure_events()[0].event_specific_data.error
    assert error.cls_name == "Failure" and "cloudmake db upgrade" in error.message
