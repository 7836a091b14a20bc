"""The ``token_propagation`` resource: the SC-002 objective and how apps are polled (no secrets here)."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import Field

from ..alerts import Alerter
from ..db.types import utcnow
from ..settings import get_settings
from ..tokens.monitor import Monitor, open_monitor
from . import DatabaseResource, SettingsBacked


class TokenPropagationResource(SettingsBacked):
    """The ``tokens`` settings (``CLOUDMAKE_TOKENS_*``)."""

    GROUP: ClassVar[str] = "tokens"
    slo_seconds: str | None = Field(None, description="SC-002 objective in seconds (CLOUDMAKE_TOKENS_SLO_SECONDS, 300).")
    poll_timeout_seconds: str | None = Field(None, description="Per-app poll timeout (CLOUDMAKE_TOKENS_POLL_TIMEOUT, 5).")
    poll_concurrency: str | None = Field(None, description="Apps polled at once (CLOUDMAKE_TOKENS_POLL_CONCURRENCY, 16).")

    def now(self) -> datetime:
        """The tick's clock (tests inject another by subclassing)."""
        return utcnow()

    def monitor(self, database: DatabaseResource, alerter: Alerter) -> Monitor:
        return open_monitor(database.get_engine(), get_settings(), alerter, clock=self.now,
                            **{name: getattr(self, name) for name in self._fields()})
