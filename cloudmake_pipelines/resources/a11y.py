"""The ``a11y`` resource: the SC-003 threshold and how pages are audited (no secrets here)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pydantic import Field

from ..alerts import Alerter
from ..settings import get_settings
from . import DatabaseResource, SettingsBacked

if TYPE_CHECKING:
    from ..a11y.service import Auditor


class AccessibilityAuditResource(SettingsBacked):
    """The ``a11y`` settings (``CLOUDMAKE_A11Y_*``)."""

    GROUP: ClassVar[str] = "a11y"
    threshold_percent: str | None = Field(None, description="SC-003 threshold in percent (CLOUDMAKE_A11Y_THRESHOLD, 98).")
    contexts: str | None = Field(None, description="Browser contexts at once (CLOUDMAKE_A11Y_CONTEXTS, 4).")
    page_timeout_seconds: str | None = Field(None, description="Per-page timeout (CLOUDMAKE_A11Y_PAGE_TIMEOUT, 30).")
    chromium: str | None = Field(None, description="Chromium executable (CLOUDMAKE_A11Y_CHROMIUM, default on PATH).")
    report_dir: str | None = Field(None, description="Report folder (CLOUDMAKE_A11Y_REPORT_DIR, <state dir>/a11y).")

    def auditor(self, database: DatabaseResource, alerter: Alerter) -> Auditor:
        from ..a11y.service import open_auditor, report_dir  # the browser and report: in the run, not at load

        settings = get_settings()
        group = self.group(settings)
        overrides = {name: getattr(self, name) for name in self._fields() if name != "report_dir"}
        return open_auditor(database.get_engine(), settings, alerter, reports=group.report_dir or report_dir(settings),
                            **overrides)

    def threshold(self) -> float:
        return self.group().threshold_percent
