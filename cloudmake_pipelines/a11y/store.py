"""Audits kept as history (``a11y_audits``, ``a11y_findings``), and what is *new* since the previous audit.

A violation is identified by its fingerprint (page, rule, element selector). *New* = in this audit and not in
the target's previous audit, counting only pages that the previous audit did audit: a page that failed then
told us nothing, so its violations are not news now; a story added since is (it brought them in). The first
audit of a target is its baseline: nothing is new. This is the regression gate a team at 90 % can adopt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete, func, insert, or_, select, update

from ..db.tables import a11y_audits, a11y_findings, a11y_targets
from .results import SERIOUS, Finding, TargetAudit


@dataclass
class AuditRow:
    """One stored audit (the summary as the checks, the CLI and the asset read it)."""

    id: int
    target: str
    started_at: datetime
    finished_at: datetime
    pages: int
    audited: int
    failed: int
    passed: int
    violations: int
    incomplete: int
    compliance: float | None
    new_violations: int
    new_serious: int
    report_path: str | None
    summary: dict[str, Any] = field(default_factory=dict)

    def passes(self, threshold: float) -> bool:
        return (not self.failed and not self.summary.get("problems")
                and (self.compliance is None or self.compliance >= threshold))

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "target": self.target, "started_at": self.started_at,
                "finished_at": self.finished_at, "pages": self.pages, "audited": self.audited,
                "failed": self.failed, "passed": self.passed, "violations": self.violations,
                "incomplete": self.incomplete, "compliance": self.compliance,
                "new_violations": self.new_violations, "new_serious": self.new_serious,
                "report_path": self.report_path}


def _row(row: Any) -> AuditRow:
    return AuditRow(row.id, row.target_name, row.started_at, row.finished_at, row.pages, row.audited, row.failed,
                    row.passed, row.violations, row.incomplete, row.compliance, row.new_violations,
                    row.new_serious, row.report_path, dict(row.summary or {}))


class AuditStore:
    def __init__(self, engine: Engine):
        self.engine = engine

    def latest(self, target: str, *, other_than_run: str | None = None) -> AuditRow | None:
        """The target's latest audit (``other_than_run``: not that run's own)."""
        query = select(a11y_audits).where(a11y_audits.c.target_name == target)
        if other_than_run is not None:
            query = query.where(or_(a11y_audits.c.run_key.is_(None), a11y_audits.c.run_key != other_than_run))
        with self.engine.connect() as conn:
            row = conn.execute(query.order_by(
                a11y_audits.c.started_at.desc(), a11y_audits.c.id.desc()).limit(1)).first()
        return None if row is None else _row(row)

    def latest_per_target(self) -> list[AuditRow]:
        """The latest audit of every registered target (a removed target is no longer checked)."""
        newest = select(a11y_audits.c.target_name, func.max(a11y_audits.c.id).label("id")).where(
            a11y_audits.c.target_name.in_(select(a11y_targets.c.name))).group_by(a11y_audits.c.target_name).subquery()
        with self.engine.connect() as conn:
            rows = conn.execute(select(a11y_audits).join(newest, newest.c.id == a11y_audits.c.id)
                                .order_by(a11y_audits.c.target_name)).all()
        return [_row(r) for r in rows]

    def history(self, target: str, limit: int = 30) -> list[AuditRow]:
        """The latest ``limit`` audits of ``target``, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(a11y_audits).where(a11y_audits.c.target_name == target).order_by(
                a11y_audits.c.started_at.desc(), a11y_audits.c.id.desc()).limit(limit)).all()
        return [_row(r) for r in reversed(rows)]

    def new_findings(self, audit: TargetAudit, run_key: str | None = None) -> list[Finding] | None:
        """Violations of ``audit`` absent from the target's previous audit (None: no previous audit); the
        previous audit is never one of run ``run_key`` (a re-executed step compares as its first try did)."""
        previous = self.latest(audit.target, other_than_run=run_key)
        if previous is None:
            return None
        with self.engine.connect() as conn:
            known = set(conn.scalars(select(a11y_findings.c.fingerprint).where(a11y_findings.c.audit_id == previous.id)))
        failed_then = set(previous.summary.get("failed_pages", {}))
        return [f for f in audit.violations if f.fingerprint not in known and f.page_id not in failed_then]

    def record(self, audit: TargetAudit, new: list[Finding] | None, report_path: str | None,
               run_key: str | None = None) -> AuditRow:
        """Store ``audit`` and its findings in one transaction. With a ``run_key`` (the Dagster run) the run's
        earlier audit of the target, if any (a step re-executed after its worker died), is replaced in place:
        same id, the newer result, its findings only; the unique (run_key, target) makes a second row impossible."""
        figures = audit.figures
        new = new or []
        summary = {
            "components": {name: f.as_dict() for name, f in audit.by_component().items()},
            "top_rules": audit.top_rules(),
            "failed_pages": {p.id: p.error for p in audit.failed},
            "problems": audit.problems,
            "new": [f.as_dict() for f in new[:200]],
        }
        values = dict(
            target_name=audit.target, started_at=audit.started_at, finished_at=audit.finished_at,
            pages=figures.pages, audited=figures.audited, failed=figures.failed, passed=figures.passed,
            violations=figures.violations, incomplete=figures.incomplete, compliance=figures.compliance,
            new_violations=len(new), new_serious=sum(1 for f in new if f.impact in SERIOUS),
            report_path=report_path, summary=summary, run_key=run_key)
        with self.engine.begin() as conn:
            audit_id = None if run_key is None else conn.execute(select(a11y_audits.c.id).where(
                a11y_audits.c.run_key == run_key, a11y_audits.c.target_name == audit.target)).scalar()
            if audit_id is None:
                audit_id = conn.execute(insert(a11y_audits).values(**values).returning(a11y_audits.c.id)).scalar_one()
            else:
                conn.execute(update(a11y_audits).where(a11y_audits.c.id == audit_id).values(**values))
                conn.execute(delete(a11y_findings).where(a11y_findings.c.audit_id == audit_id))
            rows = [{"audit_id": audit_id, "fingerprint": f.fingerprint, "page_id": f.page_id,
                     "component": f.component, "rule": f.rule, "impact": f.impact, "selector": f.selector}
                    for f in audit.violations]
            if rows:
                conn.execute(insert(a11y_findings), rows)
        return self.get(audit_id)

    def get(self, audit_id: int) -> AuditRow:
        with self.engine.connect() as conn:
            return _row(conn.execute(select(a11y_audits).where(a11y_audits.c.id == audit_id)).one())
