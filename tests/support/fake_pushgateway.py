"""A fake Prometheus Pushgateway on real HTTP: accepts pushes as the real one does and keeps them.

``PUT /metrics/job/<job>{/<label>/<value>}`` replaces the group's metrics (``POST`` merges; both are
kept here as received). The body is the Prometheus text format, parsed by the tests with
``prometheus_client.parser``. A failing gateway: ``fail_next(ANY, 500, times=None)`` (tests/support/fakes.py).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from .fakes import FakeServer, Recorded


class FakePushgateway(FakeServer):
    def __init__(self):
        super().__init__()
        self.route("/metrics/job/{rest:path}", ["PUT", "POST"])(self._push)

    async def _push(self, request: Request) -> Response:
        return Response(status_code=200)

    def error_body(self, status: int) -> str:
        return "push failed"

    @property
    def pushes(self) -> list[Recorded]:
        """The pushes the gateway accepted, in order."""
        return [r for r in self.requests if r.status == 200]
