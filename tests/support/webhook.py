"""The alert webhook receiver every test uses: a real HTTP endpoint on 127.0.0.1 that keeps what it is sent.

Any ``POST`` path is accepted with 200 ``{"ok": true}``; a path is a mailbox (``url("ops")``,
``alerts_to("ops")``), so tests sharing one receiver keep their alerts apart. Trouble (a 503, then a 429,
a receiver that always answers 500...) comes from the base's fault injection (see tests/support/fakes.py).
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import JSONResponse

from .fakes import FakeServer, Recorded


class WebhookReceiver(FakeServer):
    def __init__(self):
        super().__init__()
        self.route("/{mailbox:path}", ["POST"])(self._receive)

    async def _receive(self, request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    def error_body(self, status: int) -> dict:
        return {"ok": False}

    def url_for(self, mailbox: str = "hook") -> str:
        return f"{self.url}/{mailbox}"

    @property
    def alerts(self) -> list[dict]:
        """Every JSON body POSTed, in arrival order: each delivery attempt, whatever it was answered."""
        return [r.json() for r in self._posts()]

    def alerts_to(self, mailbox: str) -> list[dict]:
        return [r.json() for r in self._posts() if r.path == f"/{mailbox}"]

    def wait_for(self, count: int, timeout: float = 10.0, mailbox: str | None = None) -> list[dict]:
        """The alerts once at least ``count`` arrived (for senders in other processes); AssertionError after
        ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            alerts = self.alerts if mailbox is None else self.alerts_to(mailbox)
            if len(alerts) >= count:
                return alerts
            if time.monotonic() > deadline:
                raise AssertionError(f"webhook received {len(alerts)} alert(s) in {timeout}s, expected {count}")
            time.sleep(0.02)

    def _posts(self) -> list[Recorded]:
        return [r for r in list(self.requests) if r.method == "POST"]
