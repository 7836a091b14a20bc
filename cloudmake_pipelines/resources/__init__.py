"""Dagster resources: thin, configurable handles on the domain's clients.

Defaults come from :mod:`cloudmake_pipelines.settings` at run time, so nothing secret is ever stored in
a resource's config (which the Dagster UI shows).
"""

from __future__ import annotations

from functools import lru_cache

import dagster as dg
from sqlalchemy import Engine

from ..alerts import Alerter
from ..db.engine import make_engine
from ..settings import Settings, get_settings


@lru_cache(maxsize=16)
def _engine_for(url: str) -> Engine:
    return make_engine(url)


class DatabaseResource(dg.ConfigurableResource):
    """The platform database. ``url`` unset means ``DATABASE_URL`` (or the embedded SQLite default)."""

    url: str | None = None

    def get_engine(self) -> Engine:
        return _engine_for(self.url or get_settings().database_url)


class AlertsResource(dg.ConfigurableResource):
    """Where alerts go. ``webhook_url`` unset means ``ALERT_WEBHOOK_URL`` (or log-only when that is unset)."""

    webhook_url: str | None = None

    def get_alerter(self) -> Alerter:
        return Alerter(self.webhook_url or get_settings().alert_webhook_url)


class SettingsResource(dg.ConfigurableResource):
    """The validated process settings (environment, credentials), for assets that need them."""

    def get(self) -> Settings:
        return get_settings()


def shared_resources() -> dict[str, dg.ConfigurableResource]:
    return {"database": DatabaseResource(), "alerts": AlertsResource(), "settings": SettingsResource()}
