"""The base of every local fake server in tests: real HTTP on 127.0.0.1, one request log, one way to cause trouble.

A fake is a :class:`FakeServer` subclass that adds only what its API documents: endpoints (``self.route``),
and optionally ``admit`` (the API's own checks that run first, e.g. auth), ``error_body`` (the API's error
shape, used for injected failures) and ``headers`` (headers every answer carries, e.g. GitHub's rate limit).
``FakeServer(app=some_asgi_app)`` puts the same log and trouble around an existing app.

Running: ``with fake:`` serves it on a free port (``fake.url``) and stops it on exit.

Recording: ``fake.requests`` holds every request in arrival order as :class:`Recorded` (method, path,
query, headers, body, arrival time ``at`` on ``time.monotonic()``, the ``status`` it was answered with, and
``finished``, when its answer was complete).

Fault injection: the same calls on every fake. ``match`` selects requests: ``"METHOD /path-regex"``,
``"/path-regex"`` (``re.search`` on the path, any method), a function of the :class:`Recorded` request, or
``ANY``. ``times`` is how many matching requests it affects (``None``: every one until :meth:`clear_faults`).

* ``fail_next(match, status, *, headers=None, body=None, times=1)``: answer ``status`` instead of the API
  (``body`` defaults to the API's error shape; a dict/list is sent as JSON, a str as text; any status
  works, e.g. a 200 with a malformed body);
* ``delay_next(match, seconds, *, times=1)``: answer that much later (to make concurrent clients overlap);
* ``hold(match)``: keep the next matching request waiting until :meth:`release` (or until its client goes
  away, then it is recorded with status 499); returns an Event set when the request arrives;
* ``clear_faults()``: forget every fault not yet used.

A request takes at most one fault of each kind, the oldest that matches, in this order: delay, hold, fail.
An unreachable server is not a fault: use :func:`tests.support.servers.free_port` for a port nobody serves.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .servers import serve_asgi

HOLD_LIMIT_SECONDS = 60.0  # a held request goes on by itself after this, so a forgotten release cannot hang a test


@dataclass
class Recorded:
    """One request as it arrived, and the status it was answered with (None while it is being answered)."""

    method: str
    path: str  # percent-decoded, as routed
    query: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    at: float  # time.monotonic() on arrival
    status: int | None = None
    finished: float | None = None  # time.monotonic() when the last byte of the answer was handed over

    @property
    def text(self) -> str:
        return self.body.decode()

    def json(self) -> Any:
        """The JSON body, or None when there is none."""
        return json.loads(self.body) if self.body else None

    @property
    def bearer(self) -> str | None:
        """The token of an ``Authorization: Bearer`` header."""
        scheme, _, token = self.headers.get("authorization", "").partition(" ")
        return token if scheme == "Bearer" else None


Match = str | Callable[[Recorded], bool]


def ANY(request: Recorded) -> bool:  # noqa: N802 - reads as a constant at call sites: fail_next(ANY, 500)
    return True


def _matcher(match: Match) -> Callable[[Recorded], bool]:
    if callable(match):
        return match
    method, _, pattern = match.partition(" ") if re.match(r"^[A-Z]+ ", match) else ("", "", match)
    regex = re.compile(pattern)
    return lambda r: (not method or r.method == method) and regex.search(r.path) is not None


@dataclass
class _Fault:
    kind: str  # delay | hold | fail
    match: Callable[[Recorded], bool]
    times: int | None
    seconds: float = 0.0
    response: Response | None = None
    arrived: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)


class FakeServer:
    def __init__(self, app=None):
        self.requests: list[Recorded] = []
        self.url: str | None = None
        self._app = app
        self._routes: list[Route] = []
        self._faults: list[_Fault] = []
        self._holds: list[_Fault] = []
        self._lock = threading.Lock()
        self._served = None  # the ASGI app behind the log and faults, fixed when the server starts
        self._running: contextlib.ExitStack | None = None

    # -- what a fake declares ----------------------------------------------------------------------------
    def route(self, path: str, methods: list[str]):
        """Decorator registering an endpoint ``async def handler(request) -> Response``."""

        def register(handler):
            self._routes.append(Route(path, handler, methods=methods))
            return handler

        return register

    def admit(self, request: Recorded) -> Response | None:
        """The API's own checks, before any injected fault (auth...): a Response refuses the request."""
        return None

    def error_body(self, status: int) -> Any:
        """The body of an injected failure, in the API's error shape."""
        return {"message": "injected failure"}

    def headers(self) -> dict[str, str]:
        """Headers every answer carries unless it sets them itself."""
        return {}

    # -- running -----------------------------------------------------------------------------------------
    def __enter__(self):
        self._served = self._app or Starlette(routes=self._routes)
        self._running = contextlib.ExitStack()

        async def asgi(scope, receive, send):  # a plain function: uvicorn takes a bound method for ASGI 2
            await self._serve(scope, receive, send)

        self.url = self._running.enter_context(serve_asgi(asgi))
        return self

    def __exit__(self, *exc) -> None:
        self.release()
        self._running.close()

    # -- fault injection ---------------------------------------------------------------------------------
    def fail_next(self, match: Match, status: int, *, headers: dict[str, str] | None = None, body: Any = None,
                  times: int | None = 1) -> None:
        body = self.error_body(status) if body is None else body
        response = Response(body, status_code=status, headers=headers) if isinstance(body, str | bytes) else \
            JSONResponse(body, status_code=status, headers=headers)
        self._add(_Fault("fail", _matcher(match), times, response=response))

    def delay_next(self, match: Match, seconds: float, *, times: int | None = 1) -> None:
        self._add(_Fault("delay", _matcher(match), times, seconds=seconds))

    def hold(self, match: Match) -> threading.Event:
        fault = _Fault("hold", _matcher(match), 1)
        self._add(fault)
        self._holds.append(fault)
        return fault.arrived

    def release(self) -> None:
        """Let every held request go on (and requests of holds armed so far pass without waiting)."""
        for fault in self._holds:
            fault.released.set()
        self._holds.clear()

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _add(self, fault: _Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def _take(self, request: Recorded) -> dict[str, _Fault]:
        taken: dict[str, _Fault] = {}
        with self._lock:
            for fault in self._faults:
                if fault.kind not in taken and fault.times != 0 and fault.match(request):
                    taken[fault.kind] = fault
                    if fault.times is not None:
                        fault.times -= 1
            self._faults = [f for f in self._faults if f.times != 0]
        return taken

    # -- plumbing ----------------------------------------------------------------------------------------
    async def _serve(self, scope, receive, send) -> None:
        """ASGI entry: record, admit, apply faults, then the API (with its headers); records the status."""
        app = self._served
        if scope["type"] != "http":
            return await app(scope, receive, send)
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        request = Recorded(scope["method"], scope["path"], scope.get("query_string", b"").decode(),
                           {k.decode().lower(): v.decode() for k, v in scope["headers"]}, b"".join(chunks),
                           time.monotonic())
        with self._lock:
            self.requests.append(request)
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": request.body, "more_body": False}

        async def answer(message):
            if message["type"] == "http.response.start":
                request.status = message["status"]
                present = {k.decode().lower() for k, _ in message.get("headers", [])}
                extra = [(k.encode(), v.encode()) for k, v in self.headers().items() if k.lower() not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                request.finished = time.monotonic()

        refused = self.admit(request)
        if refused is not None:
            return await refused(scope, replay, answer)
        faults = self._take(request)
        if "delay" in faults:
            await anyio.sleep(faults["delay"].seconds)
        if "hold" in faults and not await self._held(faults["hold"], Request(scope, receive)):
            request.status = 499  # the client went away while held: nothing is answered
            return None
        if "fail" in faults:
            return await faults["fail"].response(scope, replay, answer)
        return await app(scope, replay, answer)

    @staticmethod
    async def _held(fault: _Fault, probe: Request) -> bool:
        """Wait for release; False when the client disconnected meanwhile."""
        fault.arrived.set()
        deadline = time.monotonic() + HOLD_LIMIT_SECONDS
        while not fault.released.is_set() and time.monotonic() < deadline:
            if await probe.is_disconnected():
                return False
            await anyio.sleep(0.02)
        return True
