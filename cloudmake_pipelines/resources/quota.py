"""Dagster resource for quota monitoring: its config file and Redis stream (the Redis URL, which may hold a
password, comes from the settings only)."""

from __future__ import annotations

from typing import ClassVar

from ..quota.report import QuotaConfig, load_config
from ..settings import Settings, get_settings
from . import SettingsBacked


class QuotaResource(SettingsBacked):
    """The ``quota`` settings: ``CLOUDMAKE_QUOTA_CONFIG`` (thresholds; unset: 6 of 24 hourly windows),
    ``CLOUDMAKE_QUOTA_STREAM``; ``CLOUDMAKE_QUOTA_REDIS_URL`` from the settings."""

    GROUP: ClassVar[str] = "quota"
    config_file: str | None = None
    stream: str | None = None

    def settings(self) -> Settings:
        settings = get_settings()
        return settings.model_copy(update={"quota": self.group(settings)})

    def config(self) -> QuotaConfig:
        return load_config(self.group().config_file)
