"""The Neon cleanup provider: deletes a preview's database branch through Neon's HTTP API.

``DELETE {api}/projects/{project_id}/branches/{branch_id}`` with ``Authorization: Bearer $NEON_API_KEY``
(https://api-docs.neon.tech). Neon answers 200 with the branch and the operations it scheduled; 404
means the branch no longer exists, which for cleanup means "already gone". Retried by the HTTP layer
(:mod:`..http`): 429 (rate limit: 700 requests a minute per account), 423 (the project is busy with other
operations), 500/502/503/504 and transport errors, waiting at least what ``Retry-After`` says, else
exponential backoff with jitter. A request that would wait more than ``max_wait_seconds`` in all gives up
for this run instead of stalling it: the environment stays in the backlog for the next run. 401/403 mean
the key is wrong: no point calling again this run.
"""

from __future__ import annotations

import re

import httpx
from sqlalchemy import ColumnElement

from ..db.tables import environments as env
from ..http import HttpClient, RetryLater, RetryPolicy, TransientStatus, Unreachable
from ..logs import get_logger, redactor
from .cleanup import ArchivedEnvironment, CleanupFailed, Outcome, ProviderUnavailable

log = get_logger("previews")
NEON_API_URL = "https://console.neon.tech/api/v2"
RETRYABLE_STATUSES = frozenset({423, 429, 500, 502, 503, 504})
#: Neon ids look like ``br-young-forest-a5b6c7d8`` / ``aged-wildflower-123456``: nothing to escape.
_NEON_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


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
                 max_wait_seconds: float = 60.0, transport: httpx.BaseTransport | None = None):
        if not api_key:
            raise ValueError("NeonClient needs an API key")
        redactor.add(api_key)
        policy = RetryPolicy(attempts=max_attempts, backoff=backoff_seconds, max_backoff=max_backoff_seconds,
                             deadline=max_wait_seconds, statuses=RETRYABLE_STATUSES)
        self._http = HttpClient(base_url.rstrip("/"), service="Neon API", setting="NEON_API_URL",
                                timeout=timeout_seconds, transport=transport, retry=policy, log=log,
                                headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"})

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
            response = self._http.delete(path)
        except RetryLater as exc:
            raise CleanupFailed(f"Neon DELETE {path}: HTTP {exc.status}: {_message(exc.response)}; asked to wait "
                                f"{exc.wait_seconds:.0f}s, more than this run allows: left for the next run") from None
        except TransientStatus as exc:
            raise CleanupFailed(f"Neon DELETE {path}: HTTP {exc.status}: {_message(exc.response)} "
                                "(gave up after retries)") from None
        except Unreachable as exc:
            raise CleanupFailed(f"Neon DELETE {path}: {exc.reason} talking to Neon (gave up after retries)") from None
        log.debug("Neon API call", extra={"method": "DELETE", "path": path, "status": response.status_code,
                                          "duration_ms": round(response.elapsed.total_seconds() * 1000, 1)})
        if response.status_code == 404:
            return False
        if response.status_code in (401, 403):
            raise ProviderUnavailable(
                f"Neon rejected the API key (HTTP {response.status_code}: {_message(response)}): "
                "check NEON_API_KEY")
        if response.is_success:
            return True
        raise CleanupFailed(f"Neon DELETE {path}: HTTP {response.status_code}: {_message(response)}")


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
