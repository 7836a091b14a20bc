"""The GitHub secrets endpoints on top of :class:`FakeGitHub`: every scope and level, real NaCl keys.

Endpoints (as documented at docs.github.com/rest/actions/secrets, /codespaces/organization-secrets,
/codespaces/repository-secrets, /dependabot/secrets):

* ``GET  {base}/secrets``               list (``total_count``, ``secrets``), ``Link`` pagination
* ``GET  {base}/secrets/public-key``    ``key_id`` and base64 ``key`` (a Curve25519 public key)
* ``GET|PUT|DELETE {base}/secrets/NAME`` PUT: 201 created, 204 updated; 422 on a bad body, a stale
  ``key_id`` or a value that does not open with our private key; DELETE: 204, 404 when absent
* ``GET  /orgs/ORG/SCOPE/secrets/NAME/repositories`` the selected repositories of an org secret
* ``GET  /repos/O/R`` a repository's id (from ``repository_ids``), to resolve names for ``selected``

(tests name a collection by its path, ``{base}/secrets``) where ``{base}`` is ``/repos/O/R/SCOPE``, ``/repos/O/R/environments/ENV`` (Actions only) or
``/orgs/ORG/SCOPE``. Values are decrypted on arrival, so tests can assert exactly what GitHub would
hold. Names are stored upper-cased, as GitHub does. ``content_limit`` emulates the secondary limit on
content-creating requests (403 + ``retry-after``); 5xx and other failures come from the common fault API
(tests/support/fakes.py).
"""

from __future__ import annotations

import base64
import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

from nacl.encoding import Base64Encoder
from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, SealedBox
from starlette.responses import JSONResponse, Response

from .fake_github import FakeGitHub, paginated

SCOPES = ("actions", "codespaces", "dependabot")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class FakeGitHubSecrets(FakeGitHub):
    def __init__(self, token: str, *, content_limit: tuple[int, float] | None = None,
                 repository_ids: dict[str, int] | None = None):
        super().__init__(token)
        self.content_limit = content_limit  # (max writes, per seconds) on the fake clock
        self.repository_ids = repository_ids or {}
        self.offset = timedelta(0)
        self.private_keys: dict[str, tuple[str, PrivateKey]] = {}  # base path -> (key_id, key)
        self.store: dict[str, dict[str, dict]] = defaultdict(dict)  # base path -> NAME -> record
        self._content_writes: list[datetime] = []
        self._key_counter = 0
        self._add_endpoints()

    # -- what tests look at and do ---------------------------------------------------------------------
    def now(self) -> datetime:
        return datetime.now(UTC).replace(microsecond=0) + self.offset

    def advance(self, seconds: float) -> None:
        """Move GitHub's clock forward (timestamps, secondary-limit windows)."""
        self.offset += timedelta(seconds=seconds)

    def value(self, path: str, name: str) -> str | None:
        record = self.store[unquote(path)].get(name.upper())
        return record["value"] if record else None

    def names(self, path: str) -> set[str]:
        return set(self.store[unquote(path)])

    def record(self, path: str, name: str) -> dict:
        return self.store[unquote(path)][name.upper()]

    def set_by_hand(self, path: str, name: str, value: str, **fields) -> None:
        """A person changing (or creating) a secret in GitHub's UI: a new value and a new updated_at."""
        record = self.store[unquote(path)].setdefault(name.upper(), {"created_at": self._stamp()})
        record.update(value=value, updated_at=self._stamp(), **fields)

    def rotate_key(self, path: str) -> None:
        self.private_keys.pop(unquote(path), None)

    # -- plumbing --------------------------------------------------------------------------------------
    def _stamp(self) -> str:
        return self.now().strftime("%Y-%m-%dT%H:%M:%SZ")

    def _key(self, base: str) -> tuple[str, PrivateKey]:
        if base not in self.private_keys:
            self._key_counter += 1
            self.private_keys[base] = (f"{568250167242549743 + self._key_counter}", PrivateKey.generate())
        return self.private_keys[base]

    @staticmethod
    def _base(params: dict) -> str | None:
        if "org" in params:
            return f"/orgs/{params['org']}/{params['scope']}/secrets" if params["scope"] in SCOPES else None
        if "env" in params:
            return f"/repos/{params['owner']}/{params['repo']}/environments/{params['env']}/secrets"
        if params.get("scope") in SCOPES:
            return f"/repos/{params['owner']}/{params['repo']}/{params['scope']}/secrets"
        return None

    def _secondary_limited(self) -> Response | None:
        if not self.content_limit:
            return None
        limit, window = self.content_limit
        now = self.now()
        self._content_writes = [t for t in self._content_writes if (now - t).total_seconds() < window]
        if len(self._content_writes) >= limit:
            wait = window - (now - self._content_writes[0]).total_seconds()
            return JSONResponse({"message": "You have exceeded a secondary rate limit. Please wait a few "
                                            "minutes before you try again."},
                                status_code=403, headers={"retry-after": str(max(1, int(wait)))})
        self._content_writes.append(now)
        return None

    def _item(self, base: str, name: str, record: dict) -> dict:
        item = {"name": name, "created_at": record["created_at"], "updated_at": record["updated_at"]}
        if base.startswith("/orgs/"):
            item["visibility"] = record.get("visibility", "all")
            if item["visibility"] == "selected":
                item["selected_repositories_url"] = f"https://api.github.com{base}/{name}/repositories"
        return item

    def _add_endpoints(self) -> None:
        route = self.route
        bases = ["/repos/{owner}/{repo}/{scope}", "/repos/{owner}/{repo}/environments/{env}",
                 "/orgs/{org}/{scope}"]
        for pattern in bases:
            route(pattern + "/secrets", ["GET"])(self._list)
            route(pattern + "/secrets/public-key", ["GET"])(self._public_key)
            route(pattern + "/secrets/{name}", ["GET", "PUT", "DELETE"])(self._secret)
        route("/orgs/{org}/{scope}/secrets/{name}/repositories", ["GET"])(self._selected)
        route("/repos/{owner}/{repo}", ["GET"])(self._repository)

    async def _repository(self, request):
        full_name = f"{request.path_params['owner']}/{request.path_params['repo']}"
        if full_name not in self.repository_ids:
            return JSONResponse({"message": "Not Found"}, status_code=404)
        return JSONResponse({"id": self.repository_ids[full_name], "full_name": full_name})

    async def _list(self, request):
        base = self._base(request.path_params)
        if base is None:
            return JSONResponse({"message": "Not Found"}, status_code=404)
        secrets = self.store[base]
        items = [self._item(base, name, secrets[name]) for name in sorted(secrets)]
        return paginated(request, items, wrap="secrets")

    async def _public_key(self, request):
        base = self._base(request.path_params)
        if base is None:
            return JSONResponse({"message": "Not Found"}, status_code=404)
        key_id, key = self._key(base)
        return JSONResponse({"key_id": key_id, "key": key.public_key.encode(Base64Encoder).decode()})

    async def _selected(self, request):
        base = self._base(request.path_params)
        record = self.store[base].get(request.path_params["name"].upper()) if base else None
        if record is None or record.get("visibility") != "selected":
            return JSONResponse({"message": "Not Found"}, status_code=404)
        repos = [{"id": i} for i in record.get("selected_repository_ids", [])]
        return JSONResponse({"total_count": len(repos), "repositories": repos})

    async def _secret(self, request):
        base = self._base(request.path_params)
        if base is None:
            return JSONResponse({"message": "Not Found"}, status_code=404)
        name = request.path_params["name"].upper()
        secrets = self.store[base]
        if request.method == "GET":
            if name not in secrets:
                return JSONResponse({"message": "Not Found"}, status_code=404)
            return JSONResponse(self._item(base, name, secrets[name]))
        limited = self._secondary_limited()
        if limited:
            return limited
        if request.method == "DELETE":
            if secrets.pop(name, None) is None:
                return JSONResponse({"message": "Not Found"}, status_code=404)
            return Response(status_code=204)
        return self._put(base, name, await request.json())

    def _put(self, base: str, name: str, body: dict) -> Response:
        def invalid(message: str) -> JSONResponse:
            return JSONResponse({"message": message, "documentation_url": "https://docs.github.com/rest"},
                                status_code=422)

        if not _NAME.match(name) or name.startswith("GITHUB_"):
            return invalid(f"Secret names can only contain alphanumeric characters or underscores: {name}")
        if not isinstance(body, dict) or not isinstance(body.get("encrypted_value"), str) \
                or not isinstance(body.get("key_id"), str):
            return invalid("Invalid request. \"encrypted_value\" and \"key_id\" are required.")
        key_id, key = self._key(base)
        if body["key_id"] != key_id:
            return invalid("Bad request: key_id does not match the current public key")
        try:
            value = SealedBox(key).decrypt(base64.b64decode(body["encrypted_value"])).decode()
        except (CryptoError, ValueError):
            return invalid("Bad request: encrypted_value could not be decrypted")
        fields: dict = {"value": value, "updated_at": self._stamp()}
        if base.startswith("/orgs/"):
            visibility = body.get("visibility")
            if visibility not in ("all", "private", "selected"):
                return invalid("Invalid request. \"visibility\" must be one of all, private, selected.")
            fields["visibility"] = visibility
            # As GitHub: an update without selected_repository_ids leaves the secret with none selected.
            fields["selected_repository_ids"] = list(body.get("selected_repository_ids") or []) \
                if visibility == "selected" else []
        created = name not in self.store[base]
        record = self.store[base].setdefault(name, {"created_at": self._stamp()})
        record.update(fields)
        return Response(status_code=201 if created else 204)


class DictSource:
    """A ``SecretSource`` over a dict: what the sync reads when the keyring is not the point of a test."""

    def __init__(self, values: dict[str, str]):
        self.values = dict(values)

    def items(self):
        return list(self.values.items())


class ManualClock:
    """A UTC clock that moves only when told (``clock.now += timedelta(...)``)."""

    def __init__(self):
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

