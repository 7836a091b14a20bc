"""The sticky PR comment against a fake GitHub on 127.0.0.1: created once, updated in place, resolved."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cloudmake_pipelines.drift import run_check
from cloudmake_pipelines.drift.comment import (
    MARKER,
    RESOLVED,
    PullRequest,
    pull_request_from_env,
    sync_comment,
)
from cloudmake_pipelines.drift.report import as_markdown
from cloudmake_pipelines.github.client import GitHubClient, GitHubError
from tests.support.fake_github_comments import FakeGitHubComments

TOKEN = "ghs_" + "C0mm3nt" * 6
REPO = "cloudmake/app"
FIXTURES = Path(__file__).parent / "fixtures" / "drift"
CLOUDMAKE = str(Path(sys.executable).with_name("cloudmake"))


@pytest.fixture
def github():
    with FakeGitHubComments(TOKEN) as fake:
        yield fake, fake.url


def test_created_updated_in_place_then_resolved_never_duplicated(github):
    fake, base = github
    for i in range(120):  # other people's comments: ours must be found beyond the first page
        fake.add_comment(REPO, 7, f"review comment {i}")
    pr = PullRequest(REPO, 7)
    with GitHubClient(TOKEN, base, sleep=lambda s: None) as gh:
        assert sync_comment(gh, pr, "| drift | v1 |", has_drift=True) == "created"
        assert sync_comment(gh, pr, "| drift | v1 |", has_drift=True) == "unchanged"
        assert sync_comment(gh, pr, "| drift | v2 |", has_drift=True) == "updated"
        assert sync_comment(gh, pr, "clean table", has_drift=False) == "resolved"
        assert sync_comment(gh, pr, "clean table", has_drift=False) == "unchanged"
        assert sync_comment(gh, pr, "| drift | v3 |", has_drift=True) == "updated"  # drift is back
    ours = [c for c in fake.on(REPO, 7) if MARKER in c["body"]]
    assert len(ours) == 1 and ours[0]["body"].endswith("| drift | v3 |")
    assert len(fake.on(REPO, 7)) == 121
    writes = [(w.method, w.path) for w in fake.writes()]
    assert writes == [("POST", f"/repos/{REPO}/issues/7/comments")] + [
        ("PATCH", f"/repos/{REPO}/issues/comments/{ours[0]['id']}")] * 3


def test_a_clean_pr_gets_no_comment_and_a_resolved_one_says_so(github):
    fake, base = github
    with GitHubClient(TOKEN, base, sleep=lambda s: None) as gh:
        assert sync_comment(gh, PullRequest(REPO, 8), "clean", has_drift=False) == "none"
        assert fake.on(REPO, 8) == [] and fake.writes() == []
        sync_comment(gh, PullRequest(REPO, 9), "drift", has_drift=True)
        sync_comment(gh, PullRequest(REPO, 9), "clean", has_drift=False)
    [comment] = fake.on(REPO, 9)
    assert RESOLVED in comment["body"] and "### Spec drift (SC-008): resolved" in comment["body"]


def test_duplicates_from_racing_runs_are_folded_into_one(github):
    fake, base = github
    first = fake.add_comment(REPO, 11, f"{MARKER}\nold", login="github-actions[bot]")
    fake.add_comment(REPO, 11, f"{MARKER}\nrace", login="github-actions[bot]")
    with GitHubClient(TOKEN, base, sleep=lambda s: None) as gh:
        assert sync_comment(gh, PullRequest(REPO, 11), "new", has_drift=True) == "updated"
    assert [(c["id"], c["body"]) for c in fake.on(REPO, 11)] == [(first["id"], f"{MARKER}\nnew")]


def test_huge_reports_stay_under_githubs_comment_limit():
    from cloudmake_pipelines.drift import DriftItem, DriftReport

    items = [DriftItem("routes", "extra", f"GET /r{i}/" + "x" * 300, None, "y" * 300, "f.py:1") for i in range(150)]
    body = as_markdown(DriftReport(target="/t", items=items))
    assert len(body) < 65536 and "more: run `cloudmake drift check` for the full list" in body


def test_github_errors_surface_with_status_and_without_the_token(github):
    fake, base = github
    fake.fail_next("POST /comments$", 403, body={"message": "Resource not accessible by integration"})
    with GitHubClient(TOKEN, base, sleep=lambda s: None) as gh, pytest.raises(GitHubError) as err:
        sync_comment(gh, PullRequest(REPO, 10), "drift", has_drift=True)
    assert err.value.status == 403 and TOKEN not in str(err.value)


def test_pull_request_is_read_from_the_actions_environment(tmp_path):
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 42}}))
    env = {"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": REPO, "GITHUB_EVENT_PATH": str(event),
           "GITHUB_API_URL": "http://127.0.0.1:1"}
    assert pull_request_from_env(env) == PullRequest(REPO, 42, "http://127.0.0.1:1")
    push = {**env, "GITHUB_EVENT_PATH": str(tmp_path / "none.json"), "GITHUB_REF": "refs/heads/main"}
    assert pull_request_from_env(push) is None
    assert pull_request_from_env({**push, "GITHUB_REF": "refs/pull/5/merge"}).number == 5
    assert pull_request_from_env({k: v for k, v in env.items() if k != "GITHUB_ACTIONS"}) is None


def test_markdown_of_a_real_report_fits_a_github_comment():
    body = as_markdown(run_check(FIXTURES / "fastapi-drift"))
    assert len(body) < 65536 and body.count("\n| ") == 20  # header row + 19 items


def test_cli_on_a_pull_request_keeps_one_sticky_comment(github, tmp_path):
    fake, base = github
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"action": "synchronize", "pull_request": {"number": 3}}))
    env = {**os.environ, "GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": REPO, "GITHUB_EVENT_PATH": str(event),
           "GITHUB_API_URL": base, "GITHUB_TOKEN": TOKEN}

    def check(target: str) -> subprocess.CompletedProcess:
        return subprocess.run([CLOUDMAKE, "drift", "check", "--target", str(FIXTURES / target)], env=env,
                              capture_output=True, text=True, timeout=120)

    drifted = check("express-drift")
    assert drifted.returncode == 1, drifted.stdout[-2000:] + drifted.stderr[-2000:]
    assert "pull request #3: drift comment created" in drifted.stderr, drifted.stderr[-2000:]
    clean = check("express-clean")
    assert clean.returncode == 0, clean.stdout[-2000:] + clean.stderr[-2000:]
    assert "pull request #3: drift comment resolved" in clean.stderr, clean.stderr[-2000:]
    [comment] = fake.on(REPO, 3)
    assert RESOLVED in comment["body"] and "routes:extra" not in comment["body"]
    assert TOKEN not in drifted.stdout + drifted.stderr + clean.stdout + clean.stderr
