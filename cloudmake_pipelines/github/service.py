"""The secrets sync as the CLI and Dagster run it: configuration, the keyring as source, one run's wiring.

Configuration: the ``github`` group of :mod:`cloudmake_pipelines.settings` (``GITHUB_TOKEN``, required for
sync, dry run and check; ``GITHUB_API_URL``; ``GITHUB_SYNC_EXCLUDE``, default :data:`.rules.DEFAULT_EXCLUDE`;
``GITHUB_SYNC_WRITE_INTERVAL``, default 0.75 s: under GitHub's 80 content writes/minute;
``GITHUB_SYNC_WRITES_PER_HOUR``, the quota shared by all runs, default 5,000, the seed's figure).

The sync-state HMAC key is a random 256-bit key kept in the keyring itself (encrypted by the master key),
under a ``CLOUDMAKE_INTERNAL_`` name that is never synced.
"""

from __future__ import annotations

import base64
import contextlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from ..db.locks import exclusive
from ..db.types import utcnow
from ..errors import CloudMakeError, ConfigError
from ..keys import Keyring, SecretNotFound, open_keyring
from ..quota import Limit, QuotaService
from ..settings import GitHubSync, Secret, Settings, get_settings
from .client import GitHubClient
from .rules import ALWAYS_EXCLUDE, exclusions, matches
from .secrets_api import SecretsApi
from .sync import SecretSource, SecretsSync, SyncReport
from .targets import TargetStore

HMAC_KEY_NAME = "CLOUDMAKE_INTERNAL_GITHUB_SYNC_HMAC_KEY"
LOCK_NAME = "github_secrets_sync"


class SyncBusy(CloudMakeError):
    """Another sync is writing to GitHub from this database right now (exit 1)."""


@dataclass(frozen=True)
class SyncConfig:
    token: Secret | None
    api_url: str | None = None
    exclude: tuple[str, ...] = ()
    write_interval_seconds: float = 0.75
    writes_per_hour: int = 5000

    @classmethod
    def from_settings(cls, settings: Settings) -> SyncConfig:
        return cls.from_group(settings.github)

    @classmethod
    def from_group(cls, github: GitHubSync) -> SyncConfig:
        """The ``github`` settings group (validated there: finite, in range) as the sync uses it."""
        return cls(token=github.token, api_url=github.api_url, exclude=exclusions(github.exclude),
                   write_interval_seconds=github.write_interval_seconds, writes_per_hour=github.writes_per_hour)


class KeyringSource:
    """The keyring's secrets, decrypted, minus the platform's internal ones."""

    def __init__(self, keyring: Keyring):
        self.keyring = keyring

    def items(self) -> Iterator[tuple[str, str]]:
        return ((n, v) for n, v in self.keyring.items() if not matches(n, ALWAYS_EXCLUDE))


def state_hmac_key(keyring: Keyring, token_bytes: Callable[[int], bytes] = os.urandom) -> bytes:
    """The sync-state HMAC key from the keyring, created on first use."""
    try:
        return base64.urlsafe_b64decode(keyring.get(HMAC_KEY_NAME))
    except SecretNotFound:
        keyring.put(HMAC_KEY_NAME, base64.urlsafe_b64encode(token_bytes(32)).decode())
        return base64.urlsafe_b64decode(keyring.get(HMAC_KEY_NAME))


@contextlib.contextmanager
def exclusive_run(engine: Engine, name: str = LOCK_NAME) -> Iterator[None]:
    """One writing sync at a time per database, or :class:`SyncBusy` at once.

    A session advisory lock on PostgreSQL, a file lock next to the database on SQLite: both end with the
    process, so a killed run never blocks the next one.
    """
    busy = SyncBusy("another GitHub secrets sync is running against this database; try again when it ends")
    with exclusive(engine, name, busy=busy):
        yield


class SyncService:
    """One process's secrets sync: ``run`` and ``verify`` over the stored targets. Close it when done."""

    def __init__(self, engine: Engine, settings: Settings | None = None, *, config: SyncConfig | None = None,
                 source: SecretSource | None = None, keyring: Keyring | None = None,
                 clock: Callable[[], datetime] = utcnow, sleep: Callable[[float], None] = time.sleep):
        settings = settings or get_settings()
        config = config or SyncConfig.from_settings(settings)
        if config.token is None:
            raise ConfigError("GITHUB_TOKEN is not set: the secrets sync needs a token with secrets write access")
        keyring = keyring or open_keyring(engine, settings)
        self.engine = engine
        self.targets = TargetStore(engine)
        self.source = source or KeyringSource(keyring)
        self.client = GitHubClient(config.token, config.api_url, sleep=sleep,
                                   write_interval_seconds=config.write_interval_seconds)
        self.sync = SecretsSync(engine, SecretsApi(self.client), state_hmac_key(keyring), exclude=config.exclude,
                                quota=QuotaService(engine, clock), write_quota=Limit(config.writes_per_hour, 3600),
                                clock=clock, environment=settings.environment)

    def __enter__(self) -> SyncService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    def run(self, target_keys: list[str] | None = None, **options) -> SyncReport:
        """Sync the stored targets (all, or those named); ``options``: dry_run, force, progress."""
        targets = self.targets.list(target_keys or None)
        if options.get("dry_run"):
            return self.sync.run(targets, self.source, **options)
        with exclusive_run(self.engine):
            return self.sync.run(targets, self.source, **options)

    def verify(self, target_keys: list[str] | None = None) -> SyncReport:
        """SC-005: a dry run; GitHub's side is valid when it plans no write and finds no conflict."""
        return self.run(target_keys, dry_run=True)
