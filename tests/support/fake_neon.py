"""A fake of Neon's branch API on real HTTP (127.0.0.1), answering as https://api-docs.neon.tech documents.

* ``DELETE /api/v2/projects/{project_id}/branches/{branch_id}``: 200 with ``{"branch", "operations"}``
  for an existing branch, 404 ``{"code", "message"}`` for one that does not exist (or was deleted).
* ``GET`` of the same path: 200 with the branch, or 404.
* ``Authorization: Bearer <key>`` is required: anything else gets 401.
* Trouble comes from the base (tests/support/fakes.py), e.g. ``fail_next("/branches/br-a$", 429,
  headers={"Retry-After": "1"})``; injected failures carry Neon's ``{"code", "message"}`` body.

Every request is recorded (:attr:`FakeNeon.requests`) with its arrival time, so tests can check waits.
"""

from __future__ import annotations

import uuid

from starlette.requests import Request
from starlette.responses import JSONResponse

from .fakes import FakeServer, Recorded

API_KEY = "neon_api_key_for_tests_0123456789"
_MESSAGES = {
    401: "authorization failed",
    404: "branch not found",
    423: "project already has running conflicting operations, scheduling of new ones is prohibited",
    429: "rate limit exceeded",
    500: "internal server error",
    503: "service unavailable",
}


class FakeNeon(FakeServer):
    def __init__(self, api_key: str = API_KEY):
        super().__init__()
        self.api_key = api_key
        self.branches: dict[tuple[str, str], dict] = {}
        self.route("/api/v2/projects/{project_id}/branches/{branch_id}", ["GET", "DELETE"])(self._branch)

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/v2"

    def add_branch(self, project_id: str, branch_id: str, name: str | None = None) -> None:
        self.branches[(project_id, branch_id)] = {
            "id": branch_id, "project_id": project_id, "name": name or branch_id, "parent_id": "br-main",
            "current_state": "ready", "default": False, "protected": False,
            "created_at": "2026-11-25T10:00:00Z", "updated_at": "2026-11-25T10:00:00Z",
        }

    def deletes(self, branch_id: str | None = None) -> list[Recorded]:
        return [r for r in self.requests if r.method == "DELETE" and (branch_id is None or r.path.endswith(
            f"/branches/{branch_id}"))]

    def admit(self, request: Recorded) -> JSONResponse | None:
        return None if request.bearer == self.api_key else JSONResponse(self.error_body(401), status_code=401)

    def error_body(self, status: int) -> dict:
        return {"code": "", "message": _MESSAGES.get(status, "error")}

    async def _branch(self, request: Request) -> JSONResponse:
        project_id, branch_id = request.path_params["project_id"], request.path_params["branch_id"]
        branch = self.branches.get((project_id, branch_id))
        if branch is None:
            return JSONResponse(self.error_body(404), status_code=404)
        if request.method == "GET":
            return JSONResponse({"branch": branch})
        del self.branches[(project_id, branch_id)]
        operation = {"id": str(uuid.uuid4()), "project_id": project_id, "branch_id": branch_id,
                     "action": "delete_timeline", "status": "running", "failures_count": 0,
                     "created_at": "2026-11-29T10:00:00Z", "updated_at": "2026-11-29T10:00:00Z"}
        return JSONResponse({"branch": {**branch, "current_state": "deleted"}, "operations": [operation]})
