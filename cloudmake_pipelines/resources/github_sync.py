"""Dagster resource for the GitHub secrets sync: where GitHub is and how fast to write (no secrets here)."""

from __future__ import annotations

from typing import ClassVar

from sqlalchemy import Engine

from ..github.service import SyncConfig, SyncService
from ..settings import get_settings
from . import SettingsBacked


class GitHubSyncResource(SettingsBacked):
    """The ``github`` settings (``GITHUB_API_URL``, ``GITHUB_SYNC_WRITE_INTERVAL``, ``GITHUB_SYNC_WRITES_PER_HOUR``);
    the token is ``GITHUB_TOKEN``, from the settings only."""

    GROUP: ClassVar[str] = "github"
    api_url: str | None = None
    write_interval_seconds: str | None = None
    writes_per_hour: str | None = None

    def open(self, engine: Engine) -> SyncService:
        settings = get_settings()
        return SyncService(engine, settings, config=SyncConfig.from_group(self.group(settings)))
