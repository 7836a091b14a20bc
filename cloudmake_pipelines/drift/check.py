"""One drift check of a target: read the spec, read the code, compare the four dimensions."""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import inspect
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from ..db.types import utcnow
from ..http import HttpClient, HttpError
from ..logs import get_logger
from . import allowlist, entities, routes, schemas, tokens
from .config import DEFAULT_SCAN, DriftConfig, load_config, walk_files
from .model import DriftItem, DriftReport, SpecError, sort_items
from .scan import scan
from .spec import Spec, load_spec

log = get_logger("drift")


@contextlib.contextmanager
def _import_path(paths: list[Path]) -> Iterator[None]:
    """Import the target's modules from ``paths``; forget them afterwards, so that two targets with
    the same module names (a drifted app and its clean twin) never see each other's code."""
    added = [str(p.resolve()) for p in paths if str(p.resolve()) not in sys.path]
    sys.path[:0] = added
    before = set(sys.modules)
    try:
        yield
    finally:
        for entry in added:
            with contextlib.suppress(ValueError):
                sys.path.remove(entry)
        for name in set(sys.modules) - before:  # only what came from the folders added here
            file = Path(getattr(sys.modules[name], "__file__", None) or "/").resolve()
            if any(file.is_relative_to(folder) for folder in added):
                del sys.modules[name]


def _import(spec: str, where: Path) -> Any:
    module_name, _, attribute = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
        return getattr(module, attribute) if attribute else module
    except Exception as exc:  # the target's own code failing to import is the target's error
        raise SpecError(where, f"cannot import {spec!r}: {type(exc).__name__}: {exc}") from None


def _openapi_documents(config: DriftConfig) -> list[tuple[dict[str, Any], str]]:
    """The code's own OpenAPI documents: from an app in-process, a generated file, a URL."""
    source, found = config.source or config.root, []
    settings = config.routes["openapi"]
    if "app" in settings:
        app = _import(settings["app"], source)
        if not hasattr(app, "openapi") and callable(app):
            app = app()  # an app factory
        if not hasattr(app, "openapi"):
            raise SpecError(source, f"routes.openapi.app {settings['app']!r} has no openapi(): expected a FastAPI app")
        try:
            found.append((app.openapi(), f"app {settings['app']}"))
        except Exception as exc:  # the target's app failing to describe itself is the target's error
            raise SpecError(source, f"{settings['app']}.openapi() failed: {type(exc).__name__}: {exc}") from None
    if "file" in settings:
        path = config.root / settings["file"]
        if not path.is_file():
            raise SpecError(source, f"routes.openapi.file: {settings['file']} not found")
        try:
            found.append((yaml.safe_load(path.read_text(encoding="utf-8")), settings["file"]))
        except yaml.YAMLError as exc:
            raise SpecError(path, f"not valid JSON or YAML: {exc}") from None
    if "url" in settings:
        try:
            with HttpClient(service="OpenAPI document", setting="routes.openapi.url", timeout=15,
                            follow_redirects=True) as http:
                response = http.get(settings["url"])
            if not response.is_success:
                raise SpecError(source, f"routes.openapi.url: could not fetch the document: HTTP {response.status_code}")
            found.append((response.json(), settings["url"]))
        except (HttpError, ValueError) as exc:
            raise SpecError(source, f"routes.openapi.url: could not fetch the document: {type(exc).__name__}: {exc}") from None
    for doc, where in found:
        if not isinstance(doc, dict) or not str(doc.get("openapi", "")).startswith("3."):
            raise SpecError(where, "the code's OpenAPI document is not OpenAPI 3.x")
    return found


def _check_entities(spec: Spec, config: DriftConfig, report: DriftReport) -> list[DriftItem]:
    with entities.database(config) as found:
        if found is None:
            if spec.entities:
                raise SpecError(config.source or config.root, f"the spec declares {len(spec.entities)} entities but "
                                "the target has no database to compare with: set database.url, database.migrations "
                                "or database.sql in drift.yaml")
            report.checked["entities"] = "skipped: no entities in the spec and no database"
            return []
        engine, described, label = found
        report.checked["entities"] = described
        actual = entities.reflect(engine, config.database["ignore_tables"], label)
        return entities.compare(spec.entities, actual, engine.dialect.name)


def _check_routes(spec: Spec, config: DriftConfig, report: DriftReport, docs) -> list[DriftItem]:
    code: list[routes.Route] = []
    sources = []
    for doc, where in docs:
        code += routes.openapi_routes(doc, where)
        sources.append(f"OpenAPI of {where}")
    if config.routes["scan"] or (not docs and spec.routes):
        files = walk_files(config.root, config.routes["scan"] or DEFAULT_SCAN)
        code += scan(config.root, files)
        sources.append(f"static scan of {len(files)} files")
    if not sources:
        report.checked["routes"] = "skipped: no paths in the spec and no code routes configured"
        return []
    report.checked["routes"] = ", ".join(sources)
    unique = {route.name: route for route in code}  # the static scan's file:line wins over "app x"
    return routes.compare(spec.routes, list(unique.values()), config.routes["ignore"])


def _pydantic_schemas(module_name: str, where: Path) -> dict[str, tuple[dict, str]]:
    module = _import(module_name, where)
    found = {}
    for name, value in vars(module).items():
        if inspect.isclass(value) and hasattr(value, "model_json_schema") and value.__module__ == module.__name__:
            doc = value.model_json_schema()
            found.update(schemas.json_schema_file(doc, name, f"{module_name}.{name}"))
    return found


def _check_schemas(spec: Spec, config: DriftConfig, report: DriftReport, docs) -> list[DriftItem]:
    settings, code, sources = config.schemas, {}, []
    if settings["openapi"]:
        for doc, where in docs:
            code.update(schemas.document_schemas(doc, where))
            sources.append(f"components of {where}")
    for path in walk_files(config.root, settings["jsonschema"]) if settings["jsonschema"] else []:
        display = str(path.relative_to(config.root))
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise SpecError(display, f"not valid JSON: {exc.msg}", exc.lineno) from None
        code.update(schemas.json_schema_file(doc, path.name.split(".")[0], display))
        sources.append(display)
    for module_name in settings["pydantic"]:
        code.update(_pydantic_schemas(module_name, config.source or config.root))
        sources.append(f"pydantic models of {module_name}")
    if not sources:
        if spec.schemas:
            raise SpecError(config.source or config.root, f"the contracts declare {len(spec.schemas)} schemas but no "
                            "code schemas are configured: set routes.openapi, schemas.jsonschema or schemas.pydantic")
        report.checked["schemas"] = "skipped: no component schemas in the contracts and none configured"
        return []
    report.checked["schemas"] = ", ".join(sources)
    return schemas.compare(spec.schemas, code, settings["ignore"])


def _check_tokens(spec: Spec, config: DriftConfig, report: DriftReport) -> list[DriftItem]:
    if not spec.tokens and not config.tokens["css"]:
        report.checked["tokens"] = "skipped: no design tokens in the spec and no CSS configured"
        return []
    files = walk_files(config.root, config.tokens["css"] or ["**/*.css"])
    report.checked["tokens"] = f"CSS custom properties of {len(files)} files"
    return tokens.compare(spec.tokens, tokens.read_css(files, config.root))


def scaffold_entities(target: Path | str, *, config_path: Path | None = None) -> list[str]:
    """``data-model.md`` blocks for the tables the database has and the spec does not declare."""
    config = load_config(Path(target), config_path)
    spec = load_spec(config)
    with _import_path(config.python_path), entities.database(config) as found:
        if found is None:
            raise SpecError(config.source or config.root, "the target has no database: set database.url, "
                            "database.migrations or database.sql in drift.yaml")
        actual = entities.reflect(found[0], config.database["ignore_tables"], found[2])
    return [entities.render(entity) for name, entity in sorted(actual.items()) if name not in spec.entities]


def code_revision(root: Path) -> str | None:
    """The target's git commit, if it is a git work tree."""
    try:
        result = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def run_check(target: Path | str, *, config_path: Path | None = None,
              clock: Callable[[], dt.datetime] = utcnow) -> DriftReport:
    """Compare a target's spec with its code. Raises :class:`SpecError` when the spec cannot be read."""
    started = time.perf_counter()
    config = load_config(Path(target), config_path)
    spec = load_spec(config)
    report = DriftReport(target=str(config.root), spec_digest=spec.digest)
    with _import_path(config.python_path):
        docs = _openapi_documents(config) if config.routes["openapi"] else []
        items = [*_check_entities(spec, config, report), *_check_routes(spec, config, report, docs),
                 *_check_schemas(spec, config, report, docs), *_check_tokens(spec, config, report)]
    entries = allowlist.load_allowlist(config.allowlist, str(config.allowlist.relative_to(config.root))
                                       if config.allowlist.is_relative_to(config.root) else str(config.allowlist))
    blocking, report.accepted, report.warnings = allowlist.apply(sort_items(items), entries, clock().date())
    report.items = blocking
    report.code_revision = code_revision(config.root)
    report.duration_ms = round((time.perf_counter() - started) * 1000, 1)
    log.info("drift check finished", extra={"target": report.target, "has_drift": report.has_drift,
                                            **{f"count_{k}": v for k, v in report.counts.items()},
                                            "duration_ms": report.duration_ms})
    for warning in report.warnings:
        log.warning(warning, extra={"target": report.target})
    return report
