"""`cloudmake tokens ...` as users run it: a real database, git repository and HTTP apps; exit codes 0/1/2."""

from __future__ import annotations

import json
import time

import pytest

from cloudmake_pipelines.db.migrate import upgrade
from tests.support.token_apps import TokenApp
from tests.test_tokens import Repo, tokens_json


@pytest.fixture
def cli(sqlite_url, monkeypatch, cloudmake_main):
    upgrade(sqlite_url)
    monkeypatch.setenv("DATABASE_URL", sqlite_url)

    def run(*args):
        return cloudmake_main("tokens", *args)

    return run


@pytest.fixture
def repo(tmp_path):
    (tmp_path / "ds").mkdir()
    return Repo(tmp_path / "ds")


def test_apps_add_list_remove_and_an_app_serving_no_version(cli):
    with TokenApp(None, "css") as fake:
        refused = cli("apps", "add", "shop", fake.page, "--css-var", "--ds-version")
        assert refused.returncode == 2
        assert f"app shop ({fake.page}) serves no version: expected a stylesheet declaring --ds-version" in refused.stderr
        assert refused.stderr.strip().splitlines()[-1].startswith("error: app shop")  # one line, no traceback
        fake.serve("1.2.0")
        added = cli("apps", "add", "shop", fake.page, "--css-var", "--ds-version", "--json")
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["selector"] == "--ds-version" and "shop serves 1.2.0" in added.stderr
    both = cli("apps", "add", "x", "http://127.0.0.1:9/", "--header", "X-V", "--css-var", "--v")
    assert both.returncode == 2 and "one of --json-field, --css-var, --header" in both.stderr
    offline = cli("apps", "add", "api", "http://127.0.0.1:9/v", "--json-field", "meta.v", "--auth", "env:API_TOKEN",
                  "--no-check")
    assert offline.returncode == 0, offline.stderr
    listed = json.loads(cli("apps", "list", "--json").stdout)
    assert [(a["name"], a["auth"]) for a in listed] == [("api", "env:API_TOKEN"), ("shop", None)]
    assert cli("apps", "remove", "api").returncode == 0
    assert cli("apps", "remove", "api").returncode == 2


def test_propagation_table_and_exit_codes(cli, repo):
    repo.commit(tokens_json("1.0.0"), when=time.time() - 3600)
    assert cli("versions", "add-source", str(repo.path)).returncode == 0
    with TokenApp("1.0.0") as fast, TokenApp("0.9.0") as slow:
        assert cli("apps", "add", "fast", fast.page, "--json-field", "meta.tokens").returncode == 0
        assert cli("apps", "add", "slow", slow.page, "--json-field", "meta.tokens").returncode == 0
        assert cli("poll").returncode == 0  # the latest version at registration: its clock starts then
        repo.commit(tokens_json("2.0.0"), when=time.time() - 1)
        fast.serve("2.0.0")
        assert cli("poll").returncode == 0
    table = cli("propagation")
    assert table.returncode == 0, table.stderr  # slow is pending: within the objective
    assert "fast" in table.stdout and "2.0.0" in table.stdout and "pending" in table.stdout
    report = json.loads(cli("propagation", "--json").stdout)
    assert report["sc_002_passed"] and {r["app"]: r["status"] for r in report["rows"]} == {
        "fast": "ok", "slow": "pending"}
    old = json.loads(cli("propagation", "--version", "1.0.0", "--json").stdout)
    assert {r["app"]: r["status"] for r in old["rows"]} == {"fast": "ok", "slow": "superseded"}
    unknown = cli("propagation", "--version", "9.9.9")
    assert unknown.returncode == 2 and "no propagation recorded for that version" in unknown.stderr
    versions = cli("versions", "list", "--json")
    assert [v["version"] for v in json.loads(versions.stdout)] == ["1.0.0", "2.0.0"]


def test_propagation_exits_1_when_sc_002_fails(cli, repo, monkeypatch):
    monkeypatch.setenv("CLOUDMAKE_TOKENS_SLO_SECONDS", "1")  # the objective, shortened so the test need not wait 5 min
    repo.commit(tokens_json("1.0.0"), when=time.time() - 3600)
    assert cli("versions", "add-source", str(repo.path)).returncode == 0
    with TokenApp("1.0.0") as app:
        assert cli("apps", "add", "web", app.page, "--json-field", "meta.tokens").returncode == 0
        repo.commit(tokens_json("2.0.0"), when=time.time() + 1)  # after the registration
        time.sleep(2.5)
        assert cli("poll").returncode == 0
    failing = cli("propagation")
    assert failing.returncode == 1
    assert "overdue" in failing.stdout and "SC-002 failed for 1 app(s): web (overdue)" in failing.stderr
    report = json.loads(cli("propagation", "--json").stdout)
    assert not report["sc_002_passed"] and report["rows"][0]["last_served"] == "1.0.0"


def test_add_source_errors_name_the_file_and_what_was_expected(cli, repo):
    repo.commit("{broken", when=1_764_000_000)
    bad = cli("versions", "add-source", str(repo.path))
    assert bad.returncode == 2 and "tokens.json@" in bad.stderr and "not valid JSON" in bad.stderr
    gh = cli("versions", "add-source", "github:nobody")
    assert gh.returncode == 2 and "expected github:owner/repo" in gh.stderr
