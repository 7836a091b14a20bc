"""A fake of Cloudflare's API v4 Worker-secrets endpoints, speaking real HTTP on 127.0.0.1.

Behaves as the documented API: ``/client/v4/accounts/{account_id}/workers/scripts/{script}/secrets``
(PUT ``{"name", "text", "type": "secret_text"}``, GET list of ``{"name", "type"}``), and
``.../secrets/{name}`` (GET, DELETE); Bearer-token auth (403, code 10000, on a bad token); the
``{"success", "errors", "messages", "result"}`` envelope; 404 code 10007 for an unknown script; values
are never returned. Tests can queue failures (e.g. 429 with ``retry-after``) and hold a request open
(to SIGKILL a client while it waits).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .servers import serve_asgi


def _envelope(result=None, *, errors=(), status=200, headers=None) -> JSONResponse:
    return JSONResponse({"success": not errors, "errors": list(errors), "messages": [], "result": result},
                        status_code=status, headers=headers)


@dataclass
class FakeCloudflare:
    account_id: str = "023e105f4ecef8ad9ca31a8372d0c353"
    script: str = "cloudmake-api"
    token: str = "cf-test-token-0123456789"
    secrets: dict[str, str] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    failures: list[tuple[int, str | None]] = field(default_factory=list)
    held: dict[tuple[str, str], threading.Event] = field(default_factory=dict)
    released: threading.Event = field(default_factory=threading.Event)

    def fail_next(self, status: int, retry_after: str | None = None) -> None:
        self.failures.append((status, retry_after))

    def hold(self, method: str, name: str) -> threading.Event:
        """Keep the next ``method`` on secret ``name`` waiting until :meth:`release` (or the client goes away);
        the returned event is set when it arrives."""
        arrived = threading.Event()
        self.released.clear()
        self.held[(method, name)] = arrived
        return arrived

    def release(self) -> None:
        """Let held requests proceed as usual."""
        self.released.set()

    async def _gate(self, request: Request, name: str | None):
        self.requests.append((request.method, name or ""))
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return _envelope(errors=[{"code": 10000, "message": "Authentication error"}], status=403)
        params = request.path_params
        if params["account_id"] != self.account_id or params["script"] != self.script:
            return _envelope(errors=[{"code": 10007, "message": "workers.api.error.script_not_found"}], status=404)
        if self.failures:
            status, retry_after = self.failures.pop(0)
            return _envelope(errors=[{"code": 971 if status == 429 else 10013, "message": "Please wait"}],
                             status=status, headers={"retry-after": retry_after} if retry_after else None)
        arrived = self.held.pop((request.method, name or ""), None)
        if arrived is not None:
            arrived.set()
            while not self.released.is_set():
                if await request.is_disconnected():  # the client was killed while waiting
                    return _envelope(errors=[{"code": 10000, "message": "client went away"}], status=499)
                await asyncio.sleep(0.05)
        return None

    async def collection(self, request: Request) -> JSONResponse:
        body = await request.json() if request.method == "PUT" else {}
        refused = await self._gate(request, body.get("name") if request.method == "PUT" else None)
        if refused is not None:
            return refused
        if request.method == "GET":
            return _envelope([{"name": n, "type": "secret_text"} for n in sorted(self.secrets)])
        if not isinstance(body.get("name"), str) or not isinstance(body.get("text"), str) \
                or body.get("type") != "secret_text":
            return _envelope(errors=[{"code": 10021, "message": "expected name, text and type 'secret_text'"}],
                             status=400)
        self.secrets[body["name"]] = body["text"]
        return _envelope({"name": body["name"], "type": "secret_text"})

    async def item(self, request: Request) -> JSONResponse:
        name = request.path_params["name"]
        refused = await self._gate(request, name)
        if refused is not None:
            return refused
        if name not in self.secrets:
            return _envelope(errors=[{"code": 10056, "message": "workers.api.error.binding_not_found"}], status=404)
        if request.method == "DELETE":
            del self.secrets[name]
            return _envelope(None)
        return _envelope({"name": name, "type": "secret_text"})

    def app(self) -> Starlette:
        prefix = "/client/v4/accounts/{account_id}/workers/scripts/{script}/secrets"
        return Starlette(routes=[Route(prefix, self.collection, methods=["GET", "PUT"]),
                                 Route(prefix + "/{name}", self.item, methods=["GET", "DELETE"])])


@contextlib.contextmanager
def fake_cloudflare(**kwargs) -> Iterator[tuple[FakeCloudflare, str]]:
    """A running fake; yields it and its API base URL (``.../client/v4``)."""
    fake = FakeCloudflare(**kwargs)
    with serve_asgi(fake.app()) as url:
        yield fake, f"{url}/client/v4"
