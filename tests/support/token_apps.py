"""A fake app serving a design-token version, as real apps expose it: real HTTP on 127.0.0.1.

``kind`` says where the version is: ``json`` (``{"meta": {"tokens": "2.4.0"}}`` at ``/version.json``), ``css``
(``:root { --ds-version: "2.4.0" }`` at ``/tokens.css``) or ``header`` (``X-DS-Version`` on ``/``). Every answer
carries an ``ETag`` of its body; ``If-None-Match`` with that tag answers ``304`` with no body, as HTTP caches
and CDNs do. ``switch_at(epoch, version)`` makes the app serve ``version`` from that Unix time on (a deploy
finishing after a chosen delay); ``down()`` / ``up()`` answer 503 to everything meanwhile.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time

from starlette.requests import Request
from starlette.responses import Response

from .fakes import ANY, FakeServer

PATHS = {"json": "/version.json", "css": "/tokens.css", "header": "/"}


class TokenApp(FakeServer):
    def __init__(self, version: str | None, kind: str = "json", *, clock=time.time):
        super().__init__()
        self.kind, self.clock = kind, clock
        self._plan: list[tuple[float, str | None]] = [(float("-inf"), version)]
        self._plan_lock = threading.Lock()
        self.route(PATHS[kind], ["GET"])(self._serve_version)

    @property
    def page(self) -> str:
        return f"{self.url}{PATHS[self.kind]}"

    def switch_at(self, epoch: float, version: str | None) -> None:
        with self._plan_lock:
            self._plan = sorted([*self._plan, (epoch, version)], key=lambda item: item[0])

    def serve(self, version: str | None) -> None:
        self.switch_at(self.clock(), version)

    def serving(self) -> str | None:
        now = self.clock()
        with self._plan_lock:
            return [v for at, v in self._plan if at <= now][-1]

    def down(self) -> None:
        self.fail_next(ANY, 503, times=None)

    def up(self) -> None:
        self.clear_faults()

    @property
    def not_modified(self) -> int:
        return sum(1 for r in self.requests if r.status == 304)

    def _body(self, version: str | None) -> tuple[bytes, dict[str, str]]:
        if self.kind == "json":
            doc = {"meta": {"tokens": version}} if version else {"status": "ok"}
            return json.dumps(doc).encode(), {"content-type": "application/json"}
        if self.kind == "css":
            css = f':root {{ --ds-version: "{version}"; --color-brand: #0af; }}' if version else ":root { --x: 1; }"
            return (css + "\n" + "/* padding */" * 200).encode(), {"content-type": "text/css"}
        return b"<html>app</html>", {"content-type": "text/html", **({"x-ds-version": version} if version else {})}

    async def _serve_version(self, request: Request) -> Response:
        body, headers = self._body(self.serving())
        etag = '"' + hashlib.sha256(body + json.dumps(headers).encode()).hexdigest()[:16] + '"'
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers={"etag": etag})
        return Response(body, headers={**headers, "etag": etag})
