"""Env bindings: where master-key material lives. Never in the database.

* :class:`LocalKeyStore` is what this process reads keys from: an environment variable
  ``CLOUDMAKE_MASTER_KEY_V<n>`` wins, else the 0600 JSON key file under the state dir. New keys are
  written to the file (atomically: temp file, fsync, rename, under an exclusive lock).
* :class:`CloudflareWorkerSecrets` publishes the same keys as secrets of a Cloudflare Worker (the
  platform's API reads secrets with them). Cloudflare never returns a secret's value, only its name,
  so it is a write target: put, delete, list names.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import secrets as random
import stat
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import httpx
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

from ..errors import CloudMakeError, ConfigError
from ..logs import redactor

KEY_BYTES = 32  # AES-256


def binding_name(version: int) -> str:
    """The env-binding name of master key ``version`` (the same in env vars, the key file and the Worker)."""
    return f"CLOUDMAKE_MASTER_KEY_V{version}"


def new_key_material(token_bytes: Callable[[int], bytes] = random.token_bytes) -> str:
    """A fresh 256-bit key, base64url-encoded (the form every binding stores)."""
    return base64.urlsafe_b64encode(token_bytes(KEY_BYTES)).decode()


def decode_key(material: str, source: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(material.encode())
    except (ValueError, TypeError):
        key = b""
    if len(key) != KEY_BYTES:
        raise ConfigError(f"{source} is not a master key: expected {KEY_BYTES} bytes, base64url-encoded")
    return key


class LocalKeyStore:
    """Master keys from env vars (read-only) and a 0600 key file (read-write)."""

    def __init__(self, key_file: Path, environ: Mapping[str, str] | None = None):
        self.key_file = Path(key_file)
        self._environ = os.environ if environ is None else environ

    def describe(self, version: int) -> str:
        return f"${binding_name(version)} or {self.key_file}"

    def get(self, version: int) -> str | None:
        name = binding_name(version)
        value = self._environ.get(name, "").strip() or self._read_file().get(name)
        redactor.add(value)
        return value

    def versions(self) -> list[int]:
        names = set(self._read_file()) | {k for k in self._environ if k.startswith("CLOUDMAKE_MASTER_KEY_V")}
        return sorted(int(n.rsplit("V", 1)[1]) for n in names if n.rsplit("V", 1)[1].isdigit())

    def ensure(self, version: int, generate: Callable[[], str]) -> str:
        """The key for ``version``: the existing one, else ``generate()`` written to the key file."""
        existing = self.get(version)
        if existing:
            return existing
        with self._locked():
            keys = self._read_file()
            value = keys.get(binding_name(version))
            if not value:
                value = generate()
                redactor.add(value)
                self._write_file({**keys, binding_name(version): value})
        return value

    def delete(self, version: int) -> None:
        """Forget key ``version`` (the file entry; an env var must be unset by whoever set it)."""
        with self._locked():
            keys = self._read_file()
            if keys.pop(binding_name(version), None) is not None:
                self._write_file(keys)

    def env_override(self, version: int) -> bool:
        return bool(self._environ.get(binding_name(version), "").strip())

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.key_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(f"{self.key_file}.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _read_file(self) -> dict[str, str]:
        try:
            mode = stat.S_IMODE(self.key_file.stat().st_mode)
        except FileNotFoundError:
            return {}
        if mode & 0o077:
            raise ConfigError(f"key file {self.key_file} has mode {mode:04o}: expected 0600 "
                              f"(run: chmod 600 {self.key_file})")
        try:
            data = json.loads(self.key_file.read_text())
        except ValueError:
            raise ConfigError(f"key file {self.key_file} is not valid JSON: expected "
                              '{"CLOUDMAKE_MASTER_KEY_V1": "<base64url key>", ...}') from None
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise ConfigError(f"key file {self.key_file}: expected a JSON object of name -> base64url key")
        redactor.add(*data.values())
        return data

    def _write_file(self, keys: dict[str, str]) -> None:
        tmp = self.key_file.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(keys, handle, indent=1, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.key_file)
        dir_fd = os.open(self.key_file.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


class CloudflareError(CloudMakeError):
    """Cloudflare's API refused a request; the message carries its error codes, never a secret value."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, CloudflareError):
        return exc.status is not None and (exc.status == 429 or exc.status >= 500)
    return isinstance(exc, httpx.TransportError)


class CloudflareWorkerSecrets:
    """A Worker's secrets through Cloudflare's API v4 (``/accounts/{id}/workers/scripts/{script}/secrets``).

    Bearer-token auth; every response is the ``{"success", "errors", "messages", "result"}`` envelope.
    429 and 5xx are retried with exponential backoff (honouring ``Retry-After``); anything else raises.
    """

    def __init__(self, account_id: str, script: str, api_token: str, *, base_url: str,
                 client: httpx.Client | None = None, attempts: int = 4, backoff_seconds: float = 0.5):
        self.script = script
        self._prefix = f"/accounts/{account_id}/workers/scripts/{script}/secrets"
        self._client = client or httpx.Client(base_url=base_url, timeout=15.0,
                                              headers={"Authorization": f"Bearer {api_token}"})
        redactor.add(api_token)
        self._request = retry(retry=retry_if_exception(_retryable), stop=stop_after_attempt(attempts),
                              wait=wait_exponential(multiplier=backoff_seconds, max=10), reraise=True)(self._once)

    def _once(self, method: str, path: str, body: dict | None = None):
        response = self._client.request(method, self._prefix + path, json=body)
        try:
            envelope = response.json()
        except ValueError:
            envelope = {"success": False, "errors": [{"code": 0, "message": response.text[:200]}]}
        if response.status_code >= 400 or not envelope.get("success", False):
            errors = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in envelope.get("errors") or [])
            if response.status_code == 429:
                wait = float(response.headers.get("retry-after", "0") or 0)
                if 0 < wait <= 60:
                    time.sleep(wait)
            raise CloudflareError(f"Cloudflare {method} worker secrets of {self.script!r} failed: "
                                  f"HTTP {response.status_code} ({redactor(errors) or 'no error detail'})",
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
