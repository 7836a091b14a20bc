"""The load-test thresholds file (the seed's ``loadTestThresholds.json``), validated against a JSON schema.

Effective settings for a server are, in order of precedence: the registry's per-server overrides, the
file's ``servers.<name>`` section, the file's ``defaults``, then :data:`BUILTIN`. A malformed file fails
with the file's path, the field and what was expected.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema

from ..errors import ConfigError

PACKAGED = Path(__file__).with_name("loadTestThresholds.json")
SCHEMA_PATH = Path(__file__).with_name("thresholds.schema.json")
ENV_VARIABLE = "CLOUDMAKE_MCP_THRESHOLDS"
LIST_OPERATIONS = ("tools/list", "resources/list", "prompts/list")


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


@lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text())


def _fail(source: str, error: jsonschema.ValidationError) -> ConfigError:
    where = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    return ConfigError(f"{source}: {where}: {error.message}")


def validate_overrides(overrides: Mapping[str, Any], source: str = "thresholds") -> None:
    """Check per-server overrides (from the registry or the CLI) against the schema's settings object."""
    schema = {**_schema()["$defs"]["settings"], "$defs": _schema()["$defs"]}
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(dict(overrides)))
    if error is not None:
        raise _fail(source, error)


@dataclass(frozen=True)
class ThresholdsFile:
    path: str
    defaults: Thresholds
    servers: Mapping[str, Mapping[str, Any]]

    def for_server(self, name: str, registry_overrides: Mapping[str, Any] | None = None) -> Thresholds:
        return self.defaults.merged(self.servers.get(name, {})).merged(registry_overrides or {})


def resolve_path(path: str | os.PathLike[str] | None = None) -> Path:
    """``path``, else ``$CLOUDMAKE_MCP_THRESHOLDS``, else the packaged default file."""
    chosen = path or os.environ.get(ENV_VARIABLE) or PACKAGED
    return Path(chosen)


def load_thresholds(path: str | os.PathLike[str] | None = None) -> ThresholdsFile:
    """Read and validate the thresholds file. Raises :class:`ConfigError` naming the file and field."""
    file = resolve_path(path)
    try:
        document = json.loads(file.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{file}: thresholds file not found (set {ENV_VARIABLE} or pass --thresholds)") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{file}: not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(_schema()).iter_errors(document))
    if error is not None:
        raise _fail(str(file), error)
    return ThresholdsFile(str(file), BUILTIN.merged(document["defaults"]), document.get("servers", {}))
