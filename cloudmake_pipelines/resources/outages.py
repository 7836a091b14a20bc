"""The ``mcp_outages`` resource: how the outage detector reads breakers and when it alerts (no secrets here)."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import Field

from ..db.types import utcnow
from ..outages import DatabaseSource, HttpSource, OutageConfig, OutageDetector
from ..outages.fallbacks import Fallbacks
from . import DatabaseResource, SettingsBacked


class OutageDetectionResource(SettingsBacked):
    """The ``outages`` settings (``CLOUDMAKE_MCP_*``); the endpoint's token is ``CLOUDMAKE_MCP_BREAKER_TOKEN``,
    from the settings only."""

    GROUP: ClassVar[str] = "outages"
    endpoint_url: str | None = Field(None, description="Read breakers from this HTTP endpoint instead of "
                                     "the database (CLOUDMAKE_MCP_BREAKER_URL).")
    threshold_seconds: str | None = Field(None, description="Alert after this long out of CLOSED, in seconds "
                                          "(CLOUDMAKE_MCP_OUTAGE_THRESHOLD_SECONDS, 90).")
    flap_window_seconds: str | None = Field(None, description="Reopen within this = same outage, in seconds "
                                            "(CLOUDMAKE_MCP_FLAP_WINDOW_SECONDS, 300).")
    fallbacks_file: str | None = Field(None, description="Fallback guidance YAML (CLOUDMAKE_MCP_FALLBACKS).")

    def now(self) -> datetime:
        """The tick's clock (tests inject another by subclassing)."""
        return utcnow()

    def detector(self, database: DatabaseResource, environment: str) -> OutageDetector:
        config = OutageConfig.from_group(self.group())
        engine = database.get_engine()
        source = (HttpSource(config.endpoint_url, config.endpoint_token) if config.endpoint_url
                  else DatabaseSource(engine))
        return OutageDetector(source, engine, config, Fallbacks.load(config.fallbacks_file),
                              environment=environment)
