"""A fake GitHub REST API on 127.0.0.1 that behaves as the documented one where our code depends on it.

What every endpoint gets from this base: token check (401 ``Bad credentials``), ``x-ratelimit-*`` headers
counting down (also on injected failures, which may override them), ``Link`` pagination (:func:`paginated`:
``per_page``/``page``, ``rel="next"``/``"last"``). Rate limits and 5xx are injected with the common fault
API (tests/support/fakes.py), e.g. ``fail_next("GET /things$", 403, headers={"retry-after": "7"},
body={"message": "You have exceeded a secondary rate limit"})``. Domain fakes add their endpoints with
``self.route`` (see fake_github_*.py) and keep their state on the instance.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from .fakes import FakeServer, Recorded


class FakeGitHub(FakeServer):
    def __init__(self, token: str, *, rate_limit: int = 5000):
        super().__init__()
        self.token = token
        self.rate_limit = rate_limit
        self.rate_used = 0

    def writes(self) -> list[Recorded]:
        return [r for r in self.requests if r.method in ("PUT", "POST", "PATCH", "DELETE")]

    def admit(self, request: Recorded) -> JSONResponse | None:
        if request.bearer != self.token:
            return JSONResponse({"message": "Bad credentials", "status": "401"}, status_code=401)
        self.rate_used += 1
        return None

    def headers(self) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(self.rate_limit),
            "x-ratelimit-remaining": str(max(0, self.rate_limit - self.rate_used)),
            "x-ratelimit-used": str(self.rate_used),
            "x-ratelimit-reset": str(int(time.time()) + 3600),
            "x-ratelimit-resource": "core",
        }


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
