"""Accessibility audits without a browser: the compliance definition, targets, the stored history, new
violations since the previous audit, alerts and reports, on SQLite and PostgreSQL (browser: test_a11y_browser)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from cloudmake_pipelines.a11y import (
    AuditOptions,
    Auditor,
    AuditStore,
    Finding,
    PageResult,
    Target,
    TargetAudit,
    TargetError,
    TargetRegistry,
    compliance,
)
from cloudmake_pipelines.a11y.report import as_json, render_html
from cloudmake_pipelines.alerts import Alerter, outbox_rows
from tests.support.webhook import WebhookReceiver

T0 = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


def page(pid: str, component: str, passed: int, violations: list[tuple[str, str, str]] = (),
         error: str | None = None, incomplete: int = 0) -> PageResult:
    """A page as the browser leaves it: ``violations`` are (rule, impact, selector)."""
    result = PageResult(pid, component, pid, f"http://127.0.0.1:9/iframe.html?id={pid}", "story", error, passed)
    result.violations = [Finding(pid, component, rule, impact, selector, "<x>", "help", "https://help/" + rule, "fix it")
                         for rule, impact, selector in violations]
    result.incomplete = [Finding(pid, component, "color-contrast", None, f"#r{i}", "", "", "", "")
                         for i in range(incomplete)]
    return result


def audit_of(*pages: PageResult, target: str = "ds", at: datetime = T0) -> TargetAudit:
    return TargetAudit(target, at, at + timedelta(seconds=30), list(pages), "4.12.1")


def test_compliance_is_passed_over_passed_plus_violations_and_needs_review_is_apart():
    assert compliance(98, 2) == 98.0 and compliance(0, 0) is None and compliance(0, 3) == 0.0
    audit = audit_of(page("button--a", "Button", 49, [("label", "critical", "input")], incomplete=5),
                     page("button--b", "Button", 50),
                     page("card--a", "Card", 0, [("image-alt", "critical", "img")]),
                     page("card--hangs", "Card", 0, error="timed out after 30 s"))
    figures = audit.figures
    assert (figures.pages, figures.audited, figures.failed, figures.passed, figures.violations, figures.incomplete) == (
        4, 3, 1, 99, 2, 5)
    assert figures.compliance == pytest.approx(100 * 99 / 101)
    per = audit.by_component()
    assert per["Button"].compliance == pytest.approx(99.0) and per["Card"].compliance == 0.0
    assert [name for name, _ in audit.worst_components()] == ["Card", "Button"]  # a failed page first
    assert audit.top_rules() == [("image-alt", 1), ("label", 1)]
    assert not audit.passes(0.0)  # a failed page is never compliant
    clean = audit_of(page("a", "A", 98, [("label", "critical", "i"), ("label", "critical", "j")]))
    assert clean.passes(98.0) and not clean.passes(98.01)
    assert audit_of(page("a", "A", 0)).passes(98.0)  # nothing applicable: nothing failed


def test_targets_validate_and_keep_credentials_as_references(engine):
    registry = TargetRegistry(engine)
    saved = registry.add(Target("ds", "http://127.0.0.1:6006/index.html", ("https://app.example.com/",),
                                "Authorization", "env:DS_TOKEN"))
    assert saved.storybook_base == "http://127.0.0.1:6006/" and saved.page_urls == ("https://app.example.com/",)
    assert saved.origins == {"http://127.0.0.1:6006", "https://app.example.com"}
    for bad, message in [(Target("Bad Name", "http://x/"), "expected 1-100 characters"),
                         (Target("x"), "expected a Storybook URL (--storybook) or page URLs (--page)"),
                         (Target("x", "ftp://host/"), "expected an http:// or https:// URL"),
                         (Target("x", "https://u:p@host/"), "credentials in the URL are not allowed"),  # secretscan:allow
                         (Target("x", "http://h/", auth_header="Authorization", auth_secret_ref="VAR"),
                          "expected env:VARIABLE or secret:NAME")]:
        with pytest.raises(TargetError, match=re.escape(message)):
            registry.add(bad)
    with pytest.raises(TargetError, match="already registered"):
        registry.add(Target("ds", "http://127.0.0.1:6006/"))
    registry.add(Target("ds", "http://127.0.0.1:7007/"), replace=True)
    assert [t.storybook_url for t in registry.list()] == ["http://127.0.0.1:7007/"]
    registry.remove("ds")
    with pytest.raises(TargetError, match="not registered"):
        registry.remove("ds")


@pytest.fixture
def webhook():
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def auditor(engine, webhook, tmp_path):
    TargetRegistry(engine).add(Target("ds", "http://127.0.0.1:9/"))
    return Auditor(engine, AuditOptions("/usr/bin/chromium"), Alerter(webhook.url_for(), engine=engine),
                   threshold=98.0, reports=tmp_path / "reports")


def test_new_violations_are_those_the_previous_audit_did_not_have(auditor, webhook):
    base = [page("button--a", "Button", 200, [("label", "critical", "input")]), page("card--a", "Card", 100),
            page("card--b", "Card", 0, error="timed out after 30 s")]
    first = auditor.record(audit_of(*base))
    assert first.new is None and first.row.new_violations == 0  # the baseline
    assert first.alert is not None  # a failed page fails SC-003: one alert for the audit
    again = auditor.record(audit_of(page("button--a", "Button", 200, [("label", "critical", "input")]),
                                    page("card--a", "Card", 100, [("color-contrast", "serious", "p")]),
                                    page("card--b", "Card", 10, [("image-alt", "critical", "img")]),
                                    page("badge--new", "Badge", 10, [("link-name", "minor", "a")]), at=T0 + timedelta(days=1)))
    # card--b failed last time: its violation is not news; a story added since brings its violations in.
    assert sorted((f.page_id, f.rule) for f in again.new) == [("badge--new", "link-name"), ("card--a", "color-contrast")]
    assert (again.row.new_violations, again.row.new_serious) == (2, 1)
    assert again.audit.passes(98.0)  # 320 of 324 checks: 98.8 %; the new serious violation alone alerts
    assert again.alert.summary == ("accessibility audit of ds: 1 new serious/critical violation(s); SC-003 met again: "
                                   "AA compliance 98.8 % (≥ 98 %), every page audited; components: Card")
    assert again.alert.severity == "error"
    assert [a["key"] for a in webhook.alerts] == ["a11y:ds", "a11y:ds"]  # one alert per audit
    assert webhook.alerts[-1]["details"]["components"] == ["Card"]
    fixed = auditor.record(audit_of(page("button--a", "Button", 200), page("card--a", "Card", 100),
                                    page("card--b", "Card", 10), page("badge--new", "Badge", 10),
                                    at=T0 + timedelta(days=2)))
    assert fixed.new == [] and fixed.alert is None and len(webhook.alerts) == 2
    store = AuditStore(auditor.engine)
    assert [r.compliance for r in store.history("ds")] == [pytest.approx(100 * 300 / 301),
                                                           pytest.approx(100 * 320 / 324), 100.0]
    assert [r.id for r in store.latest_per_target()] == [fixed.row.id]


def test_sc003_met_again_after_a_failed_audit_is_one_resolved_alert(auditor, webhook):
    failing = auditor.record(audit_of(page("button--a", "Button", 90, [("label", "serious", f"input#{i}")
                                                                      for i in range(10)])), run_key="run-1")
    assert failing.alert.severity == "error" and "AA compliance 90.0 % (SC-003 ≥ 98 %)" in failing.alert.summary
    fixed = [auditor.record(audit_of(page("button--a", "Button", 100), at=T0 + timedelta(days=1)), run_key="run-2")
             for _ in range(2)]  # the step re-executed on another worker: the same audit, the same alert
    assert fixed[0].alert.severity == "resolved" and fixed[0].alert.key == "a11y:ds"
    assert fixed[0].alert.summary == ("accessibility audit of ds: SC-003 met again: AA compliance 100.0 % "
                                      "(≥ 98 %), every page audited")
    later = auditor.record(audit_of(page("button--a", "Button", 100), at=T0 + timedelta(days=2)), run_key="run-3")
    assert later.alert is None  # met before too: nothing to say
    assert [(a["key"], a["severity"]) for a in webhook.alerts] == [("a11y:ds", "error"), ("a11y:ds", "resolved")]
    assert sorted(r["idempotency_key"] for r in outbox_rows(auditor.engine)) == ["a11y:ds:run-1", "a11y:ds:run-2"]


def test_a_run_records_one_audit_per_target_and_alerts_once(auditor, webhook):
    """A step re-executed under the same Dagster run (its Celery worker died) records again: one row, one alert."""
    store = AuditStore(auditor.engine)
    auditor.record(audit_of(page("button--a", "Button", 200)), run_key="run-0")  # yesterday's run: the baseline
    first = auditor.record(audit_of(page("button--a", "Button", 200, [("label", "critical", "input")]),
                                    at=T0 + timedelta(days=1)), run_key="run-1")
    again = auditor.record(audit_of(page("button--a", "Button", 200, [("label", "critical", "input")]),
                                    page("card--a", "Card", 10, [("color-contrast", "serious", "p")]),
                                    at=T0 + timedelta(days=1, minutes=5)), run_key="run-1")
    assert again.row.id == first.row.id and len(store.history("ds")) == 2  # replaced in place: the newer result
    assert (again.row.pages, again.row.new_violations) == (2, 2)  # compared with run-0, not with its first try
    assert store.latest("ds").started_at == T0 + timedelta(days=1, minutes=5)
    assert [a["key"] for a in webhook.alerts] == ["a11y:ds"]  # one alert, sent by the first try
    assert [r["idempotency_key"] for r in outbox_rows(auditor.engine)] == ["a11y:ds:run-1"]
    cli = [auditor.record(audit_of(page("button--a", "Button", 200), at=T0 + timedelta(days=2))) for _ in range(2)]
    assert cli[0].row.id != cli[1].row.id and len(store.history("ds")) == 4  # without a run: a new audit each


def test_reports_are_written_and_self_contained(auditor, tmp_path):
    outcome = auditor.record(audit_of(page("card--a", "Card", 10, [("color-contrast", "serious", "p.<b>")]),
                                      page("card--b", "Card", 0, error="the story threw: <boom>")))
    html = (tmp_path / "reports" / "ds" / "latest.html").read_text()
    assert outcome.row.report_path.endswith(".html") and open(outcome.row.report_path).read() == html
    assert "p.&lt;b&gt;" in html and "<boom>" not in html and "the story threw: &lt;boom&gt;" in html  # escaped
    assert 'href="https://help/color-contrast"' in html and "AA compliance = passed / (passed + violations)" in html
    assert "<script" not in html and "stylesheet" not in html and "src=" not in html  # nothing to fetch
    document = json.loads((tmp_path / "reports" / "ds" / "latest.json").read_text())
    assert document["targets"][0]["compliance"] == pytest.approx(100 * 10 / 11)
    assert document["targets"][0]["failed"] == 1 and not document["passed"]
    assert document["targets"][0]["results"][0]["findings"][0]["how_to_fix"] == "fix it"


def test_a_removed_target_is_no_longer_checked(auditor):
    auditor.record(audit_of(page("a", "A", 1)))
    TargetRegistry(auditor.engine).remove("ds")
    assert AuditStore(auditor.engine).latest_per_target() == []


def test_json_and_html_of_nothing_audited():
    assert as_json([], threshold=98.0)["passed"] is True
    assert "<main>" in render_html([], threshold=98.0, generated=T0)
