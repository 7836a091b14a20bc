"""The one HTTP layer: every client's retries, waits and errors, on httpx and tenacity.

Why one: each client (alert webhook, breaker source, Cloudflare, GitHub, Neon) used to carry its own retry
loop, and they disagreed (a date-form ``Retry-After`` was 60 s in one, parsed in another, ignored in three).
Here, once:

* **What is transient**: connect/read/write errors and timeouts, a dropped connection, and the statuses in
  :attr:`RetryPolicy.statuses` (429, 502, 503, 504 by default; an API that documents 500 as retryable adds
  it). Any other status is returned for the caller to interpret. A URL that cannot work (no or an
  unsupported scheme, no host) raises :class:`InvalidURL` at once, naming the setting it came from.
* **How long to wait**: exponential backoff with jitter (tenacity), never less than what the server asked
  for: ``Retry-After`` as delta-seconds or an HTTP-date (RFC 9110 §10.2.3), or an epoch reset header
  (``X-RateLimit-Reset``) when the client asks for it; negative values count as 0, absurd ones as a day.
* **How long in all**: at most :attr:`RetryPolicy.attempts` attempts and :attr:`RetryPolicy.deadline`
  seconds. A server asking to wait past the budget gets :class:`RetryLater` at once, saying when to retry,
  instead of a sleep that outlives the run.
* **Errors never hold credentials**: URLs are shown without userinfo, query or fragment, header credentials
  are registered with the log redactor, and every message passes through it.
"""

from __future__ import annotations

import email.utils
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, wait_exponential_jitter

from .errors import CloudMakeError, ConfigError
from .logs import get_logger, redactor

TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})
#: A server's wait request above this is taken as this (a day): still "later", never a year-long sleep.
MAX_SERVER_WAIT = 86_400.0
_CREDENTIAL_HEADERS = ("authorization", "proxy-authorization", "x-api-key", "api-key", "x-auth-token")

#: A client's own rate-limit rule: seconds the server asks to wait before retrying ``response`` (so it is
#: transient), or None when the response is not a rate limit. ``now`` is the client's clock (Unix time).
RateLimitRule = Callable[[httpx.Response, float], float | None]


@dataclass(frozen=True)
class RetryPolicy:
    """How one client retries. Each number is a bound, so a run's worst case can be read off the policy."""

    attempts: int = 4
    backoff: float = 0.5  # first wait in seconds; doubles each retry
    max_backoff: float = 10.0
    jitter: float | None = None  # at most this many random seconds added per wait; None: as much as backoff
    deadline: float = 60.0  # seconds one request may take in all, waits included
    statuses: frozenset[int] = field(default=TRANSIENT_STATUSES)
    reset_header: str | None = None  # an epoch header to wait for when Retry-After is absent

    def __post_init__(self) -> None:
        if not isinstance(self.attempts, int) or not 1 <= self.attempts <= 100:
            raise ValueError(f"RetryPolicy.attempts: expected an integer 1..100, got {self.attempts!r}")
        for name in ("backoff", "max_backoff", "deadline") + (("jitter",) if self.jitter is not None else ()):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise ValueError(f"RetryPolicy.{name}: expected a finite number of seconds >= 0, got {value!r}")

    def backoff_wait(self) -> wait_exponential_jitter:
        jitter = self.backoff if self.jitter is None else self.jitter
        return wait_exponential_jitter(multiplier=self.backoff, max=self.max_backoff, jitter=jitter)


class HttpError(CloudMakeError):
    """An HTTP exchange that failed. The message names the service, method and a credential-free URL."""

    def __init__(self, message: str, *, method: str, url: str, attempts: int = 1):
        super().__init__(redactor(message))
        self.method, self.url, self.attempts = method, url, attempts


class InvalidURL(HttpError, ConfigError):
    """The URL cannot work (no or an unsupported scheme, no host): a configuration error, never retried."""


class Unreachable(HttpError):
    """Every attempt failed before a response (``reason``: the httpx error's name, e.g. ``ConnectError``)."""

    def __init__(self, message: str, *, reason: str, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.reason = reason


class TransientStatus(HttpError):
    """Every attempt answered a transient status; ``response`` is the last answer (already read)."""

    def __init__(self, message: str, *, response: httpx.Response, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.response = response
        self.status = response.status_code


class RetryLater(TransientStatus):
    """The server asked to wait longer than the request's budget allows; retry at ``retry_at`` (UTC)."""

    def __init__(self, message: str, *, wait_seconds: float, retry_at: datetime, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.wait_seconds, self.retry_at = wait_seconds, retry_at


def safe_url(url: httpx.URL | str) -> str:
    """``url`` without userinfo, query or fragment (where credentials hide), for messages and logs."""
    try:
        parsed = httpx.URL(str(url))
        if parsed.userinfo or parsed.query or parsed.fragment:
            url = parsed.copy_with(userinfo=b"", query=None, fragment=None)
        return redactor(str(url))
    except (httpx.InvalidURL, TypeError, ValueError):
        return "<unparseable URL>"


def _clamp(seconds: float) -> float | None:
    if math.isnan(seconds):
        return None
    return min(max(0.0, seconds), MAX_SERVER_WAIT)


def retry_after_seconds(response: httpx.Response, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP-date; None when absent or unreadable."""
    value = (response.headers.get("retry-after") or "").strip()
    if not value:
        return None
    now = time.time() if now is None else now
    try:
        return _clamp(float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" parses naive; HTTP-dates are always GMT
        when = when.replace(tzinfo=UTC)
    return _clamp(when.timestamp() - now)


def reset_seconds(response: httpx.Response, header: str, now: float | None = None) -> float | None:
    """Seconds until the Unix time in ``header`` (``X-RateLimit-Reset``-style); None when absent or unreadable."""
    try:
        reset = float(response.headers[header])
    except (KeyError, ValueError):
        return None
    return _clamp(reset - (time.time() if now is None else now))


class _Transient(Exception):
    """Internal: one attempt failed in a way worth another; ``server_wait`` is what the server asked for."""

    def __init__(self, *, reason: str, response: httpx.Response | None = None, server_wait: float | None = None):
        super().__init__(reason)
        self.reason, self.response, self.server_wait = reason, response, server_wait


class HttpClient(httpx.Client):
    """An ``httpx.Client`` whose requests retry as :class:`RetryPolicy` says (``get``/``post``/... included).

    ``service`` names the API in errors and logs ("GitHub", "Neon"); ``setting`` names where the URL comes
    from (``GITHUB_API_URL``), so a bad one is reported as that setting. ``rate_limit`` is the API's own
    rule for responses the status list cannot describe (GitHub's 403 with ``x-ratelimit-remaining: 0``).
    ``sleep`` and ``clock`` (Unix time) are injectable; ``event_hooks`` see every attempt (httpx's own).
    Close it, or use it as a context manager, as any httpx client.
    """

    def __init__(self, base_url: str = "", *, service: str = "HTTP", setting: str | None = None,
                 headers: Mapping[str, str] | None = None, timeout: float = 10.0,
                 retry: RetryPolicy | None = None, rate_limit: RateLimitRule | None = None,
                 transport: httpx.BaseTransport | None = None, follow_redirects: bool = False,
                 event_hooks: Mapping[str, list[Callable[..., Any]]] | None = None,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.time,
                 log: logging.LoggerAdapter | None = None):
        for name, value in (headers or {}).items():
            if name.lower() in _CREDENTIAL_HEADERS:
                redactor.add(value, value.partition(" ")[2])
        self.service, self.setting, self.policy = service, setting, retry or RetryPolicy()
        try:
            super().__init__(base_url=base_url, headers=headers, timeout=timeout, transport=transport,
                             follow_redirects=follow_redirects, event_hooks=dict(event_hooks or {}))
        except httpx.InvalidURL as exc:
            raise self._unparseable(exc, "", base_url) from None
        self._configured_url = base_url
        self._rate_limit, self._sleep, self._clock = rate_limit, sleep, clock
        self._log = log or get_logger("http")

    def request(self, method: str, url: httpx.URL | str, **kwargs: Any) -> httpx.Response:
        """Send, retrying transient failures; return the first other response, whatever its status.

        Raises :class:`InvalidURL` at once, :class:`Unreachable` / :class:`TransientStatus` when the
        attempts or the deadline run out, :class:`RetryLater` when the server asks for more than is left.
        """
        send_options = {key: kwargs.pop(key) for key in ("auth", "follow_redirects") if key in kwargs}
        try:
            request = self.build_request(method, url, **kwargs)
        except httpx.InvalidURL as exc:
            raise self._unparseable(exc, method, self._configured_url or str(url)) from None
        self._check_url(request, self._configured_url or str(url))
        started = time.monotonic()
        retrying = Retrying(retry=retry_if_exception_type(_Transient), wait=self._wait,
                            stop=lambda state: self._stop(state, started), sleep=self._sleep,
                            before_sleep=self._log_retry, reraise=True)
        try:
            return retrying(self._send_once, request, send_options)
        except _Transient as exc:
            stats = retrying.statistics
            elapsed = max(time.monotonic() - started, stats.get("idle_for", 0.0))
            raise self._give_up(exc, request, stats.get("attempt_number", 1), elapsed) from None

    def _unparseable(self, exc: httpx.InvalidURL, method: str, configured: str) -> InvalidURL:
        return InvalidURL(f"{self.setting or self.service + ' URL'}: {exc}", method=method, url=safe_url(configured))

    def _check_url(self, request: httpx.Request, configured: str) -> None:
        """Fail before the first attempt on a URL no retry can fix, showing the value as configured."""
        if request.url.scheme in ("http", "https") and request.url.host:
            return
        where = self.setting or f"{self.service} URL"
        raise InvalidURL(f"{where}: {safe_url(configured)!r} is not a URL this client can call: expected "
                         "http:// or https:// and a host, e.g. https://api.example.com",
                         method=request.method, url=safe_url(request.url))

    def _send_once(self, request: httpx.Request, options: dict[str, Any]) -> httpx.Response:
        try:
            response = self.send(request, **options)
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            raise _Transient(reason=type(exc).__name__) from None
        except httpx.HTTPError as exc:  # a malformed request, a proxy refusing, too many redirects
            raise HttpError(f"{self.service} {request.method} {safe_url(request.url)}: {type(exc).__name__}",
                            method=request.method, url=safe_url(request.url)) from None
        wait = self._rate_limit(response, self._clock()) if self._rate_limit else None
        if wait is None:
            if response.status_code not in self.policy.statuses:
                return response
            wait = retry_after_seconds(response, self._clock())
            if wait is None and self.policy.reset_header:
                wait = reset_seconds(response, self.policy.reset_header, self._clock())
        raise _Transient(reason=f"HTTP {response.status_code}", response=response, server_wait=wait)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        server_wait = exc.server_wait if isinstance(exc, _Transient) else None
        return max(self.policy.backoff_wait()(state), server_wait or 0.0)

    def _stop(self, state: RetryCallState, started: float) -> bool:
        elapsed = max(time.monotonic() - started, state.idle_for)
        return state.attempt_number >= self.policy.attempts or elapsed + state.upcoming_sleep > self.policy.deadline

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        self._log.warning(f"{self.service}: {exc}; retrying", extra={
            "attempt": state.attempt_number, "wait_s": round(state.upcoming_sleep, 3),
            "url": safe_url(state.args[0].url) if state.args else None})

    def _give_up(self, exc: _Transient, request: httpx.Request, attempts: int, elapsed: float) -> HttpError:
        url = safe_url(request.url)
        where = f"{self.service} {request.method} {url}"
        common = {"method": request.method, "url": url, "attempts": attempts}
        tried = f"{attempts} attempt{'s' if attempts > 1 else ''}"
        if exc.response is None:
            return Unreachable(f"{where}: {exc.reason} after {tried}", reason=exc.reason, **common)
        left = max(0.0, self.policy.deadline - elapsed)
        if exc.server_wait is not None and exc.server_wait > left:
            retry_at = datetime.fromtimestamp(self._clock() + exc.server_wait, UTC).replace(microsecond=0)
            return RetryLater(f"{where}: {exc.reason}; the server asks to wait {exc.server_wait:.0f}s, more than "
                              f"the {left:.0f}s left of this request's {self.policy.deadline:.0f}s budget: "
                              f"retry after {retry_at.isoformat().replace('+00:00', 'Z')}",
                              response=exc.response, wait_seconds=exc.server_wait, retry_at=retry_at, **common)
        return TransientStatus(f"{where}: {exc.reason} after {tried}", response=exc.response, **common)
