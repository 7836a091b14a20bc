"""The sticky pull-request comment: one comment per PR, found again by a hidden marker.

Drift creates it, later runs update it in place, and when drift is gone it is rewritten as resolved;
a clean PR that never drifted gets no comment at all. Unchanged content is not re-sent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..github.client import GitHubClient
from ..logs import get_logger
from ..settings import get_settings, load_settings

log = get_logger("drift")
MARKER = "<!-- cloudmake:spec-drift -->"
RESOLVED = "<!-- cloudmake:spec-drift:resolved -->"


@dataclass(frozen=True)
class PullRequest:
    repository: str  # owner/name
    number: int
    api_url: str | None = None


def pull_request_from_env(environ: Mapping[str, str] | None = None) -> PullRequest | None:
    """The pull request a GitHub Actions run belongs to (``pull_request``/``pull_request_target``
    events, read from ``GITHUB_EVENT_PATH``, else ``GITHUB_REF=refs/pull/N/merge``); None elsewhere.
    ``environ`` (tests): a mapping to build the settings from instead of the process's."""
    settings = get_settings() if environ is None else load_settings(environ)
    ci = settings.github_actions
    if ci.actions != "true" or not ci.repository:
        return None
    number = None
    event_path = ci.event_path
    if event_path and Path(event_path).is_file():
        try:
            event = json.loads(Path(event_path).read_text(encoding="utf-8"))
            number = (event.get("pull_request") or {}).get("number")
        except (OSError, ValueError):
            number = None
    if number is None:
        match = re.fullmatch(r"refs/pull/(\d+)/(?:merge|head)", ci.ref or "")
        number = int(match.group(1)) if match else None
    return PullRequest(ci.repository, int(number), settings.github.api_url) if number else None


def _body(markdown: str, has_drift: bool) -> str:
    if has_drift:
        return f"{MARKER}\n{markdown}"
    return f"{MARKER}\n{RESOLVED}\n### Spec drift (SC-008): resolved\n\nThe code matches the spec again.\n\n" \
           f"<details><summary>Last check</summary>\n\n{markdown}\n\n</details>"


def sync_comment(client: GitHubClient, pr: PullRequest, markdown: str, has_drift: bool) -> str:
    """Create, update or resolve the sticky comment. Returns created|updated|resolved|unchanged|none."""
    base = f"/repos/{pr.repository}/issues"
    ours = [c for c in client.paginate(f"{base}/{pr.number}/comments") if MARKER in (c.get("body") or "")]
    existing = ours[0] if ours else None
    for duplicate in ours[1:]:  # two runs that raced to create it: keep the oldest, one comment only
        client.request("DELETE", f"{base}/comments/{duplicate['id']}", expected=(204,))
    body = _body(markdown, has_drift)
    if existing is None:
        if not has_drift:
            action = "none"
        else:
            client.request("POST", f"{base}/{pr.number}/comments", json={"body": body}, expected=(201,))
            action = "created"
    elif not has_drift and RESOLVED in existing["body"]:
        action = "unchanged"  # already marked resolved: keep its original resolution text
    elif existing["body"] == body:
        action = "unchanged"
    else:
        client.request("PATCH", f"{base}/comments/{existing['id']}", json={"body": body}, expected=(200,))
        action = "updated" if has_drift else "resolved"
    log.info(f"pull request comment {action}", extra={"repository": pr.repository, "pull_request": pr.number,
                                                       "action": action})
    return action
