"""A fake of Cloudflare's API v4 Worker-secrets endpoints, speaking real HTTP on 127.0.0.1.

Behaves as the documented API: ``/client/v4/accounts/{account_id}/workers/scripts/{script}/secrets``
(PUT ``{"name", "text", "type": "secret_text"}``, GET list of ``{"name", "type"}``), and
``.../secrets/{name}`` (GET, DELETE); Bearer-token auth (403, code 10000, on a bad token); the
``{"success", "errors", "messages", "result"}`` envelope; 404 code 10007 for an unknown script; values
are never returned. Trouble comes from the base (tests/support/fakes.py): ``fail_next(ANY, 429,
headers={"retry-after": "0"})``, or ``hold(fake.secret("PUT", name))`` to keep a request open (to SIGKILL
a client while it waits).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse

from .fakes import FakeServer, Recorded

_PREFIX = "/client/v4/accounts/{account_id}/workers/scripts/{script}/secrets"


def _envelope(result=None, *, errors=(), status=200) -> JSONResponse:
    return JSONResponse({"success": not errors, "errors": list(errors), "messages": [], "result": result},
                        status_code=status)


class FakeCloudflare(FakeServer):
    def __init__(self, account_id: str = "023e105f4ecef8ad9ca31a8372d0c353", script: str = "cloudmake-api",
                 token: str = "cf-test-token-0123456789"):
        super().__init__()
        self.account_id, self.script, self.token = account_id, script, token
        self.secrets: dict[str, str] = {}
        self.route(_PREFIX, ["GET", "PUT"])(self._collection)
        self.route(_PREFIX + "/{name}", ["GET", "DELETE"])(self._item)

    @property
    def api_url(self) -> str:
        return f"{self.url}/client/v4"

    @staticmethod
    def secret(method: str, name: str) -> Callable[[Recorded], bool]:
        """A fault match for one secret: a PUT names it in its body, GET/DELETE in the path."""
        def match(r: Recorded) -> bool:
            named = (r.json() or {}).get("name") if r.method == "PUT" else r.path.rpartition("/")[2]
            return r.method == method and named == name

        return match

    def admit(self, request: Recorded) -> JSONResponse | None:
        if request.bearer != self.token:
            return _envelope(errors=[{"code": 10000, "message": "Authentication error"}], status=403)
        found = re.match(r"^/client/v4/accounts/([^/]+)/workers/scripts/([^/]+)/", request.path)
        if found is None or found.groups() != (self.account_id, self.script):
            return _envelope(errors=[{"code": 10007, "message": "workers.api.error.script_not_found"}], status=404)
        return None

    def error_body(self, status: int) -> dict:
        return {"success": False, "messages": [], "result": None,
                "errors": [{"code": 971 if status == 429 else 10013, "message": "Please wait"}]}

    async def _collection(self, request: Request) -> JSONResponse:
        if request.method == "GET":
            return _envelope([{"name": n, "type": "secret_text"} for n in sorted(self.secrets)])
        body = await request.json()
        if not isinstance(body.get("name"), str) or not isinstance(body.get("text"), str) \
                or body.get("type") != "secret_text":
            return _envelope(errors=[{"code": 10021, "message": "expected name, text and type 'secret_text'"}],
                             status=400)
        self.secrets[body["name"]] = body["text"]
        return _envelope({"name": body["name"], "type": "secret_text"})

    async def _item(self, request: Request) -> JSONResponse:
        name = request.path_params["name"]
        if name not in self.secrets:
            return _envelope(errors=[{"code": 10056, "message": "workers.api.error.binding_not_found"}], status=404)
        if request.method == "DELETE":
            del self.secrets[name]
            return _envelope(None)
        return _envelope({"name": name, "type": "secret_text"})
