"""Routes: the spec's paths and methods against the code's, with paths in one normal form.

Normal form: ``:id`` (Express, Hono, with or without a Hono ``{regex}`` constraint) and ``{id:path}``
(Starlette converters) become ``{id}``; slashes are collapsed; no trailing slash; mount prefixes and the
first ``servers`` URL's path are joined in front. Two routes with the same method and the same shape
but other parameter names are one *renamed* item, not a missing plus an extra.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from .model import DriftItem

HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
_EXPRESS_PARAM = re.compile(r":(\w+)(?:\{[^}]*\})?\??")
_CONVERTER = re.compile(r"\{(\w+):[^}]*\}")
_PARAM = re.compile(r"\{([^}]*)\}")


@dataclass(frozen=True)
class Route:
    method: str  # upper case
    path: str  # normal form
    location: str = ""

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"


def normalize_path(path: str, prefix: str = "") -> str:
    path = f"{prefix}/{path}" if prefix else path
    path = _EXPRESS_PARAM.sub(r"{\1}", _CONVERTER.sub(r"{\1}", path))
    path = "/" + "/".join(part for part in path.split("/") if part)
    return path


def shape(path: str) -> str:
    return _PARAM.sub("{}", path)


def server_prefix(doc: dict[str, Any]) -> str:
    servers = doc.get("servers") or []
    url = servers[0].get("url", "") if servers and isinstance(servers[0], dict) else ""
    return urlparse(url).path if "://" in url else url


def openapi_routes(doc: dict[str, Any], location: str, lines: dict[str, str] | None = None) -> list[Route]:
    """Every (method, path) of an OpenAPI 3.x document, joined to its first server's path.
    ``lines`` maps a path as written to a more precise location (``file:line``)."""
    prefix = server_prefix(doc)
    routes = []
    for path, item in (doc.get("paths") or {}).items():
        if isinstance(item, dict):
            where = (lines or {}).get(path, location)
            routes += [Route(m.upper(), normalize_path(path, prefix), where) for m in item if m in HTTP_METHODS]
    return routes


def compare(spec: list[Route], code: list[Route], ignore: list[str] = ()) -> list[DriftItem]:
    ignored = {f"{m.upper()} {normalize_path(p.strip())}" for m, _, p in (e.strip().partition(" ") for e in ignore)}
    code = [r for r in code if r.name not in ignored]
    spec_names = {r.name for r in spec}
    code_by_name = {r.name: r for r in code}
    code_by_shape: dict[tuple[str, str], list[Route]] = {}
    for route in code:
        if route.name not in spec_names:
            code_by_shape.setdefault((route.method, shape(route.path)), []).append(route)
    items, renamed = [], set()
    for route in {r.name: r for r in spec}.values():
        if route.name in code_by_name or route.name in ignored:
            continue
        twins = code_by_shape.get((route.method, shape(route.path)), [])
        twin = next((t for t in twins if t.name not in renamed), None)
        if twin:
            renamed.add(twin.name)
            items.append(DriftItem("routes", "renamed", route.name, route.path, twin.path,
                                   f"{route.location} / {twin.location}"))
        else:
            items.append(DriftItem("routes", "missing", route.name, route.name, None, route.location))
    for route in code_by_name.values():
        if route.name not in spec_names and route.name not in renamed:
            items.append(DriftItem("routes", "extra", route.name, None, route.name, route.location))
    return items
