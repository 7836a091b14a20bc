"""Wiring for the CLI and Dagster: the keyring, rotations and key set built from settings, plus health facts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, func, select

from ..db.tables import master_key_versions, secrets
from ..db.types import utcnow
from ..errors import ConfigError
from ..fsio import write_output
from ..settings import Settings
from . import state
from .config import MASTER_KEY_MAX_AGE, KeysConfig
from .keyring import Keyring, open_keyring
from .master import MasterKeyRotation
from .signing import SigningKeys

if TYPE_CHECKING:
    from .cloudflare import CloudflareWorkerSecrets


def remote_bindings(settings: Settings, config: KeysConfig) -> list[CloudflareWorkerSecrets]:
    """The Worker whose secrets mirror the master keys, when CLOUDFLARE_ACCOUNT_ID/_WORKER_SCRIPT are set."""
    if not config.cloudflare_account_id:
        return []
    from .cloudflare import CloudflareWorkerSecrets

    token = settings.credential("CLOUDFLARE_API_TOKEN").reveal()
    return [CloudflareWorkerSecrets(config.cloudflare_account_id, config.cloudflare_script, token,
                                    base_url=config.cloudflare_api_base)]


class KeyManagement:
    """Everything issue 7 offers, for one database and one set of settings."""

    def __init__(self, engine: Engine, settings: Settings, *, actor: str, clock=utcnow,
                 config: KeysConfig | None = None, bootstrap: bool = True):
        self.settings = settings
        self.config = config or KeysConfig.from_settings(settings)
        self.keyring: Keyring = open_keyring(engine, settings, config=self.config, clock=clock, bootstrap=bootstrap)
        self.actor = actor

    def master_rotation(self, batch_size: int = 1000, on_batch=None) -> MasterKeyRotation:
        return MasterKeyRotation(self.keyring, environment=self.settings.environment, actor=self.actor,
                                 remotes=remote_bindings(self.settings, self.config), batch_size=batch_size,
                                 on_batch=on_batch)

    def signing_keys(self) -> SigningKeys:
        return SigningKeys(self.keyring, environment=self.settings.environment, actor=self.actor,
                           algorithm=self.config.jwt_algorithm)

    @property
    def jwks_path(self) -> Path:
        return self.settings.state_dir / "keys" / "jwks.json"

    def publish_jwks(self) -> dict[str, Any]:
        """Write the JWKS document where the API serves it from (atomically)."""
        document = self.signing_keys().jwks()
        self.jwks_path.parent.mkdir(parents=True, exist_ok=True)
        write_output(self.jwks_path, json.dumps(document, indent=2, sort_keys=True).encode())
        return document

    def published_jwks(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.jwks_path.read_text())
        except FileNotFoundError:
            return None

    def master_status(self) -> dict[str, Any]:
        """Versions (metadata), rows per version, the rotation in progress and the active key's age."""
        now = self.keyring.clock()
        with self.keyring.engine.connect() as conn:
            versions = [dict(r) for r in conn.execute(select(master_key_versions)
                                                      .order_by(master_key_versions.c.version)).mappings()]
            rows = dict(conn.execute(select(secrets.c.key_version, func.count())
                                     .group_by(secrets.c.key_version)).all())
            rotation = state.current(conn, "master")
        active = next((v for v in versions if v["status"] == "active"), None)
        age = now - (active["activated_at"] or active["created_at"]) if active else None
        return {"versions": [{**{k: v[k] for k in ("version", "status", "created_at", "activated_at", "retired_at")},
                              "secrets": rows.get(v["version"], 0)} for v in versions],
                "active_version": active["version"] if active else None,
                "active_age_days": round(age.total_seconds() / 86400, 1) if age else None,
                "reminder_due": bool(age and age > MASTER_KEY_MAX_AGE),
                "rotation_in_progress": dict(rotation) if rotation else None}

    def keyring_health(self) -> dict[str, Any]:
        """Every secret decrypts; how many are not on the active version; none on a retired one."""
        status = self.master_status()
        retired = {v["version"] for v in status["versions"] if v["status"] == "retired"}
        failures, checked = [], 0
        with self.keyring.engine.connect() as conn:
            for row in conn.execute(select(secrets.c.name, secrets.c.format, secrets.c.key_version,
                                           secrets.c.ciphertext).order_by(secrets.c.name)):
                try:
                    self.keyring.decrypt_row(conn, row)  # the value is dropped at once: not registered
                    checked += 1
                except ConfigError:  # a malformed key file or env binding is a setup error (exit 2), not a finding
                    raise
                except Exception as exc:  # report every failing secret by name, not only the first
                    failures.append({"secret": row.name, "error": str(exc)})
        return {"secrets": checked + len(failures), "failures": failures,
                "not_on_active": sum(v["secrets"] for v in status["versions"] if v["status"] != "active"),
                "on_retired": sum(v["secrets"] for v in status["versions"] if v["version"] in retired),
                "rotation_in_progress": status["rotation_in_progress"] is not None,
                "active_version": status["active_version"]}
