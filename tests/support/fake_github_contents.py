"""GitHub's commits and contents APIs over a real local git repository (what the token-version reader uses).

``GET /repos/{owner}/{repo}/commits?path=&sha=`` lists commits newest first as GitHub does (``sha``,
``commit.author.date``, ``commit.committer.date`` in ISO 8601 UTC), paginated with ``Link``;
``GET /repos/{owner}/{repo}/contents/{path}?ref=`` answers the file at that commit, base64 with line breaks
every 60 characters, as GitHub does. An unknown ref or path is GitHub's 404 ``Not Found``.
"""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse

from .fake_github import FakeGitHub, paginated


class FakeGitHubRepo(FakeGitHub):
    def __init__(self, token: str, repo: str, clone: Path):
        super().__init__(token)
        self.repo, self.clone = repo, clone
        self.route(f"/repos/{repo}/commits", ["GET"])(self._commits)
        self.route(f"/repos/{repo}/contents/{{path:path}}", ["GET"])(self._contents)

    def _git(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", "-C", str(self.clone), *args], capture_output=True, text=True, check=False)

    async def _commits(self, request: Request) -> JSONResponse:
        args = ["log", "--format=%H %aI %cI", request.query_params.get("sha", "HEAD")]
        if "path" in request.query_params:
            args += ["--", request.query_params["path"]]
        done = self._git(*args)
        if done.returncode:
            return JSONResponse({"message": "Not Found"}, status_code=404)
        items = []
        for line in done.stdout.splitlines():
            sha, author, committer = line.split(" ")
            items.append({"sha": sha, "commit": {"author": {"date": _utc(author)},
                                                 "committer": {"date": _utc(committer)}}})
        return paginated(request, items)

    async def _contents(self, request: Request) -> JSONResponse:
        path, ref = request.path_params["path"], request.query_params.get("ref", "HEAD")
        done = subprocess.run(["git", "-C", str(self.clone), "show", f"{ref}:{path}"], capture_output=True, check=False)
        if done.returncode:
            return JSONResponse({"message": "Not Found"}, status_code=404)
        encoded = base64.b64encode(done.stdout).decode()
        return JSONResponse({"type": "file", "path": path, "encoding": "base64",
                             "content": "\n".join(encoded[i:i + 60] for i in range(0, len(encoded), 60))})


def _utc(stamp: str) -> str:
    """git's ``%cI`` with a +00:00 offset, as GitHub writes it: ``2026-12-02T07:00:00Z``."""
    return stamp.replace("+00:00", "Z")
