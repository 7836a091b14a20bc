"""A fake Prometheus Pushgateway on real HTTP: accepts pushes as the real one does and keeps the last one.

``PUT /metrics/job/<job>{/<label>/<value>}`` replaces the group's metrics (``POST`` merges; both are
stored here as the last body). The body is the Prometheus text format, parsed by the tests with
``prometheus_client.parser``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .servers import serve_asgi


@dataclass
class FakePushgateway:
    pushes: list[tuple[str, str, str]] = field(default_factory=list)  # (method, path, body)
    fail_with: int | None = None

    @property
    def app(self) -> Starlette:
        async def push(request: Request) -> Response:
            if self.fail_with:
                return Response("push failed", status_code=self.fail_with)
            body = (await request.body()).decode()
            self.pushes.append((request.method, request.url.path, body))
            return Response(status_code=200)

        return Starlette(routes=[Route("/metrics/job/{rest:path}", push, methods=["PUT", "POST"])])


@contextlib.contextmanager
def serve_fake_pushgateway() -> Iterator[tuple[FakePushgateway, str]]:
    fake = FakePushgateway()
    with serve_asgi(fake.app) as base:
        yield fake, base
