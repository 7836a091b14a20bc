"""Env bindings: where master-key material lives. Never in the database.

* :class:`LocalKeyStore` is what this process reads keys from: an environment variable
  ``CLOUDMAKE_MASTER_KEY_V<n>`` wins, else the 0600 JSON key file under the state dir. New keys are
  written to the file (atomically: temp file, fsync, rename, under an exclusive lock).
* :class:`~.cloudflare.CloudflareWorkerSecrets` publishes the same keys as secrets of a Cloudflare Worker
  (its own module: only a rotation with a remote binding loads the HTTP layer).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import secrets as random
import stat
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from ..errors import ConfigError
from ..fsio import write_output
from ..logs import redactor
from ..settings import Secret, get_settings

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
    """Master keys from env vars (read-only) and a 0600 key file (read-write).

    ``bindings``: the ``CLOUDMAKE_MASTER_KEY_V<n>`` variables by name (default: the process settings').
    """

    def __init__(self, key_file: Path, bindings: Mapping[str, str | Secret] | None = None):
        self.key_file = Path(key_file)
        if bindings is None:
            bindings = get_settings().keys.master_keys
        self._environ = {k: v.reveal() if isinstance(v, Secret) else v for k, v in bindings.items()}

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
        write_output(self.key_file, json.dumps(keys, indent=1, sort_keys=True).encode(), mode=0o600)
