"""Fake apps serving a design-token version, as real apps expose it: real HTTP on 127.0.0.1.

:class:`TokenApps` hosts any number of apps on one server (``/{name}/...``); :class:`TokenApp` is one app.
``kind`` says where the version is: ``json`` (``{"meta": {"tokens": "2.4.0"}}`` at ``/{name}/version.json``),
``css`` (``:root { --ds-version: "2.4.0" }`` at ``/{name}/tokens.css``) or ``header`` (``X-DS-Version`` on
``/{name}/``). Every answer carries an ``ETag`` of its body; ``If-None-Match`` with that tag answers ``304``
with no body, as HTTP caches and CDNs do. ``switch_at(name, epoch, version)`` makes an app serve ``version``
from that Unix time on (a deploy finishing after a chosen delay); ``down()`` / ``up()`` answer 503 meanwhile.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time

from starlette.requests import Request
from starlette.responses import Response

from .fakes import ANY, FakeServer

PATHS = {"json": "version.json", "css": "tokens.css", "header": ""}


class TokenApps(FakeServer):
    def __init__(self, *, clock=time.time):
        super().__init__()
        self.clock = clock
        self._apps: dict[str, tuple[str, list[tuple[float, str | None]]]] = {}
        self._plan_lock = threading.Lock()
        self.route("/{name}/{rest:path}", ["GET"])(self._serve_version)

    def add(self, name: str, version: str | None, kind: str = "json") -> str:
        """Host app ``name``; returns the path its version is read from (``url_of(name)`` once running)."""
        with self._plan_lock:
            self._apps[name] = (kind, [(float("-inf"), version)])
        return f"/{name}/{PATHS[kind]}"

    def url_of(self, name: str) -> str:
        return f"{self.url}/{name}/{PATHS[self._apps[name][0]]}"

    def switch_at(self, name: str, epoch: float, version: str | None) -> None:
        with self._plan_lock:
            kind, plan = self._apps[name]
            self._apps[name] = (kind, sorted([*plan, (epoch, version)], key=lambda item: item[0]))

    def serving(self, name: str) -> str | None:
        now = self.clock()
        with self._plan_lock:
            return [v for at, v in self._apps[name][1] if at <= now][-1]

    def down(self) -> None:
        self.fail_next(ANY, 503, times=None)

    def up(self) -> None:
        self.clear_faults()

    @property
    def not_modified(self) -> int:
        return sum(1 for r in self.requests if r.status == 304)

    @staticmethod
    def body(kind: str, version: str | None) -> tuple[bytes, dict[str, str]]:
        if kind == "json":
            doc = {"meta": {"tokens": version}} if version else {"status": "ok"}
            return json.dumps(doc).encode(), {"content-type": "application/json"}
        if kind == "css":  # a stylesheet of realistic size: the version beside a few hundred tokens
            tokens = "".join(f"--color-{i}: #{i:06x}; " for i in range(300))
            head = f'--ds-version: "{version}"; ' if version else ""
            return f":root {{ {head}{tokens}}}\n".encode(), {"content-type": "text/css"}
        return b"<html>app</html>", {"content-type": "text/html", **({"x-ds-version": version} if version else {})}

    async def _serve_version(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in self._apps or request.path_params["rest"] != PATHS[self._apps[name][0]]:
            return Response("not found", status_code=404)
        body, headers = self.body(self._apps[name][0], self.serving(name))
        etag = '"' + hashlib.sha256(body + json.dumps(headers).encode()).hexdigest()[:16] + '"'
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers={"etag": etag})
        return Response(body, headers={**headers, "etag": etag})


class TokenApp(TokenApps):
    """One app (named ``app``) on its own server."""

    def __init__(self, version: str | None, kind: str = "json", *, clock=time.time):
        super().__init__(clock=clock)
        self.add("app", version, kind)

    @property
    def page(self) -> str:
        return self.url_of("app")

    def serve(self, version: str | None) -> None:
        self.switch_at("app", self.clock(), version)
