"""The load-test thresholds file (the seed's ``loadTestThresholds.json``), validated by pydantic models.

Effective settings for a server are, in order of precedence: the registry's per-server overrides, the
file's ``servers.<name>`` section, the file's ``defaults``, then :data:`BUILTIN`. A malformed file fails
through :func:`cloudmake_pipelines.configfile.load_model`: the file's path, the field, the value and what
was expected (exit 2); numbers must be finite and in range.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from ..configfile import load_model, validate
from ..settings import get_settings

PACKAGED = Path(__file__).with_name("loadTestThresholds.json")
ENV_VARIABLE = "CLOUDMAKE_MCP_THRESHOLDS"
LIST_OPERATIONS = ("tools/list", "resources/list", "prompts/list")


#: A latency target above the longest request timeout (300 s) could never fail: out of range, like NaN.
MAX_LATENCY_MS = 300_000


@dataclass(frozen=True)
class Thresholds:
    """Everything one server's load test needs: the SC-021 target, alert conditions and the load shape."""

    sc021_p95_ms: float = 500.0
    alert_p95_ms: float = 750.0
    alert_error_rate: float = 0.05
    rate_per_second: float = 20.0
    duration_seconds: float = 30.0
    max_in_flight: int = 64
    request_timeout_seconds: float = 5.0
    max_pages: int = 100
    operations: tuple[str, ...] = LIST_OPERATIONS

    def merged(self, overrides: Mapping[str, Any]) -> Thresholds:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update({k: tuple(v) if k == "operations" else v for k, v in overrides.items()})
        return Thresholds(**values)


BUILTIN = Thresholds()


#: An MCP method: ``ping`` (the runner sends it, skipping it on session-less servers) or ``area/method``.
Operation = Annotated[str, StringConstraints(pattern=r"^(ping|[a-z]+(/[a-zA-Z_]+)+)$")]


def _unique(operations: list[str] | None) -> list[str] | None:
    if operations is not None and len(set(operations)) != len(operations):
        raise ValueError("operations without repeats")
    return operations


class Overrides(BaseModel):
    """Any subset of the settings: a server's section of the file, the registry's or the CLI's overrides."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)

    sc021_p95_ms: float | None = Field(None, gt=0, le=MAX_LATENCY_MS, description="SC-021: list operations p95 target (ms).")
    alert_p95_ms: float | None = Field(None, gt=0, le=MAX_LATENCY_MS,
                                       description="Alert when an operation's p95 exceeds this (ms).")
    alert_error_rate: float | None = Field(None, ge=0, le=1, description="Alert above this error fraction.")
    rate_per_second: float | None = Field(None, gt=0, le=5000, description="Constant arrival rate (open model).")
    duration_seconds: float | None = Field(None, gt=0, le=3600)
    max_in_flight: int | None = Field(None, ge=1, le=10_000, description="Concurrency cap; the rest is dropped.")
    request_timeout_seconds: float | None = Field(None, gt=0, le=300)
    max_pages: int | None = Field(None, ge=1, le=10_000, description="Pagination bound per list operation.")
    operations: Annotated[list[Operation] | None, AfterValidator(_unique)] = Field(
        None, min_length=1, description="Operations to test; those the server does not advertise are skipped.")

    def given(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class Defaults(Overrides):
    sc021_p95_ms: float = Field(gt=0, le=MAX_LATENCY_MS)
    alert_p95_ms: float = Field(gt=0, le=MAX_LATENCY_MS)
    alert_error_rate: float = Field(ge=0, le=1)


class Document(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    schema_: str | None = Field(None, alias="$schema")
    defaults: Defaults
    servers: dict[str, Overrides] = Field(default_factory=dict, description="Per-server overrides, by name.")


def validate_overrides(overrides: Mapping[str, Any], source: str = "thresholds") -> None:
    """Check per-server overrides (from the registry or the CLI) like the file's ``servers`` sections."""
    validate(Overrides, dict(overrides), source)


@dataclass(frozen=True)
class ThresholdsFile:
    path: str
    defaults: Thresholds
    servers: Mapping[str, Mapping[str, Any]]

    def for_server(self, name: str, registry_overrides: Mapping[str, Any] | None = None) -> Thresholds:
        return self.defaults.merged(self.servers.get(name, {})).merged(registry_overrides or {})


def resolve_path(path: str | os.PathLike[str] | None = None) -> Path:
    """``path``, else ``$CLOUDMAKE_MCP_THRESHOLDS``, else the packaged default file."""
    return Path(path or get_settings().loadtest.thresholds_file or PACKAGED)


def load_thresholds(path: str | os.PathLike[str] | None = None) -> ThresholdsFile:
    """Read and validate the thresholds file. Raises :class:`ConfigError` naming the file and field."""
    file = resolve_path(path)
    document = load_model(file, Document,
                          missing=f"thresholds file not found (set {ENV_VARIABLE} or pass --thresholds)")
    servers = {name: section.given() for name, section in document.servers.items()}
    return ThresholdsFile(str(file), BUILTIN.merged(document.defaults.given()), servers)
