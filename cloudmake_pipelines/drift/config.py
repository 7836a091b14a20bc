"""The target's drift configuration: ``drift.yaml`` at the target's root, every key optional.

```yaml
specs: specs                         # spec-kit features: specs/NNN-feature/ (default "specs")
python_path: ["."]                   # prepended to sys.path to import apps and models (default ["."])
allowlist: drift-allowlist.yaml      # accepted drift (default "drift-allowlist.yaml", optional file)
database:                            # entities are compared with a database built or reached here:
  url: ${DRIFT_DATABASE_URL}         #   a live database (${VAR} reads the environment), or
  migrations: app/db/migrations      #   an Alembic script directory, upgraded into a temporary SQLite
  sql: [db/schema.sql]               #   SQL files executed into a temporary SQLite database
  ignore_tables: [alembic_version]   # default: alembic_version
routes:
  openapi:                           # the app's own OpenAPI document, from any of:
    app: "app.main:app"              #   a FastAPI (or any object with .openapi()) app, imported in-process
    file: openapi.json               #   a generated file (JSON or YAML)
    url: http://127.0.0.1:8000/openapi.json
  scan: ["src/**/*.ts", "app/**/*.py"]   # static scan of FastAPI, Express and Hono route registrations
  ignore: ["GET /health"]
schemas:
  openapi: true                      # the components of routes.openapi (default: true when it is set)
  jsonschema: ["schemas/*.json"]     # JSON Schema files (named by "title", else the file stem)
  pydantic: ["app.models"]           # modules whose pydantic models are the code's schemas
  ignore: [HTTPValidationError, ValidationError]   # default: FastAPI's built-in error schemas
tokens:
  css: ["web/styles/**/*.css"]       # CSS custom properties (--color-brand-primary) defining the tokens
```

When ``database`` is absent the target's Alembic directory is found (a folder holding ``env.py`` and
``versions/``); when ``routes`` is absent and the spec declares paths, the target's sources are scanned.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from ..configfile import load_model
from ..settings import get_settings
from .model import SpecError

CONFIG_FILE = "drift.yaml"
SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", ".mypy_cache", ".ruff_cache",
             ".pytest_cache", "dist", "build", ".tox", ".cloudmake"}
DEFAULT_SCAN = ["**/*.py", "**/*.js", "**/*.mjs", "**/*.cjs", "**/*.ts", "**/*.mts", "**/*.cts"]
_VAR = re.compile(r"\$\{(\w+)\}")


@dataclass
class DriftConfig:
    root: Path
    specs: Path
    allowlist: Path
    python_path: list[Path]
    database: dict[str, Any] = field(default_factory=dict)
    routes: dict[str, Any] = field(default_factory=dict)
    schemas: dict[str, Any] = field(default_factory=dict)
    tokens: dict[str, Any] = field(default_factory=dict)
    source: Path | None = None  # the config file, when there is one


def _listed(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


#: A string or a list of strings (both spellings are accepted in drift.yaml).
StringList = Annotated[list[str], BeforeValidator(_listed)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class DatabaseSection(_Section):
    url: str | None = None
    migrations: str | None = None
    sql: StringList | None = None
    ignore_tables: StringList = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_source(self) -> DatabaseSection:
        if sum(value is not None for value in (self.url, self.migrations, self.sql)) > 1:
            raise ValueError("one of url, migrations or sql, not several")
        return self


class OpenApiSection(_Section):
    app: str | None = None
    file: str | None = None
    url: str | None = None


class RoutesSection(_Section):
    openapi: OpenApiSection = Field(default_factory=OpenApiSection)
    scan: StringList = Field(default_factory=list)
    ignore: StringList = Field(default_factory=list)


class SchemasSection(_Section):
    openapi: bool | None = None
    jsonschema: StringList = Field(default_factory=list)
    pydantic: StringList = Field(default_factory=list)
    ignore: StringList = Field(default_factory=lambda: ["HTTPValidationError", "ValidationError"])


class TokensSection(_Section):
    css: StringList = Field(default_factory=list)


class DriftFile(_Section):
    """``drift.yaml`` as written (every key optional); :func:`load_config` resolves it against the target."""

    specs: str = "specs"
    python_path: StringList = Field(default_factory=lambda: ["."])
    allowlist: str = "drift-allowlist.yaml"
    database: DatabaseSection = Field(default_factory=DatabaseSection)
    routes: RoutesSection = Field(default_factory=RoutesSection)
    schemas: SchemasSection = Field(default_factory=SchemasSection)
    tokens: TokensSection = Field(default_factory=TokensSection)


def _expand(value: str, path: Path) -> str:
    def env(match: re.Match) -> str:
        value = get_settings().variable(match.group(1))
        if value is None:
            raise SpecError(path, f"${{{match.group(1)}}} is used but the environment variable is not set")
        return value

    return _VAR.sub(env, value)


def load_config(root: Path, config_path: Path | None = None) -> DriftConfig:
    """Read ``drift.yaml`` (or ``config_path``); a target without one gets the defaults."""
    root = root.resolve()
    if not root.is_dir():
        raise SpecError(root, "the drift target is not a directory")
    path = config_path or root / CONFIG_FILE
    if path.is_file() or config_path:
        raw = load_model(path, DriftFile, error=SpecError, missing="config file not found")
    else:
        raw = DriftFile()
    database = raw.database.model_dump(exclude_none=True)
    if "url" in database:
        database["url"] = _expand(database["url"], path)
    database["ignore_tables"] = database["ignore_tables"] or ["alembic_version"]
    routes = raw.routes.model_dump(exclude_none=True)
    if "url" in routes["openapi"]:
        routes["openapi"]["url"] = _expand(routes["openapi"]["url"], path)
    schemas = raw.schemas.model_dump()
    if schemas["openapi"] is None:
        schemas["openapi"] = bool(routes["openapi"])
    return DriftConfig(
        root=root,
        specs=root / raw.specs,
        allowlist=root / raw.allowlist,
        python_path=[root / p for p in raw.python_path],
        database=database, routes=routes, schemas=schemas, tokens=raw.tokens.model_dump(),
        source=path if path.is_file() else None,
    )


def glob_regex(patterns: list[str]) -> re.Pattern[str]:
    """One regex for several globs on POSIX relative paths: ``**/`` spans zero or more folders."""
    parts = []
    for pattern in patterns:
        regex = re.escape(pattern).replace(r"\*\*/", "(?:.*/)?").replace(r"\*\*", ".*")
        parts.append(regex.replace(r"\*", "[^/]*").replace(r"\?", "[^/]"))
    return re.compile("|".join(f"(?:{p})" for p in parts) or "(?!)")


def walk_files(root: Path, patterns: list[str]) -> list[Path]:
    """Files under ``root`` matching any glob, skipping vendored and cache folders."""
    matcher = glob_regex(patterns)
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        rel = os.path.relpath(dirpath, root)
        prefix = "" if rel == "." else rel.replace(os.sep, "/") + "/"
        found += [Path(dirpath, name) for name in sorted(filenames) if matcher.fullmatch(prefix + name)]
    return found
