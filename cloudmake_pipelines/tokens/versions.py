"""Token versions from the source of truth: the commits of a git repository that change the tokens file.

A *version* is a commit on the deployed branch that changes ``tokens_path`` (a DTCG JSON file, or the
tokens package's ``package.json``); its version string is the JSON value at ``version_field`` in that
file at that commit. Two places a repository can be read from:

* a local clone (a path): ``git log --first-parent`` and ``git show`` in a subprocess. The clone is kept
  current by whoever owns it (a CI checkout, a deploy host's ``git fetch``); this module only reads it.
* ``github:owner/repo``: the commits API and the contents API through the shared :class:`GitHubClient`.

Commit time is the **committer** time, not the author time: the committer time is when the commit entered
the branch history that deploys pick up (a rebase, cherry-pick or merge re-stamps it), while the author
time survives a rebase and can be days earlier, which would count days of review as propagation delay.
``--first-parent`` makes a merge commit the version (stamped when it landed), not the branch's commits.
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, insert, select

from ..db.tables import token_sources, token_versions
from ..db.types import utcnow
from ..drift.tokens import parse_dtcg
from ..errors import CloudMakeError, ConfigError

#: At most this many commits are read per scan: a first scan of a long history records the latest ones.
MAX_COMMITS = 500
GITHUB_PREFIX = "github:"


class TokenSourceError(ConfigError):
    """A token source or one of its files cannot be read as expected (names the source, file and commit)."""


@dataclass(frozen=True)
class TokenSource:
    """Where versions come from. ``location`` is a clone's path or ``github:owner/repo``."""

    location: str
    tokens_path: str = "tokens.json"
    version_field: str = "$version"
    branch: str | None = None
    id: int | None = None

    @property
    def is_github(self) -> bool:
        return self.location.startswith(GITHUB_PREFIX)

    def validate(self) -> TokenSource:
        if self.is_github:
            repo = self.location[len(GITHUB_PREFIX):]
            owner, _, name = repo.partition("/")
            if not owner or not name or "/" in name:
                raise TokenSourceError(f"source {self.location!r}: expected github:owner/repo")
        elif not (Path(self.location) / ".git").exists():
            raise TokenSourceError(f"source {self.location!r}: expected a git clone (a folder with .git) or "
                                   "github:owner/repo")
        if not self.tokens_path or self.tokens_path.startswith("/") or ".." in Path(self.tokens_path).parts:
            raise TokenSourceError(f"tokens path {self.tokens_path!r}: expected a path inside the repository")
        if not self.version_field:
            raise TokenSourceError("version field: expected a dotted JSON path such as $version or version")
        return self


@dataclass(frozen=True)
class Commit:
    sha: str
    committed_at: datetime  # committer time, UTC


@dataclass(frozen=True)
class TokenVersion:
    """A recorded version: the commit, the version string its tokens file carries, its committer time."""

    sha: str
    version: str
    committed_at: datetime
    id: int | None = None
    source_id: int | None = None


def parse_version(text: str, source: TokenSource, sha: str) -> str:
    """The version string of the tokens file ``text`` at ``sha``; a malformed file names file and commit."""
    display = f"{source.tokens_path}@{sha[:12]}"
    if Path(source.tokens_path).name != "package.json":
        parse_dtcg(text, display)  # a malformed tokens file is a SpecError naming the file and line
    try:
        node: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TokenSourceError(f"{display}: not valid JSON: {exc.msg} (line {exc.lineno})") from None
    for key in source.version_field.split("."):
        node = node.get(key) if isinstance(node, dict) else None
    if not isinstance(node, str | int | float) or isinstance(node, bool) or not str(node).strip():
        raise TokenSourceError(f"{display}: no version at {source.version_field!r}: expected a string such as "
                               f'"2.4.0" (choose the field with --version-field)')
    version = str(node).strip()
    if len(version) > 200:
        raise TokenSourceError(f"{display}: the version at {source.version_field!r} is longer than 200 characters")
    return version


class GitRepository:
    """A local clone read with ``git`` subprocesses (no library: git itself is the reference reader)."""

    def __init__(self, source: TokenSource):
        self.source = source

    def _git(self, *args: str) -> str:
        try:
            done = subprocess.run(["git", "-C", self.source.location, *args], capture_output=True, text=True,
                                  timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise TokenSourceError(f"source {self.source.location!r}: git {args[0]} failed: {exc}") from None
        if done.returncode != 0:
            raise TokenSourceError(f"source {self.source.location!r}: git {args[0]} failed: "
                                   f"{done.stderr.strip()[:300]}")
        return done.stdout

    def commits(self) -> list[Commit]:
        """Commits on the branch (default HEAD) that changed the tokens file, oldest first."""
        out = self._git("log", "--first-parent", f"-n{MAX_COMMITS}", "--format=%H %ct",
                        self.source.branch or "HEAD", "--", self.source.tokens_path)
        commits = []
        for line in out.splitlines():
            sha, _, stamp = line.partition(" ")
            commits.append(Commit(sha, datetime.fromtimestamp(int(stamp), UTC)))
        return commits[::-1]

    def read(self, sha: str) -> str:
        return self._git("show", f"{sha}:{self.source.tokens_path}")


class GitHubRepository:
    """A repository read through the GitHub REST API (``client`` is a :class:`~..github.client.GitHubClient`)."""

    def __init__(self, source: TokenSource, client: Any):
        self.source, self.client = source, client
        self.repo = source.location[len(GITHUB_PREFIX):]

    def commits(self) -> list[Commit]:
        params = {"path": self.source.tokens_path, **({"sha": self.source.branch} if self.source.branch else {})}
        commits = []
        for item in self.client.paginate(f"/repos/{self.repo}/commits", params=params):
            stamp = item["commit"]["committer"]["date"]
            commits.append(Commit(item["sha"], datetime.fromisoformat(stamp.replace("Z", "+00:00"))))
            if len(commits) >= MAX_COMMITS:
                break
        return commits[::-1]

    def read(self, sha: str) -> str:
        body = self.client.get(f"/repos/{self.repo}/contents/{self.source.tokens_path}", params={"ref": sha})
        if body.get("encoding") != "base64":
            raise TokenSourceError(f"{self.source.location}: {self.source.tokens_path}@{sha[:12]}: GitHub returned "
                                   f"encoding {body.get('encoding')!r}, expected base64 (file over 1 MB?)")
        return base64.b64decode(body.get("content", "")).decode("utf-8", errors="replace")


def _row_to_source(row: Any) -> TokenSource:
    return TokenSource(row.location, row.tokens_path, row.version_field, row.branch, row.id)


class VersionStore:
    """Token sources and the versions recorded from them (``token_sources``, ``token_versions``)."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = utcnow,
                 github: Callable[[], Any] | None = None):
        self.engine, self.clock, self._github = engine, clock, github
        self._github_client: Any = None  # one client (and connection pool) for every scan of this store

    def repository(self, source: TokenSource) -> GitRepository | GitHubRepository:
        if not source.is_github:
            return GitRepository(source)
        if self._github is None:
            raise TokenSourceError(f"source {source.location!r} needs a GitHub client (GITHUB_TOKEN)")
        if self._github_client is None:
            self._github_client = self._github()
        return GitHubRepository(source, self._github_client)

    def add_source(self, source: TokenSource) -> TokenSource:
        """Register ``source`` after reading its newest version (a bad file fails here, not in the sensor)."""
        source.validate()
        repository = self.repository(source)
        commits = repository.commits()
        if not commits:
            raise TokenSourceError(f"source {source.location!r}: no commit changes {source.tokens_path!r}")
        parse_version(repository.read(commits[-1].sha), source, commits[-1].sha)
        with self.engine.begin() as conn:
            if conn.execute(select(token_sources.c.id).where(token_sources.c.location == source.location,
                                                             token_sources.c.tokens_path == source.tokens_path)).first():
                raise TokenSourceError(f"source {source.location!r} ({source.tokens_path}) is already registered")
            conn.execute(insert(token_sources).values(location=source.location, tokens_path=source.tokens_path,
                                                      version_field=source.version_field, branch=source.branch,
                                                      created_at=self.clock()))
        return next(s for s in self.sources() if (s.location, s.tokens_path) == (source.location, source.tokens_path))

    def sources(self) -> list[TokenSource]:
        with self.engine.connect() as conn:
            return [_row_to_source(r) for r in conn.execute(select(token_sources).order_by(token_sources.c.id))]

    def scan(self, on_error: Callable[[TokenSourceError], None] | None = None) -> list[TokenVersion]:
        """Record every new version of every source; returns the new ones, oldest first.

        A commit whose file is malformed is not a version (no app can serve it), and a source that cannot be
        read (a clone gone, GitHub down) has nothing new this time: ``on_error`` hears about either and the
        scan goes on; without ``on_error`` it raises. Only commits after the newest recorded one are read.
        """
        new: list[TokenVersion] = []
        for source in self.sources():
            try:
                new += self._scan_source(source, on_error)
            except CloudMakeError as exc:
                if on_error is None:
                    raise
                on_error(exc if isinstance(exc, TokenSourceError) else
                         TokenSourceError(f"source {source.location!r}: {exc}"))
        return sorted(new, key=lambda v: v.committed_at)

    def _scan_source(self, source: TokenSource, on_error: Callable[[TokenSourceError], None] | None
                     ) -> list[TokenVersion]:
        repository = self.repository(source)
        with self.engine.connect() as conn:
            known = set(conn.scalars(select(token_versions.c.sha).where(token_versions.c.source_id == source.id)))
        commits = repository.commits()
        done = max((i for i, c in enumerate(commits) if c.sha in known), default=-1)
        new = []
        for commit in commits[done + 1:]:  # after the newest recorded: a bad old commit is not re-read
            try:
                version = parse_version(repository.read(commit.sha), source, commit.sha)
            except ConfigError as exc:
                if on_error is None:
                    raise
                on_error(TokenSourceError(f"source {source.location!r}: {exc}"))
                continue
            new.append(self._record(source, commit, version))
        return new

    def _record(self, source: TokenSource, commit: Commit, version: str) -> TokenVersion:
        with self.engine.begin() as conn:
            row_id = conn.execute(insert(token_versions).values(
                source_id=source.id, sha=commit.sha, version=version, committed_at=commit.committed_at,
                recorded_at=self.clock()).returning(token_versions.c.id)).scalar_one()
        return TokenVersion(commit.sha, version, commit.committed_at, row_id, source.id)

    def versions(self, *, limit: int = 1000) -> list[TokenVersion]:
        """Recorded versions, oldest commit first (the latest ``limit``)."""
        query = select(token_versions).order_by(token_versions.c.committed_at.desc(), token_versions.c.id.desc())
        with self.engine.connect() as conn:
            rows = conn.execute(query.limit(limit)).all()
        return [TokenVersion(r.sha, r.version, r.committed_at, r.id, r.source_id) for r in reversed(rows)]

    def count(self) -> int:
        with self.engine.connect() as conn:
            return conn.scalar(select(func.count()).select_from(token_versions)) or 0

