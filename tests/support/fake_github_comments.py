"""Issue (and pull-request) comment endpoints on :class:`FakeGitHub`, as GitHub's REST API documents them.

* ``GET  /repos/{owner}/{repo}/issues/{number}/comments``: paginated (``Link`` header), oldest first.
* ``POST /repos/{owner}/{repo}/issues/{number}/comments``: 201 with the comment; 422 without a body.
* ``GET|PATCH|DELETE /repos/{owner}/{repo}/issues/comments/{comment_id}``: 404 when unknown.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .fake_github import FakeGitHub, paginated


class FakeGitHubComments(FakeGitHub):
    def __init__(self, token: str, *, login: str = "github-actions[bot]", **kwargs):
        super().__init__(token, **kwargs)
        self.login = login
        self.comments: dict[int, dict] = {}
        self._ids = itertools.count(1001)
        self.route("/repos/{owner}/{repo}/issues/{number:int}/comments", ["GET", "POST"])(self._issue_comments)
        self.route("/repos/{owner}/{repo}/issues/comments/{comment_id:int}", ["GET", "PATCH", "DELETE"])(
            self._comment)

    def add_comment(self, repo: str, number: int, body: str, *, login: str = "someone") -> dict:
        """A comment written by someone else (or an earlier run) before the test starts."""
        now = datetime.now(UTC).isoformat()
        comment = {"id": next(self._ids), "body": body, "user": {"login": login, "type": "User"},
                   "created_at": now, "updated_at": now, "repo": repo, "issue_number": number,
                   "html_url": f"https://github.com/{repo}/pull/{number}#issuecomment-{len(self.comments)}"}
        self.comments[comment["id"]] = comment
        return comment

    def on(self, repo: str, number: int) -> list[dict]:
        return [c for c in self.comments.values() if c["repo"] == repo and c["issue_number"] == number]

    async def _issue_comments(self, request: Request) -> Response:
        repo = f"{request.path_params['owner']}/{request.path_params['repo']}"
        number = request.path_params["number"]
        if request.method == "GET":
            return paginated(request, self.on(repo, number))
        body = (await request.json() or {}).get("body")
        if not isinstance(body, str) or not body:
            return JSONResponse({"message": "Validation Failed", "errors": [{"field": "body", "code": "missing"}]},
                                status_code=422)
        return JSONResponse(self.add_comment(repo, number, body, login=self.login), status_code=201)

    async def _comment(self, request: Request) -> Response:
        comment = self.comments.get(request.path_params["comment_id"])
        if comment is None:
            return JSONResponse({"message": "Not Found"}, status_code=404)
        if request.method == "DELETE":
            del self.comments[comment["id"]]
            return Response(status_code=204)
        if request.method == "PATCH":
            body = (await request.json() or {}).get("body")
            if not isinstance(body, str) or not body:
                return JSONResponse({"message": "Validation Failed"}, status_code=422)
            comment.update(body=body, updated_at=datetime.now(UTC).isoformat())
        return JSONResponse(comment)
