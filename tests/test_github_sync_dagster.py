"""The sync as users run it: the real keyring as source, the Dagster asset and SC-005 check, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import dagster as dg
import pytest

from cloudmake_pipelines.assets.github_sync import github_secrets_sync, sc_005_github_secrets_valid
from cloudmake_pipelines.cli import main
from cloudmake_pipelines.db import make_engine
from cloudmake_pipelines.db.migrate import upgrade
from cloudmake_pipelines.definitions import defs
from cloudmake_pipelines.github.service import HMAC_KEY_NAME, SyncBusy, SyncConfig, SyncService, exclusive_run
from cloudmake_pipelines.github.targets import TargetStore, parse_spec
from cloudmake_pipelines.keys import open_keyring
from cloudmake_pipelines.resources import DatabaseResource
from cloudmake_pipelines.resources.github_sync import GitHubSyncResource
from cloudmake_pipelines.settings import Secret, get_settings
from tests.support.fake_github_secrets import DictSource, FakeGitHubSecrets

TOKEN = "ghp_" + "Dag5terT0ken" * 4
REPO = parse_spec("actions:repo:octo/api")
ORG = parse_spec("dependabot:org:octo", visibility="selected", selected_repository_ids=(42,))


@pytest.fixture
def github(monkeypatch):
    with FakeGitHubSecrets(TOKEN, repository_ids={"octo/web": 42}) as fake:
        base = fake.url
        monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
        monkeypatch.setenv("GITHUB_API_URL", base)
        monkeypatch.setenv("GITHUB_SYNC_WRITE_INTERVAL", "0")
        get_settings.cache_clear()
        yield fake, base


def test_secrets_put_through_the_real_keyring_reach_github(engine, github):
    fake, base = github
    keyring = open_keyring(engine, get_settings())
    keyring.put("STRIPE_KEY", "sk_live_abcdef")
    keyring.put("DEPLOY_TOKEN", "dt-1234567")  # secretscan:allow (test fixture)
    TargetStore(engine).add(REPO)
    config = SyncConfig(Secret(TOKEN), base, write_interval_seconds=0)
    with SyncService(engine, config=config) as service:
        assert service.run().counts()["created"] == 2
    assert fake.value(REPO.secrets_path, "STRIPE_KEY") == "sk_live_abcdef"
    assert fake.names(REPO.secrets_path) == {"STRIPE_KEY", "DEPLOY_TOKEN"}  # the HMAC key stays home
    assert HMAC_KEY_NAME in keyring.names()
    keyring.put("STRIPE_KEY", "sk_live_rotated")
    with SyncService(engine, config=config) as service:  # a later run, a new process: same HMAC key
        report = service.run()
    assert [(o.name, o.action) for o in report.of("updated")] == [("STRIPE_KEY", "updated")]
    assert report.counts()["skipped"] == 1 and fake.value(REPO.secrets_path, "STRIPE_KEY") == "sk_live_rotated"


def test_schedule_is_nightly_at_one_utc():
    schedule = defs.resolve_schedule_def("github_secrets_sync_nightly")
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 1 * * *", "UTC")
    assert defs.resolve_job_def("github_secrets_sync_job")


def test_asset_syncs_and_sc_005_validates_githubs_side(sqlite_url, github):
    fake, base = github
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    open_keyring(engine, get_settings()).put("API_KEY", "sk-live-123456")  # secretscan:allow (test fixture)
    TargetStore(engine).add(REPO)
    TargetStore(engine).add(ORG)
    resources = {"database": DatabaseResource(url=sqlite_url), "github": GitHubSyncResource(api_url=base)}
    with dg.instance_for_test() as instance:
        result = dg.materialize([github_secrets_sync, sc_005_github_secrets_valid], resources=resources,
                                instance=instance)
        assert result.success
        metadata = result.asset_materializations_for_node("github_secrets_sync")[0].metadata
        assert (metadata["synced"].value, metadata["conflict"].value, metadata["deferred"].value) == (2, 0, 0)
        assert "duration_ms" in metadata and metadata["skipped"].value == 0
        check = result.get_asset_check_evaluations()[0]
        assert check.passed and check.metadata["out_of_sync"].value == 0
        assert fake.record(ORG.secrets_path, "API_KEY")["selected_repository_ids"] == [42]

        fake.advance(600)
        fake.set_by_hand(REPO.secrets_path, "API_KEY", "changed-in-the-ui")
        again = dg.materialize([github_secrets_sync, sc_005_github_secrets_valid], resources=resources,
                               instance=instance, raise_on_error=False)
        metadata = again.asset_materializations_for_node("github_secrets_sync")[0].metadata
        assert (metadata["synced"].value, metadata["skipped"].value, metadata["conflict"].value) == (0, 1, 1)
        check = again.get_asset_check_evaluations()[0]
        assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
        assert "conflict actions:repo:octo/api API_KEY" in check.metadata["findings"].value
    assert fake.value(REPO.secrets_path, "API_KEY") == "changed-in-the-ui"


def cloudmake(capsys, *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(list(argv))
    out, err = capsys.readouterr()
    return done.value.code, out, err


def test_cli_targets_dry_run_sync_check_and_exit_codes(sqlite_url, github, monkeypatch, capsys):
    fake, _ = github
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    get_settings.cache_clear()
    assert cloudmake(capsys, "db", "upgrade")[0] == 0
    open_keyring(make_engine(sqlite_url), get_settings()).put("API_KEY", "sk-live-cli-1234")  # secretscan:allow (test fixture)
    capsys.readouterr()  # the keyring's own log lines
    code, out, _ = cloudmake(capsys, "github", "targets", "add", "dependabot:org:octo", "--visibility", "selected",
                             "--repository", "web", "--json")
    assert code == 0 and json.loads(out)["selected_repository_ids"] == [42]
    assert cloudmake(capsys, "github", "targets", "add", REPO.key, "--exclude", "TEST_*")[0] == 0
    code, out, _ = cloudmake(capsys, "github", "targets", "list", "--json")
    assert [t["target"] for t in json.loads(out)] == ["actions:repo:octo/api", "dependabot:org:octo"]

    code, out, _ = cloudmake(capsys, "github", "sync", "--dry-run", "--json")
    assert code == 0 and json.loads(out)["counts"]["planned"] == 2 and fake.writes() == []
    code, out, _ = cloudmake(capsys, "github", "sync", "--target", REPO.key, "--json")
    assert code == 0 and json.loads(out)["counts"]["created"] == 1
    assert fake.names(ORG.secrets_path) == set()
    code, out, _ = cloudmake(capsys, "github", "check")
    assert code == 1 and "SC-005 FAILED: 1 finding(s)" in out  # the org target is not synced yet
    code, out, _ = cloudmake(capsys, "github", "sync")
    assert code == 0 and "1 synced, 1 unchanged" in out
    assert cloudmake(capsys, "github", "check")[0] == 0

    fake.advance(600)
    fake.set_by_hand(REPO.secrets_path, "API_KEY", "ui")
    code, out, err = cloudmake(capsys, "github", "sync", "--json")
    assert code == 1 and json.loads(out)["counts"]["conflict"] == 1
    assert TOKEN not in out + err and "sk-live-cli-1234" not in out + err
    assert cloudmake(capsys, "github", "sync", "--force")[0] == 0

    code, _, err = cloudmake(capsys, "github", "targets", "add", "actions:env:octo/api")
    assert code == 2 and "actions:env:OWNER/REPO:ENVIRONMENT" in err
    code, _, err = cloudmake(capsys, "github", "targets", "add", "dependabot:env:octo/api:prod")
    assert code == 2 and "environment secrets for actions only" in err
    code, _, err = cloudmake(capsys, "github", "sync", "--target", "actions:repo:octo/nope")
    assert code == 2 and "unknown target" in err
    assert cloudmake(capsys, "github", "targets", "remove", ORG.key)[0] == 0
    monkeypatch.delenv("GITHUB_TOKEN")
    get_settings.cache_clear()
    code, _, err = cloudmake(capsys, "github", "sync")
    assert code == 2 and "GITHUB_TOKEN is not set" in err


def _keyring_with_a_target(sqlite_url, monkeypatch, values: dict[str, str]):
    """A migrated DATABASE_URL whose keyring holds ``values`` and one target, REPO; (engine, keyring)."""
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    get_settings.cache_clear()
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    keyring = open_keyring(engine, get_settings())
    for name, value in values.items():
        keyring.put(name, value)
    TargetStore(engine).add(REPO)
    return engine, keyring


def test_a_sync_stalled_by_the_rate_limit_says_deferred_exits_1_and_fails_sc_005(sqlite_url, github, monkeypatch,
                                                                               capsys):
    """Issue 15 item 9: a primary rate limit that deferred writes used to exit 0 and hide in cron."""
    fake, _ = github
    _keyring_with_a_target(sqlite_url, monkeypatch, {f"S{i}": f"value-{i}-abcdef" for i in range(5)})
    fake.content_limit = (2, 3600)  # two writes, then "retry in an hour": longer than any run waits
    capsys.readouterr()
    code, out, _ = cloudmake(capsys, "github", "sync", "--json")
    body = json.loads(out)
    assert code == 1 and body["result"] == "deferred"
    assert (body["counts"]["created"], body["counts"]["deferred"], body["counts"]["failed"]) == (2, 3, 0)
    code, out, _ = cloudmake(capsys, "github", "sync")
    assert code == 1 and "stalled: 3 write(s) deferred (GitHub rate limit" in out
    code, out, _ = cloudmake(capsys, "github", "check")
    assert code == 1 and "SC-005 FAILED: 3 finding(s)" in out
    fake.content_limit = None
    code, out, _ = cloudmake(capsys, "github", "sync", "--json")
    assert code == 0 and json.loads(out)["result"] == "ok"


def test_a_sync_killed_with_sigkill_mid_run_is_finished_by_the_next_run(sqlite_url, github, monkeypatch):
    fake, base = github
    values = {f"S{i:02d}": f"value-{i}-abcdef" for i in range(40)}
    engine, keyring = _keyring_with_a_target(sqlite_url, monkeypatch, values)
    env = {**os.environ, "GITHUB_SYNC_WRITE_INTERVAL": "0.05"}
    proc = subprocess.Popen([sys.executable, "-m", "cloudmake_pipelines.cli", "github", "sync", "--json"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while len(fake.writes()) < 15 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.kill()
    proc.wait(timeout=10)
    landed = len(fake.names(REPO.secrets_path))
    assert 15 <= landed < 40, "the run should have been killed half-way"
    with SyncService(engine, config=SyncConfig(Secret(TOKEN), base, write_interval_seconds=0)) as service:
        report = service.run()
        assert not report.of("conflict", "failed")
        assert report.counts()["created"] == 40 - landed  # landed but unconfirmed ones are rewritten
        assert {n: fake.value(REPO.secrets_path, n) for n in values} == values
        assert service.run().counts()["skipped"] == 40


def test_two_writing_syncs_never_run_at_once(engine, github):
    fake, base = github
    TargetStore(engine).add(REPO)
    with SyncService(engine, config=SyncConfig(Secret(TOKEN), base, write_interval_seconds=0),
                     source=DictSource({"API_KEY": "sk-live-lock1"})) as service:  # secretscan:allow (test fixture)
        with exclusive_run(engine):  # another run holds the database's sync lock
            with pytest.raises(SyncBusy, match="another GitHub secrets sync is running"):
                service.run()
            assert service.run(dry_run=True).counts()["planned"] == 1  # a plan writes nothing: allowed
        assert fake.writes() == []
        assert service.run().counts()["created"] == 1  # released: the next run goes ahead
