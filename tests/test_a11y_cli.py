"""`cloudmake a11y ...` as users run it: a real database, a static Storybook on 127.0.0.1, Debian's Chromium;
exit codes 0/1/2, the HTML and JSON reports, the regression gate, credentials only to the target's origin."""

from __future__ import annotations

import json

import pytest

from cloudmake_pipelines.db.migrate import upgrade
from tests.support.storybook import StaticStorybook, small


@pytest.fixture
def cli(sqlite_url, monkeypatch, cloudmake_main, chromium):
    upgrade(sqlite_url)
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    monkeypatch.setenv("CLOUDMAKE_A11Y_PAGE_TIMEOUT", "20")

    def run(*args):
        return cloudmake_main("a11y", *args)

    return run


@pytest.fixture
def servers(tmp_path):
    (tmp_path / "cdn").mkdir()
    (tmp_path / "cdn" / "plan.gif").write_bytes(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;")
    with StaticStorybook(tmp_path / "cdn") as cdn:
        with StaticStorybook(small(tmp_path / "ds", f"{cdn.url}/plan.gif")) as storybook:
            yield storybook, cdn, tmp_path / "ds"


def test_targets_add_list_remove_and_bad_input(cli):
    added = cli("targets", "add", "ds", "--storybook", "http://127.0.0.1:6006/", "--page", "http://127.0.0.1:3000/",
                "--auth", "env:DS_TOKEN", "--json")
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["auth"] == "env:DS_TOKEN"
    listed = json.loads(cli("targets", "list", "--json").stdout)
    assert [(t["name"], t["storybook"], t["pages"]) for t in listed] == [
        ("ds", "http://127.0.0.1:6006/", ["http://127.0.0.1:3000/"])]
    again = cli("targets", "add", "ds", "--storybook", "http://127.0.0.1:6006/")
    assert again.returncode == 2 and "already registered (use --replace" in again.stderr
    nothing = cli("targets", "add", "web")
    assert nothing.returncode == 2 and "expected a Storybook URL (--storybook) or page URLs (--page)" in nothing.stderr
    bad = cli("targets", "add", "web", "--page", "file:///etc/passwd")
    assert bad.returncode == 2 and "expected an http:// or https:// URL" in bad.stderr
    assert cli("targets", "remove", "ds").returncode == 0
    assert cli("targets", "remove", "ds").returncode == 2
    assert "no targets registered" in cli("audit").stdout


def test_audit_exit_codes_reports_regression_gate_and_credentials(cli, servers, tmp_path, monkeypatch):
    storybook, cdn, root = servers
    monkeypatch.setenv("DS_TOKEN", "Bearer ds-test-token")  # secretscan:allow
    assert cli("targets", "add", "ds", "--storybook", f"{storybook.url}/", "--auth", "env:DS_TOKEN").returncode == 0
    report = tmp_path / "report.html"
    under = cli("audit", "--json", "--html", str(report))
    assert under.returncode == 1, under.stderr
    assert "SC-003 failed for ds (under 98 % or pages failed)" in under.stderr
    document = json.loads(under.stdout)
    (target,) = document["targets"]
    assert (target["pages"], target["audited"], target["violations"], target["new_violations"]) == (3, 3, 1, None)
    assert 90 < target["compliance"] < 98 and document["engine"] == "axe-core 4.12.1"
    assert "color-contrast" in report.read_text() and "Muted" in report.read_text()
    assert "ds-test-token" not in under.stdout + under.stderr + report.read_text()
    # the credential went to the Storybook, never to the other origin the story loads an image from
    assert all(r.headers.get("authorization") == "Bearer ds-test-token" for r in storybook.requests)  # secretscan:allow
    assert cdn.requests and not any("authorization" in r.headers for r in cdn.requests)

    (root / "stories" / "button--primary.js").write_text('export default function render() { return '
                                                        '"<button type=\\"button\\"></button>"; }\n')
    regressed = cli("audit", "--threshold", "50", "--fail-on-new", "--report-json", str(tmp_path / "r.json"))
    assert regressed.returncode == 1 and "new violations in ds" in regressed.stderr
    assert "SC-003 failed" not in regressed.stderr  # 50 % is met: only the regression gate fails
    assert "pass" in regressed.stdout and "Button" in regressed.stdout and "button-name" in regressed.stdout
    new = json.loads((tmp_path / "r.json").read_text())["targets"][0]["new_violations"]
    assert [(f["page"], f["rule"], f["impact"]) for f in new] == [("button--primary", "button-name", "critical")]


def test_audit_of_an_unknown_target_and_bad_options(cli):
    unknown = cli("audit", "--target", "nope")
    assert unknown.returncode == 2 and "target 'nope' is not registered" in unknown.stderr
    nan = cli("audit", "--threshold", "nan")
    assert nan.returncode == 2 and "is not a finite number" in nan.stderr
    for both in (["--html", "-", "--report-json", "-"], ["--json", "--html", "-"]):
        mixed = cli("audit", *both)
        assert mixed.returncode == 2 and "would both write to stdout" in mixed.stderr, both
