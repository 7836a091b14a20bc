"""The GitHub secrets endpoints of one target: list, public key, create-or-update (sealed), delete.

Values are sealed with a libsodium sealed box (PyNaCl) to the target's public key, fetched once per run
and cached; the ``key_id`` travels with the value. Organization writes always re-send ``visibility``
and, for ``selected``, ``selected_repository_ids``, so an update never clears the repository selection.
"""

from __future__ import annotations

from base64 import b64encode
from dataclasses import dataclass
from datetime import datetime

from nacl.encoding import Base64Encoder
from nacl.public import PublicKey as NaclPublicKey
from nacl.public import SealedBox

from .client import GitHubClient
from .targets import Target


@dataclass(frozen=True)
class RemoteSecret:
    name: str
    updated_at: datetime
    visibility: str | None = None


@dataclass(frozen=True)
class PublicKey:
    key_id: str
    key: str  # base64, as GitHub sends it

    def seal(self, value: str) -> str:
        """The base64 sealed box of ``value``: only the holder of the private key (GitHub) can open it."""
        box = SealedBox(NaclPublicKey(self.key.encode(), encoder=Base64Encoder))
        return b64encode(box.encrypt(value.encode())).decode()


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class SecretsApi:
    """One run's view of the secrets endpoints (public keys are cached for the life of the instance)."""

    def __init__(self, client: GitHubClient):
        self.client = client
        self._keys: dict[str, PublicKey] = {}

    def list(self, target: Target) -> dict[str, RemoteSecret]:
        """Every secret at ``target`` by name (GitHub never returns values), following pagination."""
        return {item["name"]: RemoteSecret(item["name"], parse_time(item["updated_at"]), item.get("visibility"))
                for item in self.client.paginate(target.secrets_path, items_key="secrets")}

    def forget_keys(self) -> None:
        self._keys.clear()

    def public_key(self, target: Target) -> PublicKey:
        if target.key not in self._keys:
            body = self.client.get(target.public_key_path)
            self._keys[target.key] = PublicKey(str(body["key_id"]), body["key"])
        return self._keys[target.key]

    def put(self, target: Target, name: str, value: str) -> bool:
        """Create or update ``name``; True when GitHub created it (201), False when it updated it (204)."""
        key = self.public_key(target)
        body: dict = {"encrypted_value": key.seal(value), "key_id": key.key_id}
        if target.level == "organization":
            body["visibility"] = target.visibility
            if target.visibility == "selected":
                body["selected_repository_ids"] = list(target.selected_repository_ids)
        response = self.client.request("PUT", target.secret_path(name), expected=(201, 204), json=body)
        return response.status_code == 201

    def delete(self, target: Target, name: str) -> None:
        """Delete ``name``; one already gone (404) counts as deleted."""
        self.client.request("DELETE", target.secret_path(name), expected=(204, 404))
