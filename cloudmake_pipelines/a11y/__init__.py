"""Accessibility audit automation (seed "Future Enhancements", SC-003 ≥ 98 % AA compliance), as plain Python.

* :mod:`.targets` — what is audited: a Storybook (its story index) and/or page URLs.
* :mod:`.browser` — one target audited in headless Chromium (Playwright) with axe-core: :func:`audit_target`.
* :mod:`.results` — per page, component and audit: the one definition of AA compliance.
* :mod:`.store` — audits kept as history, and the violations new since the previous audit.
* :mod:`.report` — the self-contained HTML report and the JSON one.
* :mod:`.service` — a run: audit, store, report, alert.
"""

from .browser import AuditOptions, audit_target, find_chromium
from .results import WCAG_TAGS, Figures, Finding, PageResult, TargetAudit, compliance
from .service import Auditor, Outcome, open_auditor
from .store import AuditRow, AuditStore
from .targets import Target, TargetError, TargetRegistry

__all__ = ["WCAG_TAGS", "AuditOptions", "AuditRow", "AuditStore", "Auditor", "Figures", "Finding", "Outcome",
           "PageResult", "Target", "TargetAudit", "TargetError", "TargetRegistry", "audit_target", "compliance",
           "find_chromium", "open_auditor"]
