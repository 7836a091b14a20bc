"""Process settings: one pydantic-settings model, every environment variable declared once, per task.

Every command, domain module and Dagster resource reads configuration through :func:`get_settings`
(tests build the whole model from a mapping with :func:`load_settings`). Each group below is one task's
variables; a field's ``validation_alias`` is the variable's name, and the README's table lists exactly
these names (``tests/test_settings.py`` checks both ways). Credentials are :class:`Secret`: masked in
every repr, dump and error. Numbers are finite and in range; a bad value is a :class:`ConfigError`
(exit 2) naming the variable, the value (never a secret's) and what was expected.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import core_schema
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from .errors import ConfigError
from .validation import validation_message

ENVIRONMENTS = ("dev", "staging", "production")
MASTER_KEY_PREFIX = "CLOUDMAKE_MASTER_KEY_V"


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

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> core_schema.CoreSchema:
        """Validated from a string (or a Secret); dumped as the mask, so a dump never holds the value."""
        from_str = core_schema.no_info_after_validator_function(cls, core_schema.str_schema(min_length=1))
        return core_schema.union_schema(
            [core_schema.is_instance_schema(cls), from_str],
            serialization=core_schema.plain_serializer_function_ser_schema(repr, when_used="json"))


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


# ---------------------------------------------------------------------------------------------------------
# The groups: one per task, field alias = the environment variable


def _http_url(value: str | None) -> str | None:
    if value is not None and not value.startswith(("http://", "https://")):
        raise ValueError("an http:// or https:// URL")
    return value


HttpUrl = Annotated[str, AfterValidator(_http_url)]


class Group(BaseModel):
    """A task's variables. Frozen, finite numbers only, unknown names ignored (the environment holds many)."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False, extra="ignore", validate_by_name=True,
                              validate_by_alias=True)

    def merged(self, **overrides: Any):
        """This group with the non-None ``overrides`` (by field name), validated again: the one way a
        resource's or a command's explicit values win over the environment."""
        given = {k: v for k, v in overrides.items() if v is not None}
        if not given:
            return self
        values = {name: getattr(self, name) for name in type(self).model_fields if name in self.model_fields_set}
        try:
            return type(self).model_validate({**values, **given})
        except ValidationError as exc:
            raise ConfigError(validation_message(exc, secrets=secret_fields(type(self)))) from None


class Core(Group):
    environment: Literal["dev", "staging", "production"] = Field(
        "dev", validation_alias="ENVIRONMENT", description="`dev` (default), `staging` or `production`")
    state_dir: Path = Field(Path(".cloudmake"), validation_alias="CLOUDMAKE_STATE_DIR",
                            description="local state folder (default `.cloudmake`)")
    database_url: str | None = Field(
        None, validation_alias="DATABASE_URL",
        description="platform database. Default: embedded SQLite at `.cloudmake/cloudmake.db`. `postgresql://` "
                    "and `postgres://` URLs (as Neon hands them out) work")

    dagster_home: Path | None = Field(
        None, validation_alias="DAGSTER_HOME",
        description="the Dagster instance `cloudmake status` reads (default `<state dir>/dagster_home`)")

    @model_validator(mode="after")
    def _resolve(self) -> Core:
        if self.database_url is None and self.environment == "production":
            # Production's data is in PostgreSQL: a shell or unit without the settings file would otherwise
            # migrate, read and rotate keys in an empty SQLite file under the checkout, and exit 0.
            raise ConfigError("DATABASE_URL: expected a database URL when ENVIRONMENT=production (the embedded "
                              "SQLite default is for dev and staging trials); set it, e.g. from "
                              "/etc/cloudmake/pipelines.env")
        object.__setattr__(self, "state_dir", self.state_dir.expanduser().resolve())
        url = normalize_database_url(self.database_url) if self.database_url else \
            f"sqlite:///{self.state_dir / 'cloudmake.db'}"
        object.__setattr__(self, "database_url", url)
        return self


class Alerts(Group):
    webhook_url: HttpUrl | None = Field(
        None, validation_alias="ALERT_WEBHOOK_URL",
        description="alerts are POSTed here as JSON (retried with backoff); unset: alerts are log lines only")
    overdue_minutes: int = Field(
        15, ge=1, le=10_080, validation_alias="ALERT_OVERDUE_MINUTES",
        description="an alert still undelivered after this many minutes fails the `alert_outbox` check "
                    "(default 15)")


class GitHubSync(Group):
    token: Secret | None = Field(None, validation_alias="GITHUB_TOKEN",
                                 description="GitHub token (secrets sync, drift PR comments); never printed")
    api_url: HttpUrl = Field("https://api.github.com", validation_alias="GITHUB_API_URL",
                             description="GitHub REST base URL (GitHub Enterprise Server)")
    exclude: str | None = Field(
        None, validation_alias="GITHUB_SYNC_EXCLUDE", json_schema_extra={"keep_empty": True},
        description="comma-separated globs never synced (default: master and signing keys, `LOCAL_*`)")
    write_interval_seconds: float = Field(
        0.75, ge=0, le=3600, validation_alias="GITHUB_SYNC_WRITE_INTERVAL",
        description="seconds between writes (default 0.75: under GitHub's 80 content writes/minute)")
    writes_per_hour: int = Field(5000, gt=0, le=1_000_000, validation_alias="GITHUB_SYNC_WRITES_PER_HOUR",
                                 description="write quota shared by all sync runs (default 5000)")


class GitHubActions(Group):
    """What GitHub Actions sets in a workflow run: drift's PR comment finds its pull request with these."""

    actions: str | None = Field(None, validation_alias="GITHUB_ACTIONS",
                                description="`true` inside GitHub Actions (set by the runner)")
    repository: str | None = Field(None, validation_alias="GITHUB_REPOSITORY",
                                   description="`owner/name` of the workflow's repository (set by the runner)")
    event_path: Path | None = Field(None, validation_alias="GITHUB_EVENT_PATH",
                                    description="the event payload file (set by the runner)")
    ref: str | None = Field(None, validation_alias="GITHUB_REF",
                            description="`refs/pull/N/merge` on pull requests (set by the runner)")


class Previews(Group):
    neon_api_key: Secret | None = Field(None, validation_alias="NEON_API_KEY",
                                        description="Neon API key: frees archived previews' branches; never printed")
    neon_api_url: HttpUrl | None = Field(None, validation_alias="NEON_API_URL",
                                         description="Neon API base URL (default Neon's public API)")
    pushgateway_url: HttpUrl | None = Field(
        None, validation_alias="PROMETHEUS_PUSHGATEWAY_URL",
        description="preview gauges are pushed here after each archival run; unset: no push")


class Outages(Group):
    threshold_seconds: float = Field(90.0, ge=0, le=86_400, validation_alias="CLOUDMAKE_MCP_OUTAGE_THRESHOLD_SECONDS",
                                     description="alert when a server is out of CLOSED longer than this (90)")
    flap_window_seconds: float = Field(
        300.0, ge=0, le=86_400, validation_alias="CLOUDMAKE_MCP_FLAP_WINDOW_SECONDS",
        description="a reopen within this after a close is the same outage; \"resolved\" waits this long (300)")
    endpoint_url: HttpUrl | None = Field(None, validation_alias="CLOUDMAKE_MCP_BREAKER_URL",
                                        description="read circuit breakers from this HTTP endpoint, not the database")
    endpoint_token: Secret | None = Field(None, validation_alias="CLOUDMAKE_MCP_BREAKER_TOKEN",
                                         description="bearer token for that endpoint; never printed")
    fallbacks_file: Path | None = Field(None, validation_alias="CLOUDMAKE_MCP_FALLBACKS",
                                        description="fallback guidance YAML file (optional)")


class LoadTest(Group):
    thresholds_file: Path | None = Field(None, validation_alias="CLOUDMAKE_MCP_THRESHOLDS",
                                         description="load-test thresholds JSON (default: the packaged file)")


class Drift(Group):
    target: Path | None = Field(None, validation_alias="CLOUDMAKE_DRIFT_TARGET",
                                description="repository the hourly drift asset checks (default: this checkout)")


class Keys(Group):
    secrets_format: Literal["aes-256-gcm", "pgcrypto"] = Field(
        "aes-256-gcm", validation_alias="CLOUDMAKE_SECRETS_FORMAT",
        description="keyring encryption: `aes-256-gcm` (default) or `pgcrypto` (PostgreSQL only)")
    key_file: Path | None = Field(None, validation_alias="CLOUDMAKE_KEY_FILE",
                                  description="local master-key file (default `<state dir>/keys/master_keys.json`)")
    jwt_algorithm: Literal["ES256", "RS256", "EdDSA"] = Field(
        "ES256", validation_alias="CLOUDMAKE_JWT_ALGORITHM",
        description="algorithm of new JWT signing keys: `ES256` (default), `RS256` or `EdDSA`")
    cloudflare_account_id: str | None = Field(None, validation_alias="CLOUDFLARE_ACCOUNT_ID",
                                              description="with `CLOUDFLARE_WORKER_SCRIPT`: publish master keys "
                                                          "to that Worker's secrets")
    cloudflare_script: str | None = Field(None, validation_alias="CLOUDFLARE_WORKER_SCRIPT",
                                          description="the Worker whose secrets hold the master keys")
    cloudflare_api_base: HttpUrl = Field("https://api.cloudflare.com/client/v4", validation_alias="CLOUDFLARE_API_BASE",
                                         description="Cloudflare API base URL")
    cloudflare_api_token: Secret | None = Field(None, validation_alias="CLOUDFLARE_API_TOKEN",
                                                description="Cloudflare API token (Worker secrets); never printed")
    master_keys: dict[str, Secret] = Field(
        default_factory=dict, validation_alias=f"{MASTER_KEY_PREFIX}<n>",
        description="master key version n (base64url, 32 bytes), read before the key file; never printed")


class Quota(Group):
    config_file: Path | None = Field(
        None, validation_alias="CLOUDMAKE_QUOTA_CONFIG",
        description="quota monitoring YAML/JSON: N of M windows, per-kind overrides (default: built-in 6 of 24)")
    redis_url: Secret | None = Field(
        None, validation_alias="CLOUDMAKE_QUOTA_REDIS_URL",
        description="Redis holding the API rate limiters' exhaustion stream (e.g. `redis://127.0.0.1:6379/0`); "
                    "unset: no stream is read; never printed")
    stream: str = Field("cloudmake:quota:exhaustions", min_length=1, max_length=200,
                        validation_alias="CLOUDMAKE_QUOTA_STREAM",
                        description="Redis stream of exhaustion events (default `cloudmake:quota:exhaustions`)")


class Tokens(Group):
    slo_seconds: float = Field(300.0, gt=0, le=86_400, validation_alias="CLOUDMAKE_TOKENS_SLO_SECONDS",
                               description="SC-002: every app serves a token version within this many seconds "
                                           "of its commit (300)")
    poll_timeout_seconds: float = Field(5.0, gt=0, le=60, validation_alias="CLOUDMAKE_TOKENS_POLL_TIMEOUT",
                                        description="seconds one app may take to answer a version poll (5)")
    poll_concurrency: int = Field(16, ge=1, le=256, validation_alias="CLOUDMAKE_TOKENS_POLL_CONCURRENCY",
                                  description="apps polled at once by the token propagation sensor (16)")


class A11y(Group):
    threshold_percent: float = Field(98.0, ge=0, le=100, validation_alias="CLOUDMAKE_A11Y_THRESHOLD",
                                     description="SC-003: AA compliance (percent of WCAG A/AA checks passed) an "
                                                 "audit must reach (98)")
    contexts: int = Field(4, ge=1, le=32, validation_alias="CLOUDMAKE_A11Y_CONTEXTS",
                          description="browser contexts auditing pages at once, in one Chromium (4)")
    page_timeout_seconds: float = Field(30.0, gt=0, le=600, validation_alias="CLOUDMAKE_A11Y_PAGE_TIMEOUT",
                                        description="seconds one story or page may take to load, render and be "
                                                    "audited before it counts as failed (30)")
    chromium: Path | None = Field(None, validation_alias="CLOUDMAKE_A11Y_CHROMIUM",
                                  description="the Chromium executable to drive (default: `chromium` on PATH, "
                                              "Debian's package)")
    report_dir: Path | None = Field(None, validation_alias="CLOUDMAKE_A11Y_REPORT_DIR",
                                    description="where the scheduled audit writes its HTML and JSON reports "
                                                "(default `<state dir>/a11y`)")


def _broker_url(value: Secret | None) -> Secret | None:
    if value is not None and not value.reveal().startswith(("amqp://", "amqps://", "pyamqp://", "redis://", "rediss://")):
        raise ValueError("an amqp:// (RabbitMQ) or redis:// broker URL")
    return value


class Execution(Group):
    """Where a run's steps execute: in the run's process (default) or on dagster-celery workers."""

    executor: Literal["in_process", "celery"] = Field(
        "in_process", validation_alias="CLOUDMAKE_EXECUTOR",
        description="`in_process` (default: every step in its run's process) or `celery`: the load-generating "
                    "tasks' steps go to dagster-celery workers (deploy/README.md, Scaling past one machine)")
    celery_broker_url: Annotated[Secret, AfterValidator(_broker_url)] | None = Field(
        None, validation_alias="CLOUDMAKE_CELERY_BROKER_URL",
        description="Celery broker, required with `CLOUDMAKE_EXECUTOR=celery` (e.g. "
                    "`amqp://user:pass@rabbitmq:5672//` or `redis://…`); never printed")
    celery_backend_url: Secret | None = Field(
        None, validation_alias="CLOUDMAKE_CELERY_BACKEND_URL",
        description="where workers return step results (default: `rpc://`, back through RabbitMQ; with a Redis "
                    "broker, the broker); never printed")
    celery_queue: str = Field(
        "cloudmake-load", min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$",
        validation_alias="CLOUDMAKE_CELERY_QUEUE",
        description="the Celery queue load-generating steps go to (default `cloudmake-load`); its workers run "
                    "one process per core")


class Billing(Group):
    polar_api_key: Secret | None = Field(None, validation_alias="POLAR_API_KEY",
                                         description="Polar API key (billing provider credential); never printed")


class SecretScan(Group):
    """Declared and validated here; read by the scanner through ``secretscan.environment`` (the one
    documented exception: a pre-commit hook must not pay for importing this model)."""

    fingerprint_key: Secret | None = Field(
        None, validation_alias="CLOUDMAKE_SECRETSCAN_FINGERPRINT_KEY",
        description="secret scanning: fingerprint key (64 hex digits) when no `--baseline` gives one, so CI "
                    "runs keep SARIF alert identities; unset: a key per run; never printed")
    cache_home: Path | None = Field(
        None, validation_alias="XDG_CACHE_HOME",
        description="secret scanning caches validated rules and the compiled hyperscan database under "
                    "`<this>/cloudmake/secretscan` (default `~/.cache`)")

    @field_validator("fingerprint_key")
    @classmethod
    def _key_shape(cls, value: Secret | None) -> Secret | None:
        from .secretscan.environment import parse_fingerprint_key

        if value is not None:
            parse_fingerprint_key(value.reveal())
        return value


GROUPS: dict[str, type[Group]] = {
    "core": Core, "alerts": Alerts, "github": GitHubSync, "github_actions": GitHubActions, "previews": Previews,
    "outages": Outages, "loadtest": LoadTest, "drift": Drift, "keys": Keys, "billing": Billing,
    "quota": Quota, "tokens": Tokens, "a11y": A11y, "secretscan": SecretScan, "execution": Execution,
}


def secret_fields(model: type[BaseModel]) -> frozenset[str]:
    """Field names and variable names whose values are secrets (never shown in an error)."""
    names = set()
    for name, info in model.model_fields.items():
        if "Secret" in str(info.annotation):
            names.update({name, str(info.validation_alias)})
    return frozenset(names)


def variables() -> dict[str, str]:
    """Every declared variable name -> its description (the README table is checked against this)."""
    return {str(info.validation_alias): info.description or "" for group in GROUPS.values()
            for info in group.model_fields.values()}


#: Never echoed in an error: the credentials, and URLs that may carry one (a password, a Slack webhook's token).
SECRET_VARIABLES = frozenset({n for group in GROUPS.values() for n in secret_fields(group) if n.isupper()
                              or n.endswith("<n>")} | {"DATABASE_URL", "ALERT_WEBHOOK_URL"})


class _Variables(PydanticBaseSettingsSource):
    """Each group's variables, by name, from one mapping (``os.environ`` or a test's). Empty means unset,
    except where a field keeps it (``GITHUB_SYNC_EXCLUDE=""``: exclude nothing)."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]):
        super().__init__(settings_cls)
        self.environ = environ

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        raise NotImplementedError("values come from __call__")

    def __call__(self) -> dict[str, Any]:
        values: dict[str, dict[str, Any]] = {}
        for group_name, group in GROUPS.items():
            found: dict[str, Any] = {}
            for info in group.model_fields.values():
                alias = str(info.validation_alias)
                raw = self.environ.get(alias)
                keep_empty = (info.json_schema_extra or {}).get("keep_empty")
                if raw is not None and (raw.strip() or keep_empty):
                    found[alias] = raw.strip()
            keys = {k: v for k, v in self.environ.items() if k.startswith(MASTER_KEY_PREFIX) and v.strip()}
            if group is Keys and keys:
                found[f"{MASTER_KEY_PREFIX}<n>"] = {k: v.strip() for k, v in keys.items()}
            values[group_name] = found
        return values


class Settings(BaseSettings):
    """The whole configuration. ``settings.<group>.<field>``; the old flat names stay as properties."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    core: Core = Core()
    alerts: Alerts = Alerts()
    github: GitHubSync = GitHubSync()
    github_actions: GitHubActions = GitHubActions()
    previews: Previews = Previews()
    outages: Outages = Outages()
    loadtest: LoadTest = LoadTest()
    drift: Drift = Drift()
    keys: Keys = Keys()
    tokens: Tokens = Tokens()
    a11y: A11y = A11y()
    billing: Billing = Billing()
    quota: Quota = Quota()
    secretscan: SecretScan = SecretScan()
    execution: Execution = Execution()
    _environ: Mapping[str, str] = PrivateAttr(default_factory=dict)

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings):
        """Only what :func:`load_settings` passes: it reads the mapping through :class:`_Variables`."""
        return (init_settings,)

    @property
    def environment(self) -> str:
        return self.core.environment

    @property
    def database_url(self) -> str:
        return str(self.core.database_url)

    @property
    def state_dir(self) -> Path:
        return self.core.state_dir

    @property
    def alert_webhook_url(self) -> str | None:
        return self.alerts.webhook_url

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def credentials(self) -> dict[str, Secret]:
        """The credentials that are set (every :class:`Secret` field), by variable name."""
        found = {}
        for group in GROUPS:
            model = getattr(self, group)
            for name, info in type(model).model_fields.items():
                value = getattr(model, name)
                if isinstance(value, Secret):
                    found[str(info.validation_alias)] = value
        return found

    def credential(self, name: str) -> Secret | None:
        return self.credentials.get(name)

    def variable(self, name: str) -> str | None:
        """A variable the *user* names (an MCP server's ``env:NAME`` auth, ``${NAME}`` in drift.yaml): not
        declared here because its name is data. The value is registered with the log redactor."""
        value = self._environ.get(name)
        if value:
            from .logs import redactor

            redactor.add(value)
        return value

    def secret_values(self) -> list[str]:
        """Every credential value this process knows of, for the log redactor."""
        values = [s.reveal() for s in self.credentials.values()]
        values += [s.reveal() for s in self.keys.master_keys.values()]
        password = make_url(self.database_url).password
        if password:
            values.append(str(password))
        return values

    def __repr__(self) -> str:
        return (f"Settings(environment={self.environment!r}, database_url={display_url(self.database_url)!r}, "
                f"state_dir={str(self.state_dir)!r}, credentials={sorted(self.credentials)!r})")

    __str__ = __repr__


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every group from ``environ`` (default: ``os.environ``); :class:`ConfigError`
    (exit 2) names the variable, its value (unless secret) and what was expected."""
    env = dict(os.environ if environ is None else environ)
    try:
        settings = Settings(**_Variables(Settings, env)())
    except ValidationError as exc:
        raise ConfigError(validation_message(exc, secrets=SECRET_VARIABLES, skip=1)) from None
    settings._environ = env
    return settings


def is_set(variable: str) -> bool:
    """Whether this process's environment sets ``variable`` (non-empty): resources wire it as ``dg.EnvVar``."""
    return bool(os.environ.get(variable, "").strip())


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once. Tests call :func:`load_settings` with their own mapping."""
    settings = load_settings()
    from .logs import redactor

    redactor.add(*settings.secret_values())
    return settings
