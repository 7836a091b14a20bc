"""The drift workflow after a check, in one place for the CLI and the Dagster asset.

``record_and_alert`` keeps the history (one snapshot row per run) and alerts on what changed since the last
snapshot: new drift, or drift gone. ``comment_on_pull_request`` keeps the sticky PR comment. The CLI in CI
does the comment, the hourly asset the snapshot and the alert; both get the same report from ``run_check``.
"""

from __future__ import annotations

from datetime import datetime

from ..alerts import Alert, Alerter
from ..github.client import GitHubClient
from . import snapshots
from .comment import PullRequest, sync_comment
from .model import DriftReport
from .report import as_markdown, summary

TASK = "spec_drift"


def record_and_alert(engine, report: DriftReport, alerter: Alerter, *, environment: str,
                     now: datetime) -> snapshots.SnapshotChange:
    """Store the snapshot; alert once on drift that is new since the previous one, once when it resolves."""
    change = snapshots.record(engine, report, now)
    target = snapshots.target_key(report.target)
    key = f"{TASK}:{target}"
    if change.new:
        alerter.send(Alert(task=TASK, key=key, summary=f"{summary(report)}; {len(change.new)} new",
                           details={"new": [i.key for i in change.new][:50], "target": target},
                           environment=environment))
    elif change.resolved and not report.has_drift:
        alerter.send(Alert(task=TASK, key=key, severity="resolved", summary="spec drift resolved",
                           details={"target": target}, environment=environment))
    return change


def comment_on_pull_request(report: DriftReport, pr: PullRequest, token: str) -> str:
    """Create, update or resolve the PR's sticky drift comment; returns what was done.

    Raises :class:`~cloudmake_pipelines.github.client.GitHubError` when GitHub refuses.
    """
    with GitHubClient(token, pr.api_url) as client:
        return sync_comment(client, pr, as_markdown(report), report.has_drift)
