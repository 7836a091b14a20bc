"""A fake GitHub REST API on 127.0.0.1 that behaves as the documented one where our code depends on it.

What every endpoint gets from this base: token check (401 ``Bad credentials``), ``x-ratelimit-*`` headers
counting down, ``Link`` pagination (``per_page``/``page``, ``rel="next"``/``"last"``), and injected
failures (status, headers, how many times) for rate limits and 5xx. Domain fakes add their endpoints
with :meth:`FakeGitHub.route` (see fake_github_*.py) and keep their state on the instance.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@dataclass
class InjectedFailure:
    method: str
    path_pattern: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1
    body: dict[str, Any] = field(default_factory=lambda: {"message": "injected failure"})


class FakeGitHub:
    def __init__(self, token: str, *, rate_limit: int = 5000):
        self.token = token
        self.rate_limit = rate_limit
        self.rate_used = 0
        self.requests: list[tuple[str, str, Any]] = []  # (method, path, json body or None)
        self.failures: list[InjectedFailure] = []
        self._routes: list[Route] = []
        #: When set, every response carries ``Date`` from this clock (a domain fake's movable clock).
        self.clock: Callable[[], datetime] | None = None

    # -- configuration -------------------------------------------------------------------------------
    def fail(self, method: str, path_pattern: str, status: int, *, times: int = 1,
             headers: dict[str, str] | None = None, message: str = "injected failure") -> None:
        """The next ``times`` requests matching ``method`` and the ``path_pattern`` regex get ``status``."""
        self.failures.append(InjectedFailure(method, path_pattern, status, headers or {}, times,
                                             {"message": message}))

    def route(self, path: str, methods: list[str]):
        """Decorator for a domain endpoint handler ``async def h(request) -> Response``."""

        def register(handler):
            self._routes.append(Route(path, self._wrap(handler), methods=methods))
            return handler

        return register

    def writes(self) -> list[tuple[str, str, Any]]:
        return [r for r in self.requests if r[0] in ("PUT", "POST", "PATCH", "DELETE")]

    # -- plumbing --------------------------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        date = {"date": format_datetime(self.clock(), usegmt=True)} if self.clock else {}
        return {**date,
            "x-ratelimit-limit": str(self.rate_limit),
            "x-ratelimit-remaining": str(max(0, self.rate_limit - self.rate_used)),
            "x-ratelimit-used": str(self.rate_used),
            "x-ratelimit-reset": str(int(time.time()) + 3600),
            "x-ratelimit-resource": "core",
        }

    def _wrap(self, handler):
        async def endpoint(request: Request) -> Response:
            body = None
            if request.method in ("PUT", "POST", "PATCH"):
                raw = await request.body()
                body = await request.json() if raw else None
            self.requests.append((request.method, request.url.path, body))
            if request.headers.get("authorization") != f"Bearer {self.token}":
                return JSONResponse({"message": "Bad credentials", "status": "401"}, status_code=401)
            self.rate_used += 1
            for failure in self.failures:
                if failure.times > 0 and failure.method == request.method and re.search(
                        failure.path_pattern, request.url.path):
                    failure.times -= 1
                    return JSONResponse(failure.body, status_code=failure.status,
                                        headers={**self._headers(), **failure.headers})
            response = await handler(request)
            response.headers.update(self._headers())
            return response

        return endpoint

    @property
    def app(self) -> Starlette:
        return Starlette(routes=list(self._routes))


def paginated(request: Request, items: list[Any], *, wrap: str | None = None) -> JSONResponse:
    """A list response with GitHub's ``per_page``/``page`` and ``Link`` header (rel next/last)."""
    per_page = min(int(request.query_params.get("per_page", 30)), 100)
    page = int(request.query_params.get("page", 1))
    last = max(1, -(-len(items) // per_page))
    chunk = items[(page - 1) * per_page: page * per_page]
    links = []
    if page < last:
        links.append(f'<{request.url.include_query_params(page=page + 1, per_page=per_page)}>; rel="next"')
        links.append(f'<{request.url.include_query_params(page=last, per_page=per_page)}>; rel="last"')
    body: Any = {"total_count": len(items), wrap: chunk} if wrap else chunk
    return JSONResponse(body, headers={"link": ", ".join(links)} if links else {})
