"""Key-management settings: the ``keys`` group of :mod:`cloudmake_pipelines.settings`, checked against the
rest of the configuration where keys are used.

``CLOUDMAKE_SECRETS_FORMAT``  ``aes-256-gcm`` (default) or ``pgcrypto`` (PostgreSQL only).
``CLOUDMAKE_KEY_FILE``        the local master-key file (default ``<state dir>/keys/master_keys.json``, 0600).
``CLOUDMAKE_JWT_ALGORITHM``   ``ES256`` (default), ``RS256`` or ``EdDSA`` for newly generated signing keys.
``CLOUDFLARE_ACCOUNT_ID`` + ``CLOUDFLARE_WORKER_SCRIPT`` (+ the ``CLOUDFLARE_API_TOKEN`` credential):
publish master keys to that Worker's secrets as well. ``CLOUDFLARE_API_BASE`` overrides the API URL.
"""

from __future__ import annotations

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
    def from_settings(cls, settings: Settings) -> KeysConfig:
        keys = settings.keys
        if keys.secrets_format == "pgcrypto" and settings.is_sqlite:
            raise ConfigError("CLOUDMAKE_SECRETS_FORMAT=pgcrypto needs PostgreSQL: DATABASE_URL points at SQLite")
        if bool(keys.cloudflare_account_id) != bool(keys.cloudflare_script):
            raise ConfigError("CLOUDFLARE_ACCOUNT_ID and CLOUDFLARE_WORKER_SCRIPT go together: set both or neither")
        if keys.cloudflare_account_id and keys.cloudflare_api_token is None:
            raise ConfigError("CLOUDFLARE_WORKER_SCRIPT is set but CLOUDFLARE_API_TOKEN is not: the Worker's "
                              "secrets cannot be updated without an API token")
        return cls(
            secrets_format=keys.secrets_format,
            key_file=keys.key_file.expanduser() if keys.key_file else settings.state_dir / "keys" / "master_keys.json",
            jwt_algorithm=keys.jwt_algorithm,
            cloudflare_account_id=keys.cloudflare_account_id,
            cloudflare_script=keys.cloudflare_script,
            cloudflare_api_base=keys.cloudflare_api_base.rstrip("/"),
        )
