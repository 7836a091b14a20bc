"""Accessibility audit automation (seed "Future Enhancements", SC-003 ≥ 98 % AA compliance), as plain Python.

* :mod:`.targets` — what is audited: a Storybook (its story index) and/or page URLs.
* :mod:`.browser` — one target audited in headless Chromium (Playwright) with axe-core: :func:`audit_target`.
* :mod:`.results` — per page, component and audit: the one definition of AA compliance.
* :mod:`.store` — audits kept as history, and the violations new since the previous audit.
* :mod:`.report` — the self-contained HTML report and the JSON one.
* :mod:`.service` — a run: audit, store, report, alert.
"""

from ..lazy import lazy_exports

# name -> submodule; imported on first use (see lazy.py): loading the Dagster definitions does not import
# the browser's HTTP client or the report's templates.
_EXPORTS = {
    "AuditOptions": ".browser", "audit_target": ".browser", "find_chromium": ".browser", "WCAG_TAGS": ".results",
    "Figures": ".results", "Finding": ".results", "PageResult": ".results", "TargetAudit": ".results",
    "compliance": ".results", "Auditor": ".service", "Outcome": ".service", "open_auditor": ".service",
    "AuditRow": ".store", "AuditStore": ".store", "Target": ".targets", "TargetError": ".targets",
    "TargetRegistry": ".targets",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)

__all__ = ["WCAG_TAGS", "AuditOptions", "AuditRow", "AuditStore", "Auditor", "Figures", "Finding", "Outcome",
           "PageResult", "Target", "TargetAudit", "TargetError", "TargetRegistry", "audit_target", "compliance",
           "find_chromium", "open_auditor"]
