"""Design-token propagation: a real git repository, real HTTP apps on 127.0.0.1, both databases."""

from __future__ import annotations

import json
import os
import subprocess
import time
from datetime import UTC, datetime, timedelta

import pytest

from cloudmake_pipelines.alerts import Alerter
from cloudmake_pipelines.drift.model import SpecError
from cloudmake_pipelines.tokens import App, AppRegistry, Cursor, Monitor, Poller, TokenSource, VersionStore
from cloudmake_pipelines.tokens.versions import TokenSourceError
from tests.support.token_apps import TokenApp
from tests.support.webhook import WebhookReceiver

HOUR_AGO = datetime.now(UTC) - timedelta(hours=1)


def tokens_json(version: str, color: str = "#0af") -> str:
    return json.dumps({"$version": version, "color": {"$type": "color", "brand": {"$value": color}}})


class Repo:
    """A git repository whose commits get chosen committer times (author times 3 days earlier, as after a rebase)."""

    def __init__(self, path):
        self.path = path
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str, when: float | None = None) -> str:
        env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
               "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_GLOBAL": os.devnull}
        if when is not None:
            env["GIT_COMMITTER_DATE"] = f"{int(when)} +0000"
            env["GIT_AUTHOR_DATE"] = f"{int(when) - 3 * 86400} +0000"
        return subprocess.run(["git", "-C", str(self.path), *args], check=True, env=env, capture_output=True,
                              text=True).stdout.strip()

    def commit(self, text: str, when: float, path: str = "tokens.json") -> str:
        (self.path / path).write_text(text)
        self.git("add", path)
        self.git("commit", "-q", "-m", f"tokens {when}", when=when)
        return self.git("rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path):
    (tmp_path / "ds").mkdir()
    return Repo(tmp_path / "ds")


@pytest.fixture
def webhook():
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def monitor(engine, webhook):
    poller = Poller(timeout=2.0)
    yield Monitor(engine, poller, Alerter(webhook.url_for(), attempts=1), slo_seconds=300)
    poller.close()


def register(engine, app: App, at: datetime = HOUR_AGO) -> App:
    return AppRegistry(engine, clock=lambda: at).add(app)


def row(monitor: Monitor, app: str, version: str | None = None):
    return next(r for r in monitor.table(version) if r.app == app)


def test_versions_are_commits_of_the_tokens_file_with_committer_time_recorded_once(engine, repo):
    first = repo.commit(tokens_json("1.0.0"), when=1_764_000_000)
    store = VersionStore(engine)
    store.add_source(TokenSource(str(repo.path)))
    found = store.scan()
    assert [(v.sha, v.version, v.committed_at) for v in found] == [
        (first, "1.0.0", datetime.fromtimestamp(1_764_000_000, UTC))]  # not the author time, 3 days earlier
    (repo.path / "README.md").write_text("unrelated")
    repo.git("add", "README.md")
    repo.git("commit", "-q", "-m", "docs", when=1_764_000_100)
    assert store.scan() == []  # an unrelated commit is no version, a known one is not read again
    second = repo.commit(tokens_json("1.1.0"), when=1_764_000_200)
    assert [(v.sha, v.version) for v in store.scan()] == [(second, "1.1.0")]
    assert [v.version for v in store.versions()] == ["1.0.0", "1.1.0"]


def test_a_merge_is_the_version_stamped_when_it_landed(engine, repo):
    repo.commit(tokens_json("1.0.0"), when=1_764_000_000)
    repo.git("checkout", "-q", "-b", "feature")
    repo.commit(tokens_json("2.0.0"), when=1_764_000_100)
    repo.git("checkout", "-q", "main")
    repo.git("merge", "-q", "--no-ff", "-m", "merge", "feature", when=1_764_009_000)
    store = VersionStore(engine)
    store.add_source(TokenSource(str(repo.path)))
    assert [(v.version, v.committed_at.timestamp()) for v in store.scan()] == [
        ("1.0.0", 1_764_000_000), ("2.0.0", 1_764_009_000)]


def test_a_malformed_tokens_file_is_a_clear_error_and_skipped_by_the_scan(engine, repo):
    repo.commit("{not json", when=1_764_000_000)
    sha = repo.git("rev-parse", "HEAD")
    store = VersionStore(engine)
    with pytest.raises(SpecError, match=rf"tokens.json@{sha[:12]}.*not valid JSON"):
        store.add_source(TokenSource(str(repo.path)))
    repo.commit(tokens_json("1.0.0"), when=1_764_000_100)
    store.add_source(TokenSource(str(repo.path)))
    problems = []
    assert [v.version for v in store.scan(on_error=problems.append)] == ["1.0.0"]
    assert len(problems) == 1 and sha[:12] in str(problems[0])
    repo.commit(json.dumps({"color": {}}), when=1_764_000_200)
    with pytest.raises(TokenSourceError, match=r"no version at '\$version': expected a string"):
        store.scan()
    with pytest.raises(TokenSourceError, match="expected a git clone"):
        VersionStore(engine).add_source(TokenSource(str(repo.path / "nowhere")))


@pytest.mark.parametrize(("kind", "selector"), [("json", "meta.tokens"), ("css", "--ds-version"),
                                                ("header", "X-DS-Version")])
def test_each_way_of_reading_the_version_and_an_app_serving_none(kind, selector):
    poller = Poller(timeout=2.0)
    with TokenApp("2.4.0", kind) as fake:
        app = App("web", fake.page, kind, selector).validate()
        assert poller.poll(app, None).version == "2.4.0"
        fake.serve(None)
        seen = poller.poll(app, None)
    poller.close()
    assert seen.version is None
    assert seen.error.startswith(f"app web ({fake.page}) serves no version: expected ")
    assert selector in seen.error


def test_propagation_is_first_seen_minus_commit_with_the_polling_uncertainty(engine, repo, monitor):
    with TokenApp("1.0.0") as fake:
        register(engine, App("web", fake.page, "json", "meta.tokens"), at=datetime.now(UTC) - timedelta(seconds=60))
        repo.commit(tokens_json("1.0.0"), when=time.time() - 1800)  # before registration: the clock starts then
        monitor.versions.add_source(TokenSource(str(repo.path)))
        cursor = monitor.tick(Cursor()).cursor
        assert row(monitor, "web").status == "ok"
        committed = int(time.time()) - 1
        repo.commit(tokens_json("2.0.0"), when=committed)
        second = monitor.tick(cursor)
        assert [o.not_modified for o in second.observations] == [True]  # If-None-Match answered 304
        assert fake.requests[-1].headers["if-none-match"] and fake.not_modified == 1
        assert row(monitor, "web").status == "pending"  # reachable, within the objective: not yet
        fake.serve("2.0.0")
        third = monitor.tick(second.cursor)
    measured = row(monitor, "web")
    seen_at, polled_before = third.observations[0].at, second.observations[0].sent
    assert measured.status == "ok" and measured.first_seen_at == seen_at
    assert measured.previous_poll_at == polled_before
    assert measured.propagation_s == pytest.approx((seen_at - datetime.fromtimestamp(committed, UTC)).total_seconds())
    assert measured.uncertainty_s == pytest.approx((seen_at - polled_before).total_seconds())
    assert 0 < measured.propagation_s < 30


def test_one_alert_when_overdue_one_resolved_never_repeated(engine, repo, monitor, webhook):
    with TokenApp("1.0.0", "css") as fake:
        register(engine, App("shop", fake.page, "css", "--ds-version"))
        repo.commit(tokens_json("2.0.0"), when=time.time() - 400)
        monitor.versions.add_source(TokenSource(str(repo.path)))
        cursor = monitor.tick(Cursor()).cursor
        for _ in range(3):
            cursor = monitor.tick(cursor).cursor
        assert row(monitor, "shop").status == "overdue"
        assert monitor.failing(monitor.table())
        fake.serve("2.0.0")
        for _ in range(3):
            cursor = monitor.tick(cursor).cursor
    alerts = webhook.alerts
    assert [a["severity"] for a in alerts] == ["error", "resolved"]
    assert alerts[0]["summary"].startswith("shop has not picked up design tokens 2.0.0 6.")
    assert alerts[0]["summary"].endswith("it still serves 1.0.0")
    assert alerts[0]["key"] == alerts[1]["key"]
    assert row(monitor, "shop").status == "late" and row(monitor, "shop").propagation_s > 300


def test_a_superseded_version_is_reported_as_such_not_as_an_eternal_outage(engine, repo, monitor, webhook):
    with TokenApp("1.0.0", "header") as fake:
        register(engine, App("docs", fake.page, "header", "X-DS-Version"))
        repo.commit(tokens_json("2.0.0"), when=time.time() - 400)
        monitor.versions.add_source(TokenSource(str(repo.path)))
        cursor = monitor.tick(Cursor()).cursor
        repo.commit(tokens_json("3.0.0"), when=time.time() - 10)
        cursor = monitor.tick(cursor).cursor
        assert row(monitor, "docs", "2.0.0").status == "superseded"
        assert row(monitor, "docs", "3.0.0").status == "pending"
        fake.serve("3.0.0")
        monitor.tick(cursor)
    assert [(a["severity"], a["details"]["version"]) for a in webhook.alerts] == [("error", "2.0.0"),
                                                                                   ("resolved", "2.0.0")]
    assert "superseded by 3.0.0" in webhook.alerts[1]["summary"]
    assert row(monitor, "docs").status == "ok" and not monitor.failing(monitor.table())


def test_an_app_that_is_down_is_unknown_not_yet(engine, repo, monitor, webhook):
    with TokenApp("1.0.0") as fake:
        register(engine, App("admin", fake.page, "json", "meta.tokens"))
        repo.commit(tokens_json("2.0.0"), when=time.time() - 60)
        monitor.versions.add_source(TokenSource(str(repo.path)))
        fake.down()
        cursor = monitor.tick(Cursor()).cursor
        unknown = row(monitor, "admin")
        assert unknown.status == "unknown" and "HTTP 503" in unknown.last_error
        assert not monitor.failing([unknown])  # within the objective: not failing yet
        fake.up()
        fake.serve("2.0.0")
        monitor.tick(cursor)
    assert row(monitor, "admin").status == "ok" and webhook.alerts == []


def test_apps_registry_validates_and_forgets_only_the_app(engine):
    registry = AppRegistry(engine)
    registry.add(App("web", "http://127.0.0.1:9/v", "json", "version", "Authorization", "env:WEB_TOKEN"))
    for bad, message in [(App("Bad Name", "http://h/"), "app name"), (App("x", "ftp://h/"), "http:// or https://"),
                         (App("x", "http://h/", "css", "ds-version"), "custom property"),
                         (App("x", "http://h/", "json", "v", "Authorization", "vault:x"), "env:VARIABLE")]:
        with pytest.raises(Exception, match=message):
            registry.add(bad)
    assert [a.name for a in registry.list()] == ["web"]
    registry.remove("web")
    with pytest.raises(Exception, match="'web' is not registered"):
        registry.remove("web")


def test_credentials_come_from_env_references(monkeypatch):
    monkeypatch.setenv("WEB_TOKEN", "Bearer s3cr3t-token-value")
    poller = Poller(timeout=2.0, environ={"WEB_TOKEN": "Bearer s3cr3t-token-value"})
    with TokenApp("1.0.0") as fake:
        app = App("web", fake.page, "json", "meta.tokens", "Authorization", "env:WEB_TOKEN")
        assert poller.poll(app, None).version == "1.0.0"
        missing = poller.poll(App("web", fake.page, "json", "meta.tokens", "Authorization", "env:NOPE"), None)
    poller.close()
    assert fake.requests[0].headers["authorization"] == "Bearer s3cr3t-token-value"
    assert missing.version is None and "env:NOPE is not set" in missing.error


def test_a_github_repository_gives_the_same_versions_as_its_clone(engine, repo):
    from cloudmake_pipelines.github.client import GitHubClient
    from tests.support.fake_github_contents import FakeGitHubRepo

    repo.commit(tokens_json("1.0.0"), when=1_764_000_000)
    repo.commit(tokens_json("1.1.0"), when=1_764_000_500)
    with FakeGitHubRepo("gh-token", "acme/design", repo.path) as fake:
        store = VersionStore(engine, github=lambda: GitHubClient("gh-token", base_url=fake.url))
        store.add_source(TokenSource("github:acme/design"))
        found = [(v.version, v.committed_at.timestamp()) for v in store.scan()]
        with pytest.raises(TokenSourceError, match="no commit changes 'missing.json'"):
            store.add_source(TokenSource("github:acme/design", "missing.json"))
    assert found == [("1.0.0", 1_764_000_000), ("1.1.0", 1_764_000_500)]  # committer time, not author time
    assert all(r.bearer == "gh-token" for r in fake.requests)


def test_a_source_that_cannot_be_read_is_a_problem_not_a_stop_and_a_removed_app_is_not_alerted(
        engine, repo, monitor, webhook, tmp_path):
    import shutil

    with TokenApp("1.0.0") as fake, TokenApp("1.0.0") as gone:
        register(engine, App("web", fake.page, "json", "meta.tokens"))
        register(engine, App("old", gone.page, "json", "meta.tokens"))
        repo.commit(tokens_json("2.0.0"), when=time.time() - 400)
        monitor.versions.add_source(TokenSource(str(repo.path)))
        cursor = monitor.tick(Cursor()).cursor
        assert sorted(a["details"]["app"] for a in webhook.alerts) == ["old", "web"]
        AppRegistry(engine).remove("old")
        shutil.rmtree(repo.path / ".git")
        fake.serve("2.0.0")
        result = monitor.tick(cursor)
    assert len(result.problems) == 1 and "git log failed" in result.problems[0]
    assert [o.app for o in result.observations] == ["web"]  # the apps were still polled
    assert [(a["severity"], a["details"]["app"]) for a in webhook.alerts[2:]] == [("resolved", "web")]
    assert [r.app for r in monitor.table()] == ["web"]
