"""A small GitHub REST client on httpx: headers, auth, pagination, rate limits and retries done right.

* ``Accept: application/vnd.github+json`` and ``X-GitHub-Api-Version`` on every request; the base URL is
  configurable for GitHub Enterprise Server (default ``GITHUB_API_URL``, else https://api.github.com).
* Pagination follows the ``Link: <...>; rel="next"`` header, never guessed page numbers.
* Retries, backoff and ``Retry-After`` (both forms) are the HTTP layer's (:mod:`..http`); this module keeps
  only GitHub's own rules (:func:`_rate_limit_wait`): a 403/429 with ``retry-after`` waits that long
  (secondary limits); one with ``x-ratelimit-remaining: 0`` waits until ``x-ratelimit-reset`` (primary
  limit); a 429 or a "secondary rate limit" without either waits 60 s, as GitHub's docs say. 5xx and
  transport errors back off exponentially (no jitter: the waits are GitHub's to set). A request may spend
  at most ``max_wait_seconds`` in all; a longer wait raises :class:`RateLimited`, saying when to retry,
  instead of stalling a run.
* Content-creating requests (anything but GET/HEAD) can be spaced ``write_interval_seconds`` apart, since
  GitHub's secondary limits cap them per minute and per hour (0.75 s keeps under 80 a minute).
* The token is never part of an error message or log line.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import httpx

from ..errors import CloudMakeError
from ..http import (
    HttpClient,
    RetryLater,
    RetryPolicy,
    TransientStatus,
    Unreachable,
    reset_seconds,
    retry_after_seconds,
)
from ..logs import get_logger, redactor
from ..settings import Secret

log = get_logger("github")
API_VERSION = "2022-11-28"
DEFAULT_API_URL = "https://api.github.com"


class GitHubError(CloudMakeError):
    """GitHub answered with an error. ``status`` is the HTTP status; the message never holds the token."""

    def __init__(self, method: str, path: str, status: int, message: str):
        self.status = status
        super().__init__(f"GitHub {method} {path} failed: HTTP {status}: {redactor(message)}")


class RateLimited(GitHubError):
    """GitHub asked us to wait longer than we are allowed to; ``wait_seconds`` says how long."""

    def __init__(self, method: str, path: str, status: int, wait_seconds: float, retry_at: datetime | None = None):
        self.wait_seconds = wait_seconds
        self.retry_at = retry_at
        when = f"; retry after {retry_at.isoformat().replace('+00:00', 'Z')}" if retry_at else ""
        super().__init__(method, path, status, f"rate limited for {wait_seconds:.0f}s{when}")


def _rate_limit_wait(response: httpx.Response, now: float) -> float | None:
    """Seconds GitHub asks us to wait, or None when the response is not a rate limit."""
    if response.status_code not in (403, 429):
        return None
    wait = retry_after_seconds(response, now)
    if wait is None and response.headers.get("x-ratelimit-remaining") == "0":
        wait = reset_seconds(response, "x-ratelimit-reset", now)
        if wait is None:
            wait = 60.0
    if wait is None and (response.status_code == 429 or "secondary rate limit" in response.text.lower()):
        wait = 60.0  # GitHub's documented default when no header says otherwise
    return wait


class GitHubClient:
    """Synchronous GitHub REST client. Use as a context manager or call :meth:`close`."""

    def __init__(
        self,
        token: Secret | str | None,
        base_url: str | None = None,
        *,
        max_attempts: int = 5,
        backoff_seconds: float = 1.0,
        max_wait_seconds: float = 120.0,
        timeout_seconds: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        transport: httpx.BaseTransport | None = None,
        write_interval_seconds: float = 0.0,
    ):
        raw = token.reveal() if isinstance(token, Secret) else token
        if raw:
            redactor.add(raw)
        self.base_url = (base_url or os.environ.get("GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/")
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION,
                   "User-Agent": "cloudmake-pipelines"}
        if raw:
            headers["Authorization"] = f"Bearer {raw}"
        policy = RetryPolicy(attempts=max_attempts, backoff=backoff_seconds, max_backoff=30.0, jitter=0.0,
                             deadline=max_wait_seconds, statuses=frozenset({500, 502, 503, 504}))
        self._http = HttpClient(self.base_url, service="GitHub", setting="GITHUB_API_URL", headers=headers,
                                timeout=timeout_seconds, retry=policy, rate_limit=_rate_limit_wait,
                                transport=transport, sleep=sleep, clock=clock, log=log,
                                event_hooks={"request": [self._before_send], "response": [self._after_send]})
        self._sleep = sleep
        self._clock = clock
        self.write_interval_seconds = write_interval_seconds
        self._last_write_at: float | None = None
        self.requests_sent = 0
        self.writes_sent = 0
        self.rate_limit_remaining: int | None = None

    def __enter__(self) -> GitHubClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _space_write(self) -> None:
        """Sleep until ``write_interval_seconds`` have passed since the previous content-creating request."""
        if self._last_write_at is not None and self.write_interval_seconds > 0:
            wait = self._last_write_at + self.write_interval_seconds - self._clock()
            if wait > 0:
                self._sleep(wait)
        self._last_write_at = self._clock()
        self.writes_sent += 1

    def _before_send(self, request: httpx.Request) -> None:
        """Every attempt: space content-creating requests, count what was sent."""
        if request.method not in ("GET", "HEAD"):
            self._space_write()
        self.requests_sent += 1

    def _after_send(self, response: httpx.Response) -> None:
        remaining = response.headers.get("x-ratelimit-remaining")
        if remaining is not None and remaining.isdigit():
            self.rate_limit_remaining = int(remaining)

    def request(self, method: str, path: str, *, expected: tuple[int, ...] = (200, 201, 204),
                **kwargs: Any) -> httpx.Response:
        """Send one request with retries; return the response when its status is in ``expected``."""
        try:
            response = self._http.request(method, path, **kwargs)
        except RetryLater as exc:
            raise RateLimited(method, path, exc.status, exc.wait_seconds, exc.retry_at) from None
        except TransientStatus as exc:
            response = exc.response  # retries ran out: report GitHub's own message below
        except Unreachable as exc:
            raise GitHubError(method, path, 0, exc.reason) from None
        if response.status_code not in expected:
            try:
                message = response.json().get("message", response.text[:200])
            except ValueError:
                message = response.text[:200]
            raise GitHubError(method, path, response.status_code, message)
        return response

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, expected=(200,), **kwargs).json()

    def paginate(self, path: str, *, items_key: str | None = None, per_page: int = 100,
                 params: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Yield every item of a list endpoint, following ``Link: rel="next"``.

        ``items_key`` names the list inside an object response (``"secrets"`` for the secrets APIs);
        None means the response body is the list itself (issue comments).
        """
        url: str | None = path
        query: dict[str, Any] | None = {"per_page": per_page, **(params or {})}
        while url:
            response = self.request("GET", url, expected=(200,), params=query)
            body = response.json()
            yield from (body[items_key] if items_key else body)
            url = response.links.get("next", {}).get("url")
            query = None  # the next link carries the query string
