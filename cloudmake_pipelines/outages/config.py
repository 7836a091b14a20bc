"""Outage-detection settings: defaults, overridden by environment variables, overridden by arguments.

=========================================  =================================================
``CLOUDMAKE_MCP_OUTAGE_THRESHOLD_SECONDS``  alert when a server is out of CLOSED longer (90)
``CLOUDMAKE_MCP_FLAP_WINDOW_SECONDS``       a reopen within this after a close is the same
                                            outage; "resolved" waits this long (300)
``CLOUDMAKE_MCP_BREAKER_URL``               read breakers from this HTTP endpoint, not the DB
``CLOUDMAKE_MCP_BREAKER_TOKEN``             bearer token for that endpoint (optional, secret)
``CLOUDMAKE_MCP_FALLBACKS``                 the fallback guidance YAML file (optional)
=========================================  =================================================
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from ..logs import redactor
from ..settings import Secret


@dataclass(frozen=True)
class OutageConfig:
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

    def __post_init__(self) -> None:
        for name in ("threshold_seconds", "flap_window_seconds"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name}={getattr(self, name)}: expected 0 or more seconds")
        if self.endpoint_url and not self.endpoint_url.startswith(("http://", "https://")):
            raise ConfigError("CLOUDMAKE_MCP_BREAKER_URL: expected an http:// or https:// URL")

    @property
    def source(self) -> str:
        return "http" if self.endpoint_url else "database"


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected a number of seconds") from None


def load_config(environ: Mapping[str, str] | None = None, **overrides) -> OutageConfig:
    """Settings from ``environ`` (default ``os.environ``); keyword arguments that are not None win."""
    env = os.environ if environ is None else environ
    token = env.get("CLOUDMAKE_MCP_BREAKER_TOKEN", "").strip()
    redactor.add(token)
    values = {
        "threshold_seconds": _seconds(env, "CLOUDMAKE_MCP_OUTAGE_THRESHOLD_SECONDS", 90.0),
        "flap_window_seconds": _seconds(env, "CLOUDMAKE_MCP_FLAP_WINDOW_SECONDS", 300.0),
        "endpoint_url": env.get("CLOUDMAKE_MCP_BREAKER_URL", "").strip() or None,
        "endpoint_token": Secret(token) if token else None,
        "fallbacks_file": Path(env["CLOUDMAKE_MCP_FALLBACKS"]) if env.get("CLOUDMAKE_MCP_FALLBACKS") else None,
    }
    values.update({key: value for key, value in overrides.items() if value is not None})
    if isinstance(values["fallbacks_file"], str):
        values["fallbacks_file"] = Path(values["fallbacks_file"])
    return dataclasses.replace(OutageConfig(), **values)
