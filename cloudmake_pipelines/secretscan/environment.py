"""The secret scanner's environment variables, read without the settings model: a documented exception.

Every other variable is read through :mod:`cloudmake_pipelines.settings`. ``cloudmake secrets scan`` runs as
a pre-commit hook on every commit, and importing the settings model (pydantic, pydantic-settings) would
multiply its start-up time. So the scanner reads its two variables here, and ``settings.SecretScan``
declares them (the README table) and validates them with these same functions: one rule per variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from ..errors import ConfigError

FINGERPRINT_KEY = "CLOUDMAKE_SECRETSCAN_FINGERPRINT_KEY"
CACHE_HOME = "XDG_CACHE_HOME"
KEY_BYTES = 32


def parse_fingerprint_key(value: str) -> bytes:
    """The key of ``value`` (64 hex digits); else ``ValueError`` naming what was expected (not the value)."""
    try:
        key = bytes.fromhex(value.strip())
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise ValueError(f"{KEY_BYTES * 2} hex digits")
    return key


def fingerprint_key(environ: Mapping[str, str] | None = None) -> bytes | None:
    """$CLOUDMAKE_SECRETSCAN_FINGERPRINT_KEY: a fingerprint key shared by CI runs without a baseline (so
    SARIF alerts keep their identity); ``None`` when unset. A malformed value is a :class:`ConfigError`."""
    value = (os.environ if environ is None else environ).get(FINGERPRINT_KEY, "")
    if not value.strip():
        return None
    try:
        return parse_fingerprint_key(value)
    except ValueError as exc:
        raise ConfigError(f"${FINGERPRINT_KEY}: expected {exc} (value not shown)") from None


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where compiled rules are cached: ``$XDG_CACHE_HOME/cloudmake/secretscan`` (default ``~/.cache``)."""
    root = (os.environ if environ is None else environ).get(CACHE_HOME, "").strip()
    return Path(root or os.path.join(os.path.expanduser("~"), ".cache")) / "cloudmake" / "secretscan"
