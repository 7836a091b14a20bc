"""`cloudmake keys`: --confirm guards, secrets from stdin, status and check, JSON output."""

import json

import pytest
from click.testing import CliRunner

from cloudmake_pipelines.cli import cli
from cloudmake_pipelines.db.migrate import upgrade
from cloudmake_pipelines.errors import ConfigError


@pytest.fixture
def run(sqlite_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    upgrade(sqlite_url)
    runner = CliRunner()

    def invoke(*args, input=None, catch=False):
        return runner.invoke(cli, ["keys", *args], input=input, catch_exceptions=catch)

    return invoke


def test_rotations_refuse_without_confirm_and_change_nothing(run):
    for command in ("rotate-master", "rotate-jwt"):
        result = run(command)
        assert result.exit_code == 1 and "Re-run with --confirm" in result.output
    status = json.loads(run("status", "--json").stdout)
    assert status["jwt"]["keys"] == [] and status["master"]["versions"] == []  # read-only: no key created
    assert "master key: none yet" in run("status").output


def test_secrets_from_stdin_rotations_status_and_check(run):
    assert run("put-secret", "deploy_token", input="s3cret-from-stdin\n").exit_code == 0
    assert json.loads(run("list-secrets", "--json").stdout) == ["deploy_token"]
    empty = run("put-secret", "empty", input="", catch=True)
    assert isinstance(empty.exception, ConfigError) and "expected the secret value on stdin" in str(empty.exception)
    rotated = run("rotate-master", "--confirm", "--json")
    assert rotated.exit_code == 0, rotated.output
    assert [r["step"] for r in json.loads(rotated.stdout)] == ["generate", "reencrypt", "update_binding",
                                                               "invalidate"]
    jwt_result = run("rotate-jwt", "--confirm", "--json")
    assert jwt_result.exit_code == 0 and json.loads(jwt_result.stdout)["new_kid"]
    document = json.loads(run("jwks").stdout)
    assert len(document["keys"]) == 2
    check = run("check", "--json")
    assert check.exit_code == 0 and json.loads(check.stdout)["ok"]
    status = run("status")
    assert "master key: v2 active" in status.output and "s3cret-from-stdin" not in status.output
    assert run("delete-secret", "deploy_token").exit_code == 0
    assert json.loads(run("list-secrets", "--json").stdout) == []


def test_delete_secret_of_a_missing_name_says_so_and_exits_1(run):
    missing = run("delete-secret", "never_stored")
    assert missing.exit_code == 1 and "no secret named never_stored" in missing.stderr
    assert "deleted" not in missing.stdout


def test_a_fresh_install_says_how_to_create_the_first_signing_keys(run):
    status = run("status")
    assert status.exit_code == 0 and "JWT signing keys: none yet" in status.stdout
    assert "cloudmake keys rotate-jwt --confirm" in status.stdout and "due now" not in status.stdout
    empty = run("jwks")
    assert json.loads(empty.stdout) == {"keys": []} and "cloudmake keys rotate-jwt --confirm" in empty.stderr
    assert run("rotate-jwt", "--confirm").exit_code == 0
    assert {key["use"] for key in json.loads(run("jwks").stdout)["keys"]} == {"sig"}
    assert len(json.loads(run("jwks").stdout)["keys"]) == 2, "active and next are published"
    assert "none yet" not in run("status").stdout and run("jwks").stderr == ""
