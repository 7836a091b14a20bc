"""Sync targets: where a set of secrets goes on GitHub, and the REST paths of each kind of target.

A target is a scope (``actions``, ``codespaces``, ``dependabot``) at a level:

=============  ============================================  ===========================================
level          spec (``cloudmake github targets add SPEC``)  secrets path
=============  ============================================  ===========================================
repository     ``actions:repo:OWNER/REPO``                   ``/repos/OWNER/REPO/actions/secrets``
environment    ``actions:env:OWNER/REPO:ENVIRONMENT``        ``/repos/OWNER/REPO/environments/ENV/secrets``
organization   ``dependabot:org:ORG``                        ``/orgs/ORG/dependabot/secrets``
=============  ============================================  ===========================================

Environment secrets exist for Actions only. Organization secrets carry a visibility (``all``,
``private``, ``selected``) and, for ``selected``, the repository ids that may use them. Every path has a
``/public-key`` sibling (the key that seals values) and a ``/{secret_name}`` child (PUT: 201 created,
204 updated; DELETE: 204).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

from sqlalchemy import Engine, delete, select

from ..db.tables import github_sync_state, github_sync_targets
from ..errors import ConfigError

SCOPES = ("actions", "codespaces", "dependabot")
LEVELS = {"repo": "repository", "env": "environment", "org": "organization"}
VISIBILITIES = ("all", "private", "selected")
#: GitHub's documented limits on how many secrets a target can hold.
MAX_SECRETS = {"repository": 100, "environment": 100, "organization": 1000}
_OWNER = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")
_REPO = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


@dataclass(frozen=True)
class Target:
    scope: str
    level: str
    owner: str
    repo: str | None = None
    environment: str | None = None
    visibility: str | None = None
    selected_repository_ids: tuple[int, ...] = ()
    include: tuple[str, ...] = ("*",)
    exclude: tuple[str, ...] = ()
    delete_orphans: bool = False

    def __post_init__(self) -> None:
        where = f"target {self.key}"
        if self.scope not in SCOPES:
            raise ConfigError(f"{where}: scope {self.scope!r} is not one of {', '.join(SCOPES)}")
        if self.level not in LEVELS.values():
            raise ConfigError(f"{where}: level {self.level!r} is not one of {', '.join(LEVELS.values())}")
        if not _OWNER.match(self.owner or ""):
            raise ConfigError(f"{where}: {self.owner!r} is not a GitHub owner/organization name")
        if self.level != "organization" and not _REPO.match(self.repo or ""):
            raise ConfigError(f"{where}: {self.repo!r} is not a repository name")
        if self.level == "environment":
            if self.scope != "actions":
                raise ConfigError(f"{where}: GitHub has environment secrets for actions only, not {self.scope}")
            if not self.environment or len(self.environment) > 255:
                raise ConfigError(f"{where}: an environment target needs an environment name (1-255 chars)")
        if self.level == "organization":
            if self.visibility not in VISIBILITIES:
                raise ConfigError(f"{where}: organization secrets need --visibility {'|'.join(VISIBILITIES)}")
            if self.visibility == "selected" and not self.selected_repository_ids:
                raise ConfigError(f"{where}: visibility 'selected' needs at least one --repository-id")
            if self.visibility != "selected" and self.selected_repository_ids:
                raise ConfigError(f"{where}: --repository-id only applies to visibility 'selected'")
        elif self.visibility or self.selected_repository_ids:
            raise ConfigError(f"{where}: visibility and repository ids apply to organization targets only")
        if not self.include:
            raise ConfigError(f"{where}: include needs at least one glob pattern (default '*')")

    @property
    def key(self) -> str:
        """The target's spec string, its identity in the database and on the command line."""
        if self.level == "organization":
            return f"{self.scope}:org:{self.owner}"
        if self.level == "environment":
            return f"{self.scope}:env:{self.owner}/{self.repo}:{self.environment}"
        return f"{self.scope}:repo:{self.owner}/{self.repo}"

    @property
    def max_secrets(self) -> int:
        return MAX_SECRETS[self.level]

    @property
    def secrets_path(self) -> str:
        if self.level == "organization":
            return f"/orgs/{self.owner}/{self.scope}/secrets"
        if self.level == "environment":
            return f"/repos/{self.owner}/{self.repo}/environments/{quote(self.environment, safe='')}/secrets"
        return f"/repos/{self.owner}/{self.repo}/{self.scope}/secrets"

    @property
    def public_key_path(self) -> str:
        return f"{self.secrets_path}/public-key"

    def secret_path(self, name: str) -> str:
        return f"{self.secrets_path}/{name}"


def parse_spec(spec: str, **options) -> Target:
    """``actions:repo:octo/api`` (see the module table) plus options -> :class:`Target`."""
    parts = spec.split(":", 3)
    if len(parts) < 3 or parts[1] not in LEVELS:
        raise ConfigError(f"target {spec!r}: expected SCOPE:repo:OWNER/REPO, SCOPE:env:OWNER/REPO:ENVIRONMENT "
                          f"or SCOPE:org:ORG (SCOPE one of {', '.join(SCOPES)})")
    scope, level = parts[0], LEVELS[parts[1]]
    if level == "organization":
        if len(parts) != 3:
            raise ConfigError(f"target {spec!r}: an organization target is SCOPE:org:ORG")
        return Target(scope, level, parts[2], **options)
    owner, _, repo = parts[2].partition("/")
    if level == "environment" and len(parts) != 4:
        raise ConfigError(f"target {spec!r}: an environment target is actions:env:OWNER/REPO:ENVIRONMENT")
    if level == "repository" and len(parts) != 3:
        raise ConfigError(f"target {spec!r}: a repository target is SCOPE:repo:OWNER/REPO")
    return Target(scope, level, owner, repo, parts[3] if level == "environment" else None, **options)


class TargetStore:
    """The targets table: add (replacing a target with the same spec), list, remove."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def add(self, target: Target) -> None:
        row = {"key": target.key, "scope": target.scope, "level": target.level, "owner": target.owner,
               "repo": target.repo, "environment": target.environment, "visibility": target.visibility,
               "selected_repository_ids": list(target.selected_repository_ids) or None,
               "include": list(target.include), "exclude": list(target.exclude),
               "delete_orphans": target.delete_orphans}
        table = github_sync_targets
        with self.engine.begin() as conn:
            conn.execute(delete(table).where(table.c.key == target.key))
            conn.execute(table.insert().values(**row))

    def list(self, keys: list[str] | None = None) -> list[Target]:
        """Every target (sorted by spec), or the ``keys`` asked for; an unknown key is a ConfigError."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(github_sync_targets).order_by(github_sync_targets.c.key)).all()
        targets = {row.key: Target(
            row.scope, row.level, row.owner, row.repo, row.environment, row.visibility,
            tuple(row.selected_repository_ids or ()), tuple(row.include), tuple(row.exclude),
            row.delete_orphans) for row in rows}
        if keys is None:
            return list(targets.values())
        unknown = [k for k in keys if k not in targets]
        if unknown:
            raise ConfigError(f"unknown target(s): {', '.join(unknown)}; see `cloudmake github targets list`")
        return [targets[k] for k in keys]

    def remove(self, key: str) -> bool:
        """Forget a target and its sync state (secrets already on GitHub stay there)."""
        with self.engine.begin() as conn:
            gone = conn.execute(delete(github_sync_targets).where(github_sync_targets.c.key == key)).rowcount
            conn.execute(delete(github_sync_state).where(github_sync_state.c.target_key == key))
        return bool(gone)
