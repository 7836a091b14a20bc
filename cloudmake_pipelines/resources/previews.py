"""The ``previews`` resource: where preview cleanup and metrics go. Nothing secret lives in its config."""

from __future__ import annotations

from typing import ClassVar

from sqlalchemy import Engine

from ..alerts import Alerter
from ..previews import Archiver, build_archiver
from ..settings import get_settings
from . import SettingsBacked


class PreviewsResource(SettingsBacked):
    """The ``previews`` settings: ``NEON_API_URL`` (default Neon's public API), ``PROMETHEUS_PUSHGATEWAY_URL``
    (unset: no push). The Neon key is ``NEON_API_KEY``, from the settings only."""

    GROUP: ClassVar[str] = "previews"
    neon_api_url: str | None = None
    pushgateway_url: str | None = None
    cleanup_limit: int = 200

    def get_archiver(self, engine: Engine, alerter: Alerter | None = None) -> Archiver:
        return build_archiver(engine, get_settings(), neon_api_url=self.neon_api_url,
                              pushgateway_url=self.pushgateway_url, alerter=alerter,
                              cleanup_limit=self.cleanup_limit)
