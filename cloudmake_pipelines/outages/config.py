"""Outage-detection settings: the ``outages`` group of :mod:`cloudmake_pipelines.settings`
(``CLOUDMAKE_MCP_OUTAGE_THRESHOLD_SECONDS``, ``CLOUDMAKE_MCP_FLAP_WINDOW_SECONDS``, ``CLOUDMAKE_MCP_BREAKER_URL``,
``CLOUDMAKE_MCP_BREAKER_TOKEN``, ``CLOUDMAKE_MCP_FALLBACKS``), overridden by arguments, plus the detector's
internal bounds."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..logs import redactor
from ..settings import Outages, Secret


@dataclass(frozen=True)
class OutageConfig:
    """The detector's settings: the validated ``outages`` group (see :meth:`from_group`) and internal bounds."""

    threshold_seconds: float = 90.0
    flap_window_seconds: float = 300.0
    endpoint_url: str | None = None
    endpoint_token: Secret | None = None
    fallbacks_file: Path | None = None
    batch_size: int = 5000
    #: A tick reads at most this many transitions; a bigger backlog is caught up over the next ticks.
    max_transitions_per_tick: int = 100_000
    #: How long a missing transition id (a transaction still open on PostgreSQL) is waited for.
    gap_ttl_seconds: float = 600.0
    max_gaps: int = 500
    #: "Resolved" notifications are re-requested for this long (Dagster's run key keeps them single).
    resolved_retry_seconds: float = 86_400.0

    @property
    def source(self) -> str:
        return "http" if self.endpoint_url else "database"

    @classmethod
    def from_group(cls, group: Outages) -> OutageConfig:
        """The validated ``outages`` settings group as the detector uses it."""
        if group.endpoint_token:
            redactor.add(group.endpoint_token.reveal())
        return cls(**group.model_dump(exclude={"endpoint_token"}), endpoint_token=group.endpoint_token)

