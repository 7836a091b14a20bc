"""One accessibility audit run: every target (or one) audited, stored, reported and alerted on.

Per target, in order: :func:`.browser.audit_target` (the browser work, no database), the violations new since
the target's previous audit (:class:`.store.AuditStore`), the HTML and JSON reports when a report directory is
given, the ``a11y_audits`` row, then at most one alert for the audit: when SC-003 fails (compliance under the
threshold, or a page failed) or new serious/critical violations appeared, naming the components affected; or,
severity ``resolved``, when SC-003 is met again after an audit that failed it.

A Dagster run passes its run id as ``run_key``: recording the same run's audit of a target again (its step
re-executed on another Celery worker after the first died) replaces the row, and the alert's outbox key
names the run, so the run stores one audit per target and sends at most one alert per target.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from ..alerts import Alert, Alerter
from ..db.helpers import require_tables
from ..db.tables import a11y_audits, a11y_findings, a11y_targets
from ..fsio import write_output
from .browser import AuditOptions, audit_target, find_chromium
from .report import as_json, render_html, to_json_bytes
from .results import SERIOUS, Finding, PageResult, TargetAudit
from .store import AuditRow, AuditStore
from .targets import Target, TargetRegistry

TASK = "accessibility_audit"


@dataclass
class Outcome:
    audit: TargetAudit
    new: list[Finding] | None  # None: the target's first audit (its baseline)
    row: AuditRow
    alert: Alert | None


def options_from(settings: Any, **overrides: Any) -> tuple[AuditOptions, float]:
    """The browser options and the SC-003 threshold from the ``a11y`` settings (``overrides`` win)."""
    group = settings.a11y.merged(**overrides)
    return (AuditOptions(find_chromium(group.chromium), contexts=group.contexts,
                         page_timeout=group.page_timeout_seconds), group.threshold_percent)


def report_dir(settings: Any) -> Path:
    return settings.a11y.report_dir or settings.state_dir / "a11y"


class Auditor:
    """Audits targets of one database; ``secrets`` reads ``secret:NAME`` credentials from the keyring."""

    def __init__(self, engine: Engine, options: AuditOptions, alerter: Alerter, *, threshold: float = 98.0,
                 environment: str = "dev", secrets: Callable[[str], str] | None = None,
                 reports: Path | None = None):
        require_tables(engine, a11y_targets, a11y_audits, a11y_findings)
        self.engine, self.options, self.alerter = engine, options, alerter
        self.threshold, self.environment, self.secrets, self.reports = threshold, environment, secrets, reports
        self.registry, self.store = TargetRegistry(engine), AuditStore(engine)

    def targets(self, name: str | None = None) -> list[Target]:
        return [self.registry.get(name)] if name else self.registry.list()

    def run(self, targets: list[Target], on_page: Callable[[PageResult], None] | None = None, *,
            run_key: str | None = None) -> list[Outcome]:
        return [self.audit(target, on_page, run_key=run_key) for target in targets]

    def audit(self, target: Target, on_page: Callable[[PageResult], None] | None = None, *,
              run_key: str | None = None) -> Outcome:
        audit = audit_target(target, self.options, secrets=self.secrets, on_page=on_page)
        return self.record(audit, run_key=run_key)

    def record(self, audit: TargetAudit, *, run_key: str | None = None) -> Outcome:
        """Store ``audit`` (done elsewhere, e.g. by a worker), write its reports and alert. With ``run_key``
        (the Dagster run), a second record of the run's audit of the target replaces the first and its alert
        is the same outbox row (a no-op); without, every record is a new audit and a new alert."""
        previous = self.store.latest(audit.target, other_than_run=run_key)
        new = self.store.new_findings(audit, run_key)
        path = self._write_reports(audit, new) if self.reports else None
        row = self.store.record(audit, new, path, run_key)
        alert = self._alert(audit, new, row, recovered=previous is not None and not previous.passes(self.threshold))
        if alert is not None:
            self.alerter.send(alert, occurrence=run_key or str(row.id))
        return Outcome(audit, new, row, alert)

    def _write_reports(self, audit: TargetAudit, new: list[Finding] | None) -> str:
        folder = self.reports / audit.target  # type: ignore[operator]
        folder.mkdir(parents=True, exist_ok=True)
        stamp = audit.started_at.strftime("%Y%m%dT%H%M%SZ")
        html = render_html([audit], threshold=self.threshold, new={audit.target: new or []})
        document = to_json_bytes(as_json([audit], threshold=self.threshold, new={audit.target: new}))
        for name in (f"{stamp}.html", "latest.html"):
            write_output(folder / name, html.encode())
        for name in (f"{stamp}.json", "latest.json"):
            write_output(folder / name, document)
        return str(folder / f"{stamp}.html")

    def _alert(self, audit: TargetAudit, new: list[Finding] | None, row: AuditRow, *,
               recovered: bool) -> Alert | None:
        """The audit's one alert: SC-003 failed or new serious violations (``error``); else, when the previous
        audit failed SC-003 (``recovered``), that it is met again (``resolved``); else none."""
        figures = audit.figures
        serious = [f for f in new or [] if f.impact in SERIOUS]
        below = not audit.passes(self.threshold)
        compliance = "n/a" if figures.compliance is None else f"{figures.compliance:.1f} %"
        met_again = f"SC-003 met again: AA compliance {compliance} (≥ {self.threshold:g} %), every page audited"
        if not below and not serious and not recovered:
            return None
        components = sorted({f.component for f in serious}
                            | ({name for name, _ in audit.worst_components(limit=50)} if below else set()))
        reasons = []
        if below:
            reasons.append(f"AA compliance {compliance} (SC-003 ≥ {self.threshold:g} %)"
                           + (f", {figures.failed} page(s) failed" if figures.failed else "")
                           + (f", {audit.problems[0]}" if audit.problems else ""))
        if serious:
            reasons.append(f"{len(serious)} new serious/critical violation(s)")
        if recovered and not below:
            reasons.append(met_again)
        shown = ", ".join(components[:10]) + (f" and {len(components) - 10} more" if len(components) > 10 else "")
        return Alert(TASK, f"a11y:{audit.target}",
                     f"accessibility audit of {audit.target}: {'; '.join(reasons)}"
                     + (f"; components: {shown}" if components else ""),
                     severity="error" if below or serious else "resolved",
                     details={"target": audit.target, "audit_id": row.id, "compliance": figures.compliance,
                              "failed_pages": figures.failed, "new_serious": len(serious),
                              "components": components, "report": row.report_path},
                     environment=self.environment)


def open_auditor(engine: Engine, settings: Any, alerter: Alerter, *, reports: Path | None = None,
                 **overrides: Any) -> Auditor:
    """The auditor as configured: ``settings`` is the whole Settings; ``overrides`` (non-None) win over its
    ``a11y`` group (a resource's config, a command's options)."""
    from ..loadtest.service import keyring_lookup

    options, threshold = options_from(settings, **overrides)
    return Auditor(engine, options, alerter, threshold=threshold, environment=settings.environment,
                   secrets=keyring_lookup(engine), reports=reports)
