"""The Neon cleanup provider: deletes a preview's database branch through Neon's HTTP API.

``DELETE {api}/projects/{project_id}/branches/{branch_id}`` with ``Authorization: Bearer $NEON_API_KEY``
(https://api-docs.neon.tech). Neon answers 200 with the branch and the operations it scheduled; 404
means the branch no longer exists, which for cleanup means "already gone". Retried (tenacity): 429 (rate
limit: 700 requests a minute per account), 423 (the project is busy with other operations), 5xx and
transport errors, waiting what ``Retry-After`` says when present, else exponential backoff with jitter.
A wait longer than ``max_retry_after`` gives up for this run instead of stalling it: the environment stays
in the backlog for the next run. 401/403 mean the key is wrong: no point calling again this run.
"""

from __future__ import annotations

import email.utils
import re
import time
from datetime import UTC, datetime

import httpx
from sqlalchemy import ColumnElement
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from ..db.tables import environments as env
from ..logs import get_logger, redactor
from .cleanup import ArchivedEnvironment, CleanupFailed, Outcome, ProviderUnavailable

log = get_logger("previews")
NEON_API_URL = "https://console.neon.tech/api/v2"
RETRYABLE_STATUSES = frozenset({423, 429, 500, 502, 503, 504})
#: Neon ids look like ``br-young-forest-a5b6c7d8`` / ``aged-wildflower-123456``: nothing to escape.
_NEON_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


class _Retry(Exception):
    """Internal: a transient failure; ``wait`` is what the server asked for (None: back off)."""

    def __init__(self, reason: str, wait: float | None = None):
        super().__init__(reason)
        self.reason, self.wait = reason, wait


def retry_after_seconds(response: httpx.Response) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date), or None when absent or unreadable."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _message(response: httpx.Response) -> str:
    """Neon's error text (``{"code": ..., "message": ...}``), shortened; never the request's headers."""
    try:
        text = str(response.json().get("message") or "")
    except (ValueError, AttributeError):
        text = response.text
    return redactor(text.strip()[:200]) or response.reason_phrase


class NeonClient:
    """The slice of Neon's API that cleanup needs. ``api_key`` is used only in the Authorization header."""

    def __init__(self, api_key: str, base_url: str = NEON_API_URL, *, timeout_seconds: float = 15.0,
                 max_attempts: int = 5, backoff_seconds: float = 1.0, max_backoff_seconds: float = 30.0,
                 max_retry_after: float = 60.0, transport: httpx.BaseTransport | None = None):
        if not api_key:
            raise ValueError("NeonClient needs an API key")
        redactor.add(api_key)
        self._http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout_seconds, transport=transport,
                                  headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"})
        self._max_retry_after = max_retry_after
        self._retrying = Retrying(
            retry=retry_if_exception_type(_Retry),
            stop=stop_after_attempt(max_attempts),
            wait=self._wait_strategy(wait_exponential_jitter(initial=backoff_seconds, max=max_backoff_seconds)),
            before_sleep=self._log_retry,
            reraise=True,
        )

    @staticmethod
    def _wait_strategy(backoff):
        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, _Retry) and exc.wait is not None:
                return exc.wait
            return backoff(state)

        return wait

    @staticmethod
    def _log_retry(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(f"Neon API: {exc}; retrying", extra={
            "attempt": state.attempt_number, "wait_s": round(state.next_action.sleep if state.next_action else 0, 3)})

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> NeonClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def delete_branch(self, project_id: str, branch_id: str) -> bool:
        """Delete a branch. True: deleted now; False: it did not exist (404). Raises CleanupFailed."""
        for field, value in (("neon_project_id", project_id), ("neon_branch_id", branch_id)):
            if not _NEON_ID.fullmatch(value or ""):
                raise CleanupFailed(f"{field} {value!r} is not a Neon id (expected letters, digits, '-' or '_')")
        path = f"/projects/{project_id}/branches/{branch_id}"
        try:
            for attempt in self._retrying:
                with attempt:
                    response = self._send("DELETE", path)
        except _Retry as exc:
            raise CleanupFailed(f"Neon DELETE {path}: {exc.reason} (gave up after retries)") from None
        if response.status_code == 404:
            return False
        if response.status_code in (401, 403):
            raise ProviderUnavailable(
                f"Neon rejected the API key (HTTP {response.status_code}: {_message(response)}): "
                "check NEON_API_KEY")
        if response.is_success:
            return True
        raise CleanupFailed(f"Neon DELETE {path}: HTTP {response.status_code}: {_message(response)}")

    def _send(self, method: str, path: str) -> httpx.Response:
        started = time.perf_counter()
        try:
            response = self._http.request(method, path)
        except httpx.TransportError as exc:
            raise _Retry(f"{type(exc).__name__} talking to Neon") from None
        log.debug("Neon API call", extra={"method": method, "path": path, "status": response.status_code,
                                          "duration_ms": round((time.perf_counter() - started) * 1000, 1)})
        if response.status_code in RETRYABLE_STATUSES:
            wait = retry_after_seconds(response)
            reason = f"HTTP {response.status_code}: {_message(response)}"
            if wait is not None and wait > self._max_retry_after:
                raise CleanupFailed(f"Neon {method} {path}: {reason}; asked to wait {wait:.0f}s, "
                                    f"more than {self._max_retry_after:.0f}s: left for the next run")
            raise _Retry(reason, wait)
        return response


class NeonBranchProvider:
    """Frees an environment's Neon branch (``environments.neon_project_id`` / ``neon_branch_id``).

    ``client=None`` (no ``NEON_API_KEY``): environments holding a branch fail with a clear reason and
    stay in the backlog until a key is configured; they are never silently marked clean.
    """

    name = "neon"

    def __init__(self, client: NeonClient | None):
        self.client = client

    def holds_resources(self) -> ColumnElement[bool]:
        return env.c.neon_branch_id.is_not(None)

    def applies(self, environment: ArchivedEnvironment) -> bool:
        return environment.neon_branch_id is not None

    def free(self, environment: ArchivedEnvironment) -> Outcome:
        if self.client is None:
            raise ProviderUnavailable("NEON_API_KEY is not set: cannot delete Neon branches")
        if not environment.neon_project_id:
            raise CleanupFailed(f"environment {environment.id} has neon_branch_id "
                                f"{environment.neon_branch_id} but no neon_project_id")
        deleted = self.client.delete_branch(environment.neon_project_id, environment.neon_branch_id)
        return Outcome.FREED if deleted else Outcome.ALREADY_GONE


def neon_provider(api_key: str | None, api_url: str | None = None) -> NeonBranchProvider:
    """The Neon provider as configured: a client when a key is set, else one that reports the missing key."""
    return NeonBranchProvider(NeonClient(api_key, api_url or NEON_API_URL) if api_key else None)
