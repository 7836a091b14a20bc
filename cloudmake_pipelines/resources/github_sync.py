"""Dagster resource for the GitHub secrets sync: where GitHub is and how fast to write (no secrets here)."""

from __future__ import annotations

import dataclasses

import dagster as dg
from sqlalchemy import Engine

from ..github.service import SyncConfig, SyncService
from ..settings import get_settings


class GitHubSyncResource(dg.ConfigurableResource):
    """Unset fields fall back to ``GITHUB_API_URL`` / ``GITHUB_SYNC_WRITE_INTERVAL``; the token is ``GITHUB_TOKEN``."""

    api_url: str | None = None
    write_interval_seconds: float | None = None

    def open(self, engine: Engine) -> SyncService:
        settings = get_settings()
        config = SyncConfig.from_env(settings)
        overrides = {"api_url": self.api_url, "write_interval_seconds": self.write_interval_seconds}
        config = dataclasses.replace(config, **{k: v for k, v in overrides.items() if v is not None})
        return SyncService(engine, settings, config=config)
