"""Key-management settings from the environment, validated once.

``CLOUDMAKE_SECRETS_FORMAT``  ``aes-256-gcm`` (default) or ``pgcrypto`` (PostgreSQL only).
``CLOUDMAKE_KEY_FILE``        the local master-key file (default ``<state dir>/keys/master_keys.json``, 0600).
``CLOUDMAKE_JWT_ALGORITHM``   ``ES256`` (default), ``RS256`` or ``EdDSA`` for newly generated signing keys.
``CLOUDFLARE_ACCOUNT_ID`` + ``CLOUDFLARE_WORKER_SCRIPT`` (+ the ``CLOUDFLARE_API_TOKEN`` credential):
publish master keys to that Worker's secrets as well. ``CLOUDFLARE_API_BASE`` overrides the API URL.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from ..errors import ConfigError
from ..settings import Settings

FORMATS = ("aes-256-gcm", "pgcrypto")
JWT_ALGORITHMS = ("ES256", "RS256", "EdDSA")
JWT_ROTATION_PERIOD = timedelta(days=90)
JWT_GRACE_PERIOD = timedelta(days=7)
JWT_ROTATION_WINDOW = timedelta(hours=24)  # SC-011
MASTER_KEY_MAX_AGE = timedelta(days=365)
CLOUDFLARE_API = "https://api.cloudflare.com/client/v4"


@dataclass(frozen=True)
class KeysConfig:
    secrets_format: str = "aes-256-gcm"
    key_file: Path = Path(".cloudmake/keys/master_keys.json")
    jwt_algorithm: str = "ES256"
    cloudflare_account_id: str | None = None
    cloudflare_script: str | None = None
    cloudflare_api_base: str = CLOUDFLARE_API

    @classmethod
    def from_env(cls, settings: Settings, environ: Mapping[str, str] | None = None) -> KeysConfig:
        env = os.environ if environ is None else environ
        fmt = env.get("CLOUDMAKE_SECRETS_FORMAT", "").strip() or FORMATS[0]
        if fmt not in FORMATS:
            raise ConfigError(f"CLOUDMAKE_SECRETS_FORMAT={fmt!r} is not allowed: expected one of {', '.join(FORMATS)}")
        if fmt == "pgcrypto" and settings.is_sqlite:
            raise ConfigError("CLOUDMAKE_SECRETS_FORMAT=pgcrypto needs PostgreSQL: DATABASE_URL points at SQLite")
        algorithm = env.get("CLOUDMAKE_JWT_ALGORITHM", "").strip() or JWT_ALGORITHMS[0]
        if algorithm not in JWT_ALGORITHMS:
            raise ConfigError(
                f"CLOUDMAKE_JWT_ALGORITHM={algorithm!r} is not allowed: expected one of {', '.join(JWT_ALGORITHMS)}")
        key_file = env.get("CLOUDMAKE_KEY_FILE", "").strip()
        account, script = env.get("CLOUDFLARE_ACCOUNT_ID", "").strip(), env.get("CLOUDFLARE_WORKER_SCRIPT", "").strip()
        if bool(account) != bool(script):
            raise ConfigError("CLOUDFLARE_ACCOUNT_ID and CLOUDFLARE_WORKER_SCRIPT go together: set both or neither")
        if account and settings.credential("CLOUDFLARE_API_TOKEN") is None:
            raise ConfigError("CLOUDFLARE_WORKER_SCRIPT is set but CLOUDFLARE_API_TOKEN is not: the Worker's "
                              "secrets cannot be updated without an API token")
        return cls(
            secrets_format=fmt,
            key_file=Path(key_file).expanduser() if key_file else settings.state_dir / "keys" / "master_keys.json",
            jwt_algorithm=algorithm,
            cloudflare_account_id=account or None,
            cloudflare_script=script or None,
            cloudflare_api_base=(env.get("CLOUDFLARE_API_BASE", "").strip() or CLOUDFLARE_API).rstrip("/"),
        )
