"""A Cloudflare Worker's secrets as a master-key env binding (seed task 6).

The platform's API reads its secrets with the master keys, so a rotation publishes each key there too.
Cloudflare never returns a secret's value, only its name, so it is a write target: put, delete, list names.
"""

from __future__ import annotations

from ..errors import CloudMakeError
from ..http import TRANSIENT_STATUSES, HttpClient, RetryLater, RetryPolicy, TransientStatus, Unreachable
from ..logs import redactor


class CloudflareError(CloudMakeError):
    """Cloudflare's API refused a request; the message carries its error codes, never a secret value."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class CloudflareWorkerSecrets:
    """A Worker's secrets through Cloudflare's API v4 (``/accounts/{id}/workers/scripts/{script}/secrets``).

    Bearer-token auth; every response is the ``{"success", "errors", "messages", "result"}`` envelope.
    429 and 5xx are transient (the HTTP layer retries them, honouring ``Retry-After``); anything else raises.
    """

    def __init__(self, account_id: str, script: str, api_token: str, *, base_url: str,
                 attempts: int = 4, backoff_seconds: float = 0.5):
        self.script = script
        self._prefix = f"/accounts/{account_id}/workers/scripts/{script}/secrets"
        redactor.add(api_token)
        self._http = HttpClient(base_url, service="Cloudflare", setting="CLOUDFLARE_API_BASE", timeout=15.0,
                                headers={"Authorization": f"Bearer {api_token}"},
                                retry=RetryPolicy(attempts=attempts, backoff=backoff_seconds,
                                                  statuses=TRANSIENT_STATUSES | {500}))

    def _request(self, method: str, path: str, body: dict | None = None):
        failed = f"Cloudflare {method} worker secrets of {self.script!r} failed"
        try:
            response = self._http.request(method, self._prefix + path, json=body)
        except RetryLater as exc:
            raise CloudflareError(f"{failed}: HTTP {exc.status}, asked to wait {exc.wait_seconds:.0f}s: "
                                  f"retry after {exc.retry_at.isoformat()}", exc.status) from None
        except TransientStatus as exc:
            response = exc.response  # the last answer, reported below with Cloudflare's error codes
        except Unreachable as exc:
            raise CloudflareError(f"{failed}: {exc.reason} after {exc.attempts} attempts") from None
        try:
            envelope = response.json()
        except ValueError:
            envelope = {"success": False, "errors": [{"code": 0, "message": response.text[:200]}]}
        if response.status_code >= 400 or not envelope.get("success", False):
            errors = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in envelope.get("errors") or [])
            raise CloudflareError(f"{failed}: HTTP {response.status_code} ({redactor(errors) or 'no error detail'})",
                                  response.status_code)
        return envelope.get("result")

    def put(self, name: str, value: str) -> None:
        self._request("PUT", "", {"name": name, "text": value, "type": "secret_text"})

    def delete(self, name: str) -> None:
        try:
            self._request("DELETE", f"/{name}")
        except CloudflareError as exc:
            if exc.status != 404:  # already gone: deleting is idempotent
                raise

    def names(self) -> list[str]:
        return sorted(item["name"] for item in self._request("GET", "") or [])
