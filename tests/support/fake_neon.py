"""A fake of Neon's branch API on real HTTP (127.0.0.1), answering as https://api-docs.neon.tech documents.

* ``DELETE /api/v2/projects/{project_id}/branches/{branch_id}``: 200 with ``{"branch", "operations"}``
  for an existing branch, 404 ``{"code", "message"}`` for one that does not exist (or was deleted).
* ``GET`` of the same path: 200 with the branch, or 404.
* ``Authorization: Bearer <key>`` is required: anything else gets 401.
* Scripted trouble per branch (:meth:`FakeNeon.fail_next`): 429 with ``Retry-After``, 423 (conflicting
  operations), 500... each answered once, in order, before the branch behaves normally again.

Every request is recorded (:attr:`FakeNeon.requests`) with its arrival time, so tests can check waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Iterator
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .servers import serve_asgi

API_KEY = "neon_api_key_for_tests_0123456789"
_MESSAGES = {
    401: "authorization failed",
    404: "branch not found",
    423: "project already has running conflicting operations, scheduling of new ones is prohibited",
    429: "rate limit exceeded",
    500: "internal server error",
    503: "service unavailable",
}


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    status: int
    at: float  # time.monotonic() on arrival
    authorized: bool


class FakeNeon:
    def __init__(self, api_key: str = API_KEY, delay_seconds: float = 0.0):
        self.api_key = api_key
        self.delay_seconds = delay_seconds  # answer this much later (to make overlapping clients overlap)
        self.branches: dict[tuple[str, str], dict] = {}
        self.requests: list[Recorded] = []
        self._script: dict[str, deque[tuple[int, str | None]]] = defaultdict(deque)
        self._lock = threading.Lock()
        self.app = Starlette(routes=[
            Route("/api/v2/projects/{project_id}/branches/{branch_id}", self._branch, methods=["GET", "DELETE"]),
        ])

    def add_branch(self, project_id: str, branch_id: str, name: str | None = None) -> None:
        self.branches[(project_id, branch_id)] = {
            "id": branch_id, "project_id": project_id, "name": name or branch_id, "parent_id": "br-main",
            "current_state": "ready", "default": False, "protected": False,
            "created_at": "2026-11-25T10:00:00Z", "updated_at": "2026-11-25T10:00:00Z",
        }

    def fail_next(self, branch_id: str, *statuses: int, retry_after: str | None = None) -> None:
        """The next requests for ``branch_id`` get these statuses (429s carry ``retry_after`` when given)."""
        for status in statuses:
            self._script[branch_id].append((status, retry_after if status in (429, 503) else None))

    def deletes(self, branch_id: str | None = None) -> list[Recorded]:
        return [r for r in self.requests if r.method == "DELETE" and (branch_id is None or r.path.endswith(
            f"/branches/{branch_id}"))]

    def _error(self, status: int, headers: dict | None = None) -> JSONResponse:
        return JSONResponse({"code": "", "message": _MESSAGES.get(status, "error")}, status_code=status,
                            headers=headers)

    async def _branch(self, request: Request) -> JSONResponse:
        project_id, branch_id = request.path_params["project_id"], request.path_params["branch_id"]
        authorized = request.headers.get("authorization") == f"Bearer {self.api_key}"
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        with self._lock:
            response = self._answer(request.method, project_id, branch_id, authorized)
            self.requests.append(Recorded(request.method, request.url.path, response.status_code,
                                          time.monotonic(), authorized))
        return response

    def _answer(self, method: str, project_id: str, branch_id: str, authorized: bool) -> JSONResponse:
        if not authorized:
            return self._error(401)
        if self._script[branch_id]:
            status, retry_after = self._script[branch_id].popleft()
            return self._error(status, {"Retry-After": retry_after} if retry_after is not None else None)
        branch = self.branches.get((project_id, branch_id))
        if branch is None:
            return self._error(404)
        if method == "GET":
            return JSONResponse({"branch": branch})
        del self.branches[(project_id, branch_id)]
        operation = {"id": str(uuid.uuid4()), "project_id": project_id, "branch_id": branch_id,
                     "action": "delete_timeline", "status": "running", "failures_count": 0,
                     "created_at": "2026-11-29T10:00:00Z", "updated_at": "2026-11-29T10:00:00Z"}
        return JSONResponse({"branch": {**branch, "current_state": "deleted"}, "operations": [operation]})


@contextlib.contextmanager
def serve_fake_neon(fake: FakeNeon | None = None) -> Iterator[tuple[FakeNeon, str]]:
    """Run a fake Neon; yields it and its API base URL (``.../api/v2``)."""
    fake = fake or FakeNeon()
    with serve_asgi(fake.app) as base:
        yield fake, f"{base}/api/v2"
