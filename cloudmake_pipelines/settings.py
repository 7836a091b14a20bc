"""Process settings from the environment, validated once, in one place.

Every command and every Dagster resource reads settings through :func:`get_settings`. Credentials are
held as :class:`Secret` so that no repr, log line or exception ever shows them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .errors import ConfigError

ENVIRONMENTS = ("dev", "staging", "production")
CREDENTIAL_VARIABLES = ("GITHUB_TOKEN", "CLOUDFLARE_API_TOKEN", "POLAR_API_KEY", "NEON_API_KEY")


class Secret:
    """A string that never prints itself. Use :meth:`reveal` at the one place the value is needed."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def make_url(raw: str):
    """SQLAlchemy's URL parser, imported on first use: `cloudmake secrets scan` must start fast."""
    from sqlalchemy.engine import make_url as parse

    return parse(raw)


def normalize_database_url(raw: str, variable: str = "DATABASE_URL") -> str:
    """Map the URL shapes people paste (Neon's ``postgres://``, plain ``postgresql://``) to SQLAlchemy drivers.

    PostgreSQL goes through psycopg 3; SQLite stays as is. Anything else is a configuration error.
    """
    try:
        url = make_url(raw)
    except Exception:  # sqlalchemy's error quotes the raw URL, password included: never chain it
        raise ConfigError(
            f"{variable} is not a database URL: expected postgresql://user:pass@host/db or sqlite:///path"
        ) from None
    backend = url.get_backend_name()
    if backend in ("postgres", "postgresql"):
        if url.drivername in ("postgres", "postgresql"):
            url = url.set(drivername="postgresql+psycopg")
        return url.render_as_string(hide_password=False)
    if backend == "sqlite":
        return url.render_as_string(hide_password=False)
    raise ConfigError(f"{variable} uses '{backend}': expected a postgresql:// (or postgres://) or sqlite:// URL")


def display_url(url: str) -> str:
    """The URL with its password masked: what logs, errors and the UI may show."""
    return make_url(url).render_as_string(hide_password=True)


@dataclass(frozen=True)
class Settings:
    environment: str
    database_url: str
    state_dir: Path
    alert_webhook_url: str | None = None
    credentials: Mapping[str, Secret] = field(default_factory=dict)

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def credential(self, name: str) -> Secret | None:
        return self.credentials.get(name)

    def secret_values(self) -> list[str]:
        """Every credential value this process knows of, for the log redactor."""
        values = [s.reveal() for s in self.credentials.values()]
        password = make_url(self.database_url).password
        if password:
            values.append(str(password))
        return values

    def __repr__(self) -> str:
        return (
            f"Settings(environment={self.environment!r}, database_url={display_url(self.database_url)!r}, "
            f"state_dir={str(self.state_dir)!r}, credentials={sorted(self.credentials)!r})"
        )


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate settings from ``environ`` (default: ``os.environ``)."""
    env = os.environ if environ is None else environ
    environment = env.get("ENVIRONMENT", "dev").strip() or "dev"
    if environment not in ENVIRONMENTS:
        raise ConfigError(f"ENVIRONMENT={environment!r} is not allowed: expected one of {', '.join(ENVIRONMENTS)}")
    state_dir = Path(env.get("CLOUDMAKE_STATE_DIR") or ".cloudmake").expanduser().resolve()
    raw_url = env.get("DATABASE_URL", "").strip()
    if raw_url:
        database_url = normalize_database_url(raw_url)
    else:
        database_url = f"sqlite:///{state_dir / 'cloudmake.db'}"
    webhook = env.get("ALERT_WEBHOOK_URL", "").strip() or None
    if webhook and not webhook.startswith(("http://", "https://")):
        raise ConfigError("ALERT_WEBHOOK_URL must be an http:// or https:// URL")
    credentials = {name: Secret(env[name]) for name in CREDENTIAL_VARIABLES if env.get(name)}
    return Settings(environment, database_url, state_dir, webhook, credentials)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once. Tests call :func:`load_settings` with their own mapping."""
    settings = load_settings()
    from .logs import redactor

    redactor.add(*settings.secret_values())
    return settings
