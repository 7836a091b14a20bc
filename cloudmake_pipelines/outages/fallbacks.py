"""Fallback guidance per MCP server, from a YAML file (graceful degradation, seed task 2 / T113).

    default:                      # for servers without their own entry (optional)
      message: Results may be delayed; retry later.
    servers:
      github-tools:
        alternative_server: github-tools-eu    # a registry name to route to instead
        cached_results: true                   # serve cached results ...
        cache_max_age_seconds: 3600            # ... up to this old
        disable_features: [pr-review-bot]      # features to switch off while degraded
        message: Reviews pause; cached file listings stay available.

The guidance goes into the outage alert and into ``mcp_degradation_status.fallback`` for clients.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PositiveInt

from ..configfile import load_model


class Guidance(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    alternative_server: str | None = Field(None, min_length=1, max_length=100)
    cached_results: bool = False
    cache_max_age_seconds: PositiveInt | None = None
    disable_features: list[str] = Field(default_factory=list)
    message: str | None = None

    def summary(self) -> str:
        parts = []
        if self.alternative_server:
            parts.append(f"route to '{self.alternative_server}'")
        if self.cached_results:
            age = f" (up to {self.cache_max_age_seconds}s old)" if self.cache_max_age_seconds else ""
            parts.append(f"serve cached results{age}")
        if self.disable_features:
            parts.append(f"disable {', '.join(self.disable_features)}")
        if self.message:
            parts.append(self.message)
        return "; ".join(parts)


class Fallbacks(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    default: Guidance | None = None
    servers: dict[str, Guidance] = Field(default_factory=dict)

    def for_server(self, server: str) -> Guidance | None:
        return self.servers.get(server, self.default)

    @classmethod
    def load(cls, path: Path | str | None) -> Fallbacks:
        """Read and validate ``path``; None means no guidance configured."""
        if path is None:
            return cls()
        return load_model(path, cls, missing="cannot read the fallback guidance file (not found)")

    def as_json(self, server: str) -> dict[str, Any] | None:
        guidance = self.for_server(server)
        if guidance is None:
            return None
        return {**guidance.model_dump(exclude_none=True), "summary": guidance.summary()}
