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
from typing import Any

import yaml

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


def _expand(value: str, path: Path) -> str:
    def env(match: re.Match) -> str:
        value = get_settings().variable(match.group(1))
        if value is None:
            raise SpecError(path, f"${{{match.group(1)}}} is used but the environment variable is not set")
        return value

    return _VAR.sub(env, value)


def _section(raw: dict, name: str, keys: set[str], path: Path) -> dict[str, Any]:
    section = raw.get(name) or {}
    if not isinstance(section, dict):
        raise SpecError(path, f"'{name}' must be a mapping with keys {', '.join(sorted(keys))}")
    unknown = set(section) - keys
    if unknown:
        raise SpecError(path, f"'{name}' has unknown key(s) {', '.join(sorted(unknown))}: "
                              f"expected {', '.join(sorted(keys))}")
    return section


def _string_list(section: dict, key: str, where: str, path: Path) -> list[str]:
    value = section.get(key, [])
    value = [value] if isinstance(value, str) else value
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SpecError(path, f"'{where}.{key}' must be a string or a list of strings")
    return value


def load_config(root: Path, config_path: Path | None = None) -> DriftConfig:
    """Read ``drift.yaml`` (or ``config_path``); a target without one gets the defaults."""
    root = root.resolve()
    if not root.is_dir():
        raise SpecError(root, "the drift target is not a directory")
    path = config_path or root / CONFIG_FILE
    raw: dict[str, Any] = {}
    if path.is_file():
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.MarkedYAMLError as exc:
            line = exc.problem_mark.line + 1 if exc.problem_mark else None
            raise SpecError(path, f"not valid YAML: {exc.problem}", line) from None
        if not isinstance(raw, dict):
            raise SpecError(path, "expected a mapping of settings (specs, database, routes, schemas, tokens)")
    elif config_path:
        raise SpecError(path, "config file not found")
    top = {"specs", "python_path", "allowlist", "database", "routes", "schemas", "tokens"}
    if set(raw) - top:
        raise SpecError(path, f"unknown key(s) {', '.join(sorted(set(raw) - top))}: expected {', '.join(sorted(top))}")
    database = _section(raw, "database", {"url", "migrations", "sql", "ignore_tables"}, path)
    if len({"url", "migrations", "sql"} & set(database)) > 1:
        raise SpecError(path, "database: give one of url, migrations or sql")
    if "url" in database:
        database["url"] = _expand(str(database["url"]), path)
    if "sql" in database:
        database["sql"] = _string_list(database, "sql", "database", path)
    database["ignore_tables"] = _string_list(database, "ignore_tables", "database", path) or ["alembic_version"]
    routes = _section(raw, "routes", {"openapi", "scan", "ignore"}, path)
    openapi = routes.get("openapi") or {}
    if not isinstance(openapi, dict) or set(openapi) - {"app", "file", "url"}:
        raise SpecError(path, "routes.openapi must be a mapping with app, file and/or url")
    if "url" in openapi:
        openapi["url"] = _expand(str(openapi["url"]), path)
    routes["openapi"] = openapi
    for key in ("scan", "ignore"):
        routes[key] = _string_list(routes, key, "routes", path)
    schemas = _section(raw, "schemas", {"openapi", "jsonschema", "pydantic", "ignore"}, path)
    schemas.setdefault("openapi", bool(openapi))
    for key in ("jsonschema", "pydantic"):
        schemas[key] = _string_list(schemas, key, "schemas", path)
    schemas["ignore"] = (_string_list(schemas, "ignore", "schemas", path)
                         if "ignore" in schemas else ["HTTPValidationError", "ValidationError"])
    tokens = _section(raw, "tokens", {"css"}, path)
    tokens["css"] = _string_list(tokens, "css", "tokens", path)
    python_path = raw.get("python_path", ["."])
    return DriftConfig(
        root=root,
        specs=root / str(raw.get("specs", "specs")),
        allowlist=root / str(raw.get("allowlist", "drift-allowlist.yaml")),
        python_path=[root / p for p in ([python_path] if isinstance(python_path, str) else python_path)],
        database=database, routes=routes, schemas=schemas, tokens=tokens,
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
