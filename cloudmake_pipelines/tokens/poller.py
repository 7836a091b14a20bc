"""Poll every app for the token version it serves, cheaply: conditional requests and a bounded thread pool.

Each app's last answer is remembered (its ``ETag`` and the version read from it, in the sensor's cursor), and
the next poll sends ``If-None-Match``: an unchanged app answers ``304 Not Modified`` with no body, so polling
100 apps every minute costs 100 small exchanges, not 100 downloads of a stylesheet. An app that cannot be
reached, times out or answers an error is *unknown* for that poll (never "not yet"): the observation
carries the error and no version.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ..errors import CloudMakeError
from ..http import HttpClient, HttpError, RetryPolicy
from ..logs import get_logger
from ..mcp.registry import resolve_auth
from .apps import App

log = get_logger("tokens")


@dataclass(frozen=True)
class Seen:
    """An app's last good answer: its ETag (may be None), the version read from it, and when its request
    left (epoch s): the app still served that version after this instant, the lower bound of a switch."""

    etag: str | None
    version: str
    at: float


@dataclass
class Cursor:
    """The sensor's memory across ticks and restarts: each app's last good answer. Its time is the lower
    bound of when a new version appeared (the app still served the old one then)."""

    apps: dict[str, Seen] = field(default_factory=dict)

    def dumps(self) -> str:
        return json.dumps({"apps": {n: [s.etag, s.version, s.at] for n, s in sorted(self.apps.items())}},
                          separators=(",", ":"))

    @classmethod
    def loads(cls, raw: str | None) -> Cursor:
        if not raw:
            return cls()
        try:
            data = json.loads(raw)
            return cls({str(n): Seen(e, str(v), float(t)) for n, (e, v, t) in data["apps"].items()})
        except (ValueError, TypeError, KeyError, AttributeError):
            raise CloudMakeError(f"the token propagation sensor cursor {raw[:80]!r} is not valid: expected "
                                 '{"apps": {name: [etag, version, epoch]}}; reset it in the UI'
                                 ) from None


@dataclass(frozen=True)
class Observation:
    """One poll of one app: ``version`` when it answered with one, else ``error`` (the app is unknown)."""

    app: str
    at: datetime  # when the answer was in: the app switched before this (the upper bound)
    version: str | None
    error: str | None = None
    etag: str | None = None
    not_modified: bool = False
    sent: datetime | None = None  # when the request left: the app still served this answer after it


class Poller:
    """Polls apps with one HTTP client. ``secrets`` resolves ``secret:NAME`` credentials (the keyring)."""

    def __init__(self, *, timeout: float = 5.0, concurrency: int = 16, secrets: Callable[[str], str] | None = None,
                 clock: Callable[[], float] = time.time, environ: Mapping[str, str] | None = None):
        # One retry for a dropped connection or a 503 blip; a real outage costs at most ~2 timeouts per tick.
        self.http = HttpClient(service="token app", timeout=timeout, clock=clock, log=log,
                               retry=RetryPolicy(attempts=2, backoff=0.2, max_backoff=0.5, deadline=2.5 * timeout))
        self.concurrency, self.secrets, self.clock, self.environ = concurrency, secrets, clock, environ
        self.requests = 0

    def close(self) -> None:
        self.http.close()

    def poll_all(self, apps: list[App], cursor: Cursor) -> list[Observation]:
        if not apps:
            return []
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(apps))) as pool:
            return list(pool.map(lambda app: self.poll(app, cursor.apps.get(app.name)), apps))

    def poll(self, app: App, last: Seen | None) -> Observation:
        try:
            headers = dict(resolve_auth(app, self.environ, self.secrets))
        except CloudMakeError as exc:  # an unset credential: this app is unknown, the others are still polled
            return Observation(app.name, self._now(), None, str(exc))
        if last is not None and last.etag:
            headers["If-None-Match"] = last.etag
        self.requests += 1
        sent = self._now()
        try:
            response = self.http.get(app.url, headers=headers)
        except HttpError as exc:
            return Observation(app.name, self._now(), None, str(exc), sent=sent)
        at = self._now()
        if response.status_code == 304 and last is not None:
            return Observation(app.name, at, last.version, etag=last.etag, not_modified=True, sent=sent)
        if not response.is_success:
            return Observation(app.name, at, None, f"app {app.name}: HTTP {response.status_code}; expected 200 "
                                                   f"with {app.expects}", sent=sent)
        try:
            version = app.read_version(response)
        except CloudMakeError as exc:
            return Observation(app.name, at, None, str(exc), sent=sent)
        return Observation(app.name, at, version, etag=response.headers.get("etag"), sent=sent)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)
