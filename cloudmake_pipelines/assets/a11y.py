"""Accessibility audits in Dagster: asset ``accessibility_audit``, blocking checks ``sc_003_aa_compliance`` and
``no_new_a11y_violations``, schedule ``accessibility_audit_nightly``.

The asset audits every registered target in headless Chromium with axe-core (:mod:`cloudmake_pipelines.a11y`),
stores each audit (``a11y_audits``), writes the HTML and JSON reports and alerts once per audit that fails
SC-003 or brings new serious/critical violations. Its metadata: AA compliance overall and per target
(numbers, so the UI plots them over time), the worst components, the most violated rules, the report paths.
The checks read the latest stored audit of each target.

The audit generates load (a browser per audit, minutes of CPU): with ``CLOUDMAKE_EXECUTOR=celery`` its step,
and its checks' steps (the steps of a Celery run all need a queue some worker listens to), go to the load
queue's workers. One step audits every target, one after another, each page by ``CLOUDMAKE_A11Y_CONTEXTS``
browser contexts at once. Each audit is recorded under the run's id: a step re-executed on another worker
after the first died replaces the run's audits, and its alerts are the same outbox rows (sent once).
"""

import dagster as dg

from ..a11y.store import AuditStore
from ..resources import AlertsResource, DatabaseResource
from ..resources.a11y import AccessibilityAuditResource
from . import fails_clearly, labels, load_step_tags, scheduled_asset_job

ASSET = "accessibility_audit"
TASK = "accessibility_audit"
SEED_TASK = 12  # the seed's "Future Enhancements": accessibility audit automation (SC-003)
_WORST = dg.TableSchema(columns=[dg.TableColumn(n, t) for n, t in (
    ("target", "string"), ("component", "string"), ("compliance_percent", "float"), ("violations", "int"),
    ("needs_review", "int"), ("failed_pages", "int"))])
_RULES = dg.TableSchema(columns=[dg.TableColumn("rule", "string"), dg.TableColumn("violations", "int")])


@dg.asset(name=ASSET, group_name="a11y", kinds={"python", "chromium"}, tags=labels(TASK, SEED_TASK, "SC-003"),
          op_tags=load_step_tags(),
          description="Accessibility audit of every registered design system (Storybook stories, pages) in "
                      "headless Chromium with axe-core's WCAG 2.x A/AA rules: AA compliance per story, component "
                      "and target, new violations since the previous audit, HTML and JSON reports.")
@fails_clearly
def accessibility_audit(context: dg.AssetExecutionContext, database: DatabaseResource, alerts: AlertsResource,
                        a11y: AccessibilityAuditResource) -> dg.MaterializeResult:
    auditor = a11y.auditor(database, alerts.get_alerter(database.get_engine()))
    outcomes = auditor.run(auditor.targets(), run_key=context.run.run_id)
    metadata: dict = {"targets": dg.MetadataValue.int(len(outcomes))}
    totals = {"pages": 0, "audited": 0, "failed": 0, "passed": 0, "violations": 0, "incomplete": 0, "new_violations": 0}
    worst, rules = [], {}
    for outcome in outcomes:
        audit, row = outcome.audit, outcome.row
        for key in totals:
            totals[key] += getattr(row, key)
        name = audit.target
        if row.compliance is not None:
            metadata[f"{name}/compliance_percent"] = dg.MetadataValue.float(round(row.compliance, 3))
        metadata[f"{name}/violations"] = dg.MetadataValue.int(row.violations)
        metadata[f"{name}/failed_pages"] = dg.MetadataValue.int(row.failed)
        if row.report_path:
            metadata[f"{name}/report"] = dg.MetadataValue.path(row.report_path)
        for problem in [*audit.problems, *(f"{p.id}: {p.error}" for p in audit.failed)][:20]:
            context.log.warning(f"{name}: {problem}")
        for component, figures in audit.worst_components():
            worst.append(dg.TableRecord({
                "target": name, "component": component, "compliance_percent": figures.compliance,
                "violations": figures.violations, "needs_review": figures.incomplete, "failed_pages": figures.failed}))
        for rule, count in audit.top_rules(limit=50):
            rules[rule] = rules.get(rule, 0) + count
    metadata.update({key: dg.MetadataValue.int(value) for key, value in totals.items()})
    checked = totals["passed"] + totals["violations"]
    if checked:
        metadata["compliance_percent"] = dg.MetadataValue.float(round(100.0 * totals["passed"] / checked, 3))
    metadata["worst_components"] = dg.MetadataValue.table(records=worst[:20], schema=_WORST)
    metadata["top_rules"] = dg.MetadataValue.table(records=[
        dg.TableRecord({"rule": r, "violations": n}) for r, n in sorted(rules.items(), key=lambda i: (-i[1], i[0]))[:10]],
        schema=_RULES)
    return dg.MaterializeResult(metadata=metadata)


@dg.asset_check(asset=ASSET, name="sc_003_aa_compliance", blocking=True, op_tags=load_step_tags(),
                description="SC-003: every target's latest audit reached the AA compliance threshold (98 %) with "
                            "every story and page audited (a page that failed to load, timed out or threw fails).")
@fails_clearly
def sc_003_aa_compliance(database: DatabaseResource, a11y: AccessibilityAuditResource) -> dg.AssetCheckResult:
    threshold = a11y.threshold()
    rows = AuditStore(database.get_engine()).latest_per_target()
    failing = [r for r in rows if not r.passes(threshold)]
    return dg.AssetCheckResult(passed=not failing, severity=dg.AssetCheckSeverity.ERROR, metadata={
        "threshold_percent": dg.MetadataValue.float(threshold), "targets": dg.MetadataValue.int(len(rows)),
        "failing": dg.MetadataValue.text(", ".join(
            f"{r.target} ({'n/a' if r.compliance is None else f'{r.compliance:.2f} %'}"
            f"{f', {r.failed} failed page(s)' if r.failed else ''})" for r in failing) or "none")})


@dg.asset_check(asset=ASSET, name="no_new_a11y_violations", blocking=True, op_tags=load_step_tags(),
                description="Regression gate: no target's latest audit has a violation that its previous audit "
                            "did not (adoptable by a design system below 98 % today).")
@fails_clearly
def no_new_a11y_violations(database: DatabaseResource) -> dg.AssetCheckResult:
    rows = AuditStore(database.get_engine()).latest_per_target()
    failing = [r for r in rows if r.new_violations]
    return dg.AssetCheckResult(passed=not failing, severity=dg.AssetCheckSeverity.ERROR, metadata={
        "new_violations": dg.MetadataValue.int(sum(r.new_violations for r in rows)),
        "new_serious": dg.MetadataValue.int(sum(r.new_serious for r in rows)),
        "targets": dg.MetadataValue.text(", ".join(f"{r.target} ({r.new_violations} new)" for r in failing) or "none")})


accessibility_audit_job, accessibility_audit_nightly = scheduled_asset_job(
    "accessibility_audit_job", [accessibility_audit], schedule_name="accessibility_audit_nightly",
    cron="0 3 * * *", tags=labels(TASK, SEED_TASK, "SC-003"), generates_load=True,
    description="Audit every registered design system's accessibility nightly (SC-003 ≥ 98 % AA compliance).")

defs = dg.Definitions(assets=[accessibility_audit], asset_checks=[sc_003_aa_compliance, no_new_a11y_violations],
                      jobs=[accessibility_audit_job], schedules=[accessibility_audit_nightly],
                      resources={"a11y": AccessibilityAuditResource.from_env()})
