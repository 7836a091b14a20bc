"""The secrets sync against a fake GitHub on 127.0.0.1 that decrypts what it receives (SQLite and PostgreSQL)."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from cloudmake_pipelines import logs
from cloudmake_pipelines.db import make_engine
from cloudmake_pipelines.db.migrate import upgrade
from cloudmake_pipelines.db.tables import github_sync_state
from cloudmake_pipelines.db.types import utcnow
from cloudmake_pipelines.github.client import GitHubClient
from cloudmake_pipelines.github.secrets_api import SecretsApi
from cloudmake_pipelines.github.state import SyncStateStore, digest
from cloudmake_pipelines.github.sync import QUOTA_BUCKET, SecretsSync
from cloudmake_pipelines.github.targets import parse_spec
from cloudmake_pipelines.quota import Limit, QuotaService
from tests.support.fake_github_secrets import DictSource, FakeGitHubSecrets, ManualClock

TOKEN = "ghp_" + "Sync7oken" * 5
HMAC_KEY = b"k" * 32
REPO = parse_spec("actions:repo:octo/api")
ENV = parse_spec("actions:env:octo/api:prod eu")
CODESPACES = parse_spec("codespaces:repo:octo/web")
DEPENDABOT_ORG = parse_spec("dependabot:org:octo", visibility="selected", selected_repository_ids=(11, 12))
CODESPACES_ORG = parse_spec("codespaces:org:octo", visibility="private")
ALL = [REPO, ENV, CODESPACES, DEPENDABOT_ORG, CODESPACES_ORG]


@pytest.fixture
def sqlite_engine(sqlite_url):
    """For behaviour that does not depend on the database; storage paths run on both (``engine``)."""
    upgrade(sqlite_url)
    eng = make_engine(sqlite_url)
    yield eng
    eng.dispose()


@pytest.fixture
def github():
    with FakeGitHubSecrets(TOKEN) as fake:
        yield fake, fake.url


def make_sync(engine, base, *, clock=None, token=TOKEN, quota=Limit(5000, 3600), **client_options):
    client_options.setdefault("sleep", lambda s: None)
    client = GitHubClient(token, base, **client_options)
    return SecretsSync(engine, SecretsApi(client), HMAC_KEY, write_quota=quota, clock=clock or utcnow)


VALUES = {"API_KEY": "sk-live-1", "DB_PASSWORD": "pä$$\nwörd", "BIG": "x" * 40_000, "lower_case": "ok"}  # secretscan:allow (test fixture)


def test_values_arrive_intact_everywhere_and_a_second_run_writes_nothing(engine, github):
    fake, base = github
    sync = make_sync(engine, base)
    first = sync.run(ALL, DictSource(VALUES))
    assert first.counts()["created"] == len(ALL) * len(VALUES) and first.counts()["failed"] == 0
    for target in ALL:
        assert {n: fake.value(target.secrets_path, n) for n in VALUES} == VALUES
        assert fake.names(target.secrets_path) == {n.upper() for n in VALUES}
    assert fake.record(DEPENDABOT_ORG.secrets_path, "API_KEY")["selected_repository_ids"] == [11, 12]
    assert fake.record(CODESPACES_ORG.secrets_path, "API_KEY")["visibility"] == "private"
    puts = [r.json() for r in fake.writes() if r.method == "PUT"]
    assert all(set(body) >= {"encrypted_value", "key_id"} for body in puts)
    assert not any(v in json.dumps(puts) for v in VALUES.values() if len(v) > 4)  # only sealed values travel
    fake.requests.clear()
    second = sync.run(ALL, DictSource(VALUES))
    assert second.counts()["skipped"] == len(ALL) * len(VALUES) and second.counts()["synced"] == 0
    assert fake.writes() == [] and second.writes_sent == 0
    assert [r.path for r in fake.requests] == [t.secrets_path.replace("%20", " ") for t in ALL]  # one list each


def test_a_changed_value_writes_exactly_one_secret_and_github_answers_204(sqlite_engine, github):
    fake, base = github
    sync = make_sync(sqlite_engine, base)
    sync.run([REPO, DEPENDABOT_ORG], DictSource(VALUES))
    fake.rotate_key(REPO.secrets_path)  # GitHub rotated the key: the next run must fetch it again
    fake.requests.clear()
    report = sync.run([REPO, DEPENDABOT_ORG], DictSource({**VALUES, "API_KEY": "sk-live-2"}))  # secretscan:allow (test fixture)
    assert [(o.target, o.name, o.action) for o in report.of("created", "updated")] == [
        (REPO.key, "API_KEY", "updated"), (DEPENDABOT_ORG.key, "API_KEY", "updated")]
    assert [w.path for w in fake.writes()] == [REPO.secret_path("API_KEY"), DEPENDABOT_ORG.secret_path("API_KEY")]
    assert fake.value(REPO.secrets_path, "API_KEY") == "sk-live-2"
    # the organization update re-sent the selection, so it was not cleared
    assert fake.record(DEPENDABOT_ORG.secrets_path, "API_KEY")["selected_repository_ids"] == [11, 12]
    wider = parse_spec("dependabot:org:octo", visibility="selected", selected_repository_ids=(11, 12, 13))
    report = sync.run([wider], DictSource(VALUES))
    assert report.counts()["updated"] == len(VALUES)  # the selection is part of the keyed hash
    assert fake.record(wider.secrets_path, "BIG")["selected_repository_ids"] == [11, 12, 13]


def test_change_on_github_is_a_conflict_until_forced(sqlite_engine, github):
    fake, base = github
    sync = make_sync(sqlite_engine, base)
    sync.run([REPO], DictSource(VALUES))
    fake.advance(600)
    fake.set_by_hand(REPO.secrets_path, "API_KEY", "typed-in-the-ui")
    report = sync.run([REPO], DictSource(VALUES))
    assert [(o.name, o.action) for o in report.of("conflict")] == [("API_KEY", "conflict")]
    assert "changed on GitHub" in report.of("conflict")[0].reason and fake.writes()[-1].method == "PUT"
    assert fake.value(REPO.secrets_path, "API_KEY") == "typed-in-the-ui"
    forced = sync.run([REPO], DictSource(VALUES), force=True)
    assert [(o.name, o.action) for o in forced.of("updated")] == [("API_KEY", "updated")]
    assert fake.value(REPO.secrets_path, "API_KEY") == "sk-live-1"
    assert sync.run([REPO], DictSource(VALUES)).counts()["skipped"] == len(VALUES)


def test_secrets_we_did_not_create_are_conflicts_and_never_deleted(sqlite_engine, github):
    fake, base = github
    fake.set_by_hand(REPO.secrets_path, "API_KEY", "theirs")
    fake.set_by_hand(REPO.secrets_path, "THEIR_OWN", "keep me")
    target = parse_spec(REPO.key, delete_orphans=True)
    sync = make_sync(sqlite_engine, base)
    report = sync.run([target], DictSource(VALUES))
    assert [(o.name, o.action) for o in report.of("conflict")] == [("API_KEY", "conflict")]
    assert "not written by this sync" in report.of("conflict")[0].reason
    assert fake.value(REPO.secrets_path, "API_KEY") == "theirs"
    assert fake.value(REPO.secrets_path, "THEIR_OWN") == "keep me" and not report.of("deleted", "orphan")
    sync.run([target], DictSource(VALUES), force=True)  # taken over: now ours to keep in sync
    assert fake.value(REPO.secrets_path, "API_KEY") == "sk-live-1"
    sync.run([target], DictSource({}))
    assert fake.names(REPO.secrets_path) == {"API_KEY", "THEIR_OWN"}  # adopted, not created: never deleted


def test_orphans_are_reported_and_deleted_only_where_enabled(sqlite_engine, github):
    fake, base = github
    sync = make_sync(sqlite_engine, base)
    keep, prune = REPO, parse_spec(CODESPACES.key, delete_orphans=True)
    sync.run([keep, prune], DictSource(VALUES))
    smaller = {k: v for k, v in VALUES.items() if k != "BIG"}
    report = sync.run([keep, prune], DictSource(smaller))
    assert [(o.target, o.action) for o in report.of("orphan", "deleted")] == [(keep.key, "orphan"),
                                                                             (prune.key, "deleted")]
    assert "BIG" in fake.names(keep.secrets_path) and "BIG" not in fake.names(prune.secrets_path)
    assert ("DELETE", prune.secret_path("BIG"), None) in [(w.method, w.path, w.json()) for w in fake.writes()]
    again = sync.run([keep, prune], DictSource(smaller))
    assert [(o.target, o.action) for o in again.of("orphan", "deleted")] == [(keep.key, "orphan")]


def test_exclusions_and_githubs_naming_rules_are_enforced_before_any_request(sqlite_engine, github):
    fake, base = github
    source = DictSource({"GITHUB_TOKEN_COPY": "a", "1ST": "b", "has-dash": "c", "db_url": "d", "DB_URL": "e",
                         "HUGE": "x" * (48 * 1024 + 1), "EMPTY": "", "MASTER_KEY_V1": "root",
                         "CLOUDMAKE_INTERNAL_X": "internal", "TEST_ONLY": "t", "GOOD": "g"})
    target = parse_spec(REPO.key, exclude=("TEST_*",))
    sync = make_sync(sqlite_engine, base)
    report = sync.run([target], source)
    rejected = {o.name: o.reason for o in report.of("rejected")}
    assert set(rejected) == {"GITHUB_TOKEN_COPY", "1ST", "has-dash", "db_url", "DB_URL", "HUGE", "EMPTY"}
    assert "GITHUB_ prefix" in rejected["GITHUB_TOKEN_COPY"] and "start with a digit" in rejected["1ST"]
    assert "letters, digits and underscores" in rejected["has-dash"] and "48 KB" in rejected["HUGE"]
    assert "case-insensitive" in rejected["db_url"]
    assert {o.name for o in report.of("excluded")} == {"MASTER_KEY_V1", "CLOUDMAKE_INTERNAL_X", "TEST_ONLY"}
    assert fake.names(REPO.secrets_path) == {"GOOD"}
    no_defaults = SecretsSync(sqlite_engine, sync.api, HMAC_KEY, exclude=())
    no_defaults.run([REPO], DictSource({"CLOUDMAKE_INTERNAL_X": "internal", "MASTER_KEY_V1": "root"}))
    assert fake.names(REPO.secrets_path) == {"GOOD", "MASTER_KEY_V1"}  # internal names: never


def test_per_target_count_limit(sqlite_engine, github):
    fake, base = github
    fake.set_by_hand(REPO.secrets_path, "SOMEONE_ELSES", "x")
    source = DictSource({f"S{i:03d}": str(i) for i in range(100)})
    report = make_sync(sqlite_engine, base).run([REPO], source)
    assert [(o.name, o.action) for o in report.of("rejected")] == [("S099", "rejected")]
    assert "limit of 100" in report.of("rejected")[0].reason and len(fake.names(REPO.secrets_path)) == 100


def test_quota_exhausted_mid_run_is_deferred_and_resumed(engine, github):
    fake, base = github
    clock = ManualClock()
    sync = make_sync(engine, base, clock=clock, quota=Limit(5, 3600))
    source = DictSource({f"S{i}": f"v{i}" for i in range(8)})
    first = sync.run([REPO], source)
    assert first.counts()["created"] == 5 and first.counts()["deferred"] == 3
    assert all("quota" in o.reason for o in first.of("deferred")) and len(fake.names(REPO.secrets_path)) == 5
    plan = sync.run([REPO], source, dry_run=True)
    assert plan.counts()["deferred"] == 3 and plan.counts()["planned"] == 0
    clock.now += timedelta(minutes=24)  # refills 5000/3600 * ... = 2 tokens at 5 per hour
    second = sync.run([REPO], source)
    assert (second.counts()["created"], second.counts()["deferred"], second.counts()["skipped"]) == (2, 1, 5)
    clock.now += timedelta(hours=1)
    third = sync.run([REPO], source)
    assert (third.counts()["created"], third.counts()["deferred"]) == (1, 0)
    assert {n: fake.value(REPO.secrets_path, n) for n in source.values} == source.values
    row = QuotaService(engine, clock)
    assert row.available(QUOTA_BUCKET, Limit(5, 3600)) == 4


def test_secondary_limit_retry_after_is_honoured(sqlite_engine, github):
    fake, base = github
    fake.fail_next("PUT /secrets/DB_PASSWORD$", 403, headers={"retry-after": "7"},
                   body={"message": "You have exceeded a secondary rate limit"})
    sleeps = []
    report = make_sync(sqlite_engine, base, sleep=sleeps.append).run([REPO], DictSource(VALUES))
    assert sleeps == [7.0] and report.counts()["created"] == len(VALUES)
    assert fake.value(REPO.secrets_path, "DB_PASSWORD") == VALUES["DB_PASSWORD"]


def test_secondary_limit_beyond_patience_defers_the_rest_to_the_next_run(sqlite_engine):
    clock = ManualClock()  # the quota refills with time: a slow machine must not earn tokens mid-test
    with FakeGitHubSecrets(TOKEN, content_limit=(2, 3600)) as fake:
        base = fake.url
        sync = make_sync(sqlite_engine, base, max_wait_seconds=60, clock=clock)
        report = sync.run([REPO, CODESPACES], DictSource(VALUES))
        assert report.counts()["created"] == 2 and report.counts()["deferred"] == 2 * len(VALUES) - 2
        assert report.counts()["failed"] == 0
        assert all("rate limit" in o.reason for o in report.of("deferred"))
        assert len(fake.writes()) == 3  # the third write met the limit; nothing after it was sent
        fake.advance(3600)
        fake.content_limit = None
        resumed = sync.run([REPO, CODESPACES], DictSource(VALUES))
        assert resumed.counts()["created"] == 2 * len(VALUES) - 2 and resumed.counts()["skipped"] == 2
        assert QuotaService(sqlite_engine, clock).available(QUOTA_BUCKET, Limit(5000, 3600)) == 5000 - 2 * len(VALUES)


def test_server_errors_back_off_then_fail_without_losing_what_succeeded(sqlite_engine, github):
    fake, base = github
    fake.fail_next("PUT /secrets/API_KEY$", 502, times=2)
    fake.fail_next("PUT /secrets/DB_PASSWORD$", 500, times=99)
    sleeps = []
    sync = make_sync(sqlite_engine, base, sleep=sleeps.append, max_attempts=3)
    report = sync.run([REPO], DictSource(VALUES))
    assert sleeps == [1.0, 2.0, 1.0, 2.0]  # API_KEY recovered after two 502s; DB_PASSWORD gave up after 3
    assert [(o.name, o.action) for o in report.outcomes] == [
        ("API_KEY", "created"), ("BIG", "created"), ("DB_PASSWORD", "failed"), ("LOWER_CASE", "failed")]
    assert "HTTP 500" in report.of("failed")[0].reason and "not attempted" in report.of("failed")[1].reason
    fake.clear_faults()
    fake.requests.clear()
    again = sync.run([REPO], DictSource(VALUES))
    assert [(o.name, o.action) for o in again.of("created")] == [("DB_PASSWORD", "created"),
                                                               ("LOWER_CASE", "created")]
    assert len(fake.writes()) == 2


class Crash(BaseException):
    """The process dying: not an Exception, so nothing in the sync catches it."""


def test_a_run_killed_mid_way_loses_no_state(engine, github):
    fake, base = github
    sync = make_sync(engine, base)
    source = DictSource({f"S{i}": f"v{i}" for i in range(6)})

    def die_after_three(target, done, total):
        if done == 3:
            raise Crash

    with pytest.raises(Crash):
        sync.run([REPO], source, progress=die_after_three)
    assert len(fake.names(REPO.secrets_path)) == 3
    store = SyncStateStore(engine)
    state = store.load(REPO.key)
    assert sum(1 for s in state.values() if s.digest) == 3
    # the worst moment: S3's attempt was recorded and GitHub accepted it, but the process died before the reply
    store.begin_attempt(REPO.key, "S3", digest(HMAC_KEY, REPO, "v3"), True, fake.now())
    sync.api.put(REPO, "S3", "v3")
    fake.requests.clear()
    report = sync.run([REPO], source)
    assert not report.of("conflict", "failed")
    assert sorted((o.name, o.action) for o in report.of("created", "updated")) == [
        ("S3", "updated"), ("S4", "created"), ("S5", "created")]
    assert report.counts()["skipped"] == 3
    assert sync.run([REPO], source).counts()["skipped"] == 6


def test_dry_run_plans_without_writing_anything(sqlite_engine, github):
    fake, base = github
    sync = make_sync(sqlite_engine, base)
    plan = sync.run(ALL, DictSource(VALUES), dry_run=True)
    assert plan.counts()["planned"] == len(ALL) * len(VALUES) and {o.action for o in plan.outcomes} == {"create"}
    assert fake.writes() == [] and all("public-key" not in r.path for r in fake.requests)
    with sqlite_engine.connect() as conn:
        assert conn.execute(select(github_sync_state)).all() == []
    assert QuotaService(sqlite_engine).available(QUOTA_BUCKET, Limit(5000, 3600)) == 5000


def test_state_keeps_a_keyed_hash_never_the_value(sqlite_engine, github):
    fake, base = github
    make_sync(sqlite_engine, base).run([REPO], DictSource({"API_KEY": "sk-live-1"}))  # secretscan:allow (test fixture)
    with sqlite_engine.connect() as conn:
        row = conn.execute(select(github_sync_state)).one()
    assert row.digest == digest(HMAC_KEY, REPO, "sk-live-1") != digest(b"o" * 32, REPO, "sk-live-1")
    assert "sk-live-1" not in json.dumps([str(v) for v in row])
    assert row.created_by_us and row.remote_updated_at is not None and row.pending_digest is None


def test_token_and_values_never_reach_logs_or_errors(sqlite_engine, github):
    fake, base = github
    stream = io.StringIO()
    logs.configure(stream)
    try:
        wrong = "ghp_" + "Wr0ngT0ken" * 4
        bad = make_sync(sqlite_engine, base, token=wrong).run([REPO], DictSource(VALUES))
        assert bad.counts()["failed"] == 1 and "Bad credentials" in bad.outcomes[-1].reason
        assert wrong not in json.dumps(bad.to_dict())
        fake.fail_next("PUT /secrets/API_KEY$", 422, body={"message": f"echoing {VALUES['API_KEY']} and {TOKEN}"})
        report = make_sync(sqlite_engine, base).run([REPO], DictSource(VALUES))
        assert report.counts()["failed"] == 1
        text = stream.getvalue() + json.dumps(report.to_dict())
    finally:
        logs.configure(io.StringIO())
    assert "github secrets sync finished" in text
    for secret in (wrong, TOKEN, *(v for v in VALUES.values() if len(v) >= 6)):
        assert secret not in text


def test_one_target_failing_does_not_stop_the_others(sqlite_engine, github):
    fake, base = github
    fake.fail_next("GET /codespaces/secrets$", 404, body={"message": "Not Found"})
    fake.fail_next("GET /orgs/octo/dependabot/secrets$", 403, headers={"retry-after": "3600"},
                   body={"message": "You have exceeded a secondary rate limit"})
    report = make_sync(sqlite_engine, base).run([CODESPACES, DEPENDABOT_ORG, REPO], DictSource(VALUES))
    assert [(o.target, o.name, o.action) for o in report.outcomes if o.name == "*"] == [
        (CODESPACES.key, "*", "failed"), (DEPENDABOT_ORG.key, "*", "deferred")]
    assert "HTTP 404" in report.outcomes[0].reason
    assert report.counts()["created"] == len(VALUES) and fake.names(REPO.secrets_path) == {n.upper() for n in VALUES}


def test_an_edit_on_github_during_the_sync_is_a_conflict_now_and_in_the_check(engine, github):
    fake, base = github
    sync = make_sync(engine, base)

    def someone_edits_api_key(target, done, total):
        if done == 1:  # between our write of API_KEY and the listing that follows the target's writes
            fake.advance(10)
            fake.set_by_hand(REPO.secrets_path, "API_KEY", "typed-during-the-sync")

    report = sync.run([REPO], DictSource(VALUES), progress=someone_edits_api_key)
    assert [(o.name, o.action) for o in report.of("conflict")] == [("API_KEY", "conflict")]
    assert "during this sync" in report.of("conflict")[0].reason
    assert report.counts()["created"] == len(VALUES) - 1
    check = sync.run([REPO], DictSource(VALUES), dry_run=True)  # what `github check` (SC-005) runs
    assert [(o.name, o.action) for o in check.out_of_sync] == [("API_KEY", "conflict")]
    again = sync.run([REPO], DictSource(VALUES))
    assert [(o.name, o.action) for o in again.of("conflict")] == [("API_KEY", "conflict")]
    assert fake.value(REPO.secrets_path, "API_KEY") == "typed-during-the-sync"
    assert sync.run([REPO], DictSource(VALUES), force=True).counts()["updated"] == 1
    assert fake.value(REPO.secrets_path, "API_KEY") == VALUES["API_KEY"]
    assert sync.run([REPO], DictSource(VALUES), dry_run=True).out_of_sync == []


def test_an_edit_minutes_after_a_killed_runs_interrupted_write_is_a_conflict(engine, github):
    fake, base = github
    sync = make_sync(engine, base)
    sync.run([REPO], DictSource(VALUES))
    changed = {**VALUES, "API_KEY": "sk-live-2"}  # secretscan:allow (test fixture)
    # a run died while GitHub applied API_KEY's write: the attempt was recorded, the reply never was
    SyncStateStore(engine).begin_attempt(REPO.key, "API_KEY", digest(HMAC_KEY, REPO, "sk-live-2"), False,
                                         fake.now())
    sync.api.put(REPO, "API_KEY", "sk-live-2")  # secretscan:allow (test fixture)
    fake.advance(180)
    fake.set_by_hand(REPO.secrets_path, "API_KEY", "typed-three-minutes-later")
    fake.requests.clear()
    report = sync.run([REPO], DictSource(changed))
    assert [(o.name, o.action) for o in report.of("conflict")] == [("API_KEY", "conflict")]
    assert fake.writes() == [] and fake.value(REPO.secrets_path, "API_KEY") == "typed-three-minutes-later"


def test_a_write_that_landed_but_lost_its_reply_is_ours_on_the_next_sync(engine, github):
    fake, base = github
    fake.lose_replies("API_KEY", 502, times=3)  # applied every time, answered 502 every time
    sync = make_sync(engine, base, max_attempts=3)
    first = sync.run([REPO], DictSource(VALUES))
    assert [(o.name, o.action) for o in first.of("failed")][0] == ("API_KEY", "failed")
    assert "HTTP 502" in first.of("failed")[0].reason and not first.of("conflict")
    assert fake.value(REPO.secrets_path, "API_KEY") == VALUES["API_KEY"]
    fake.advance(60)
    second = sync.run([REPO], DictSource(VALUES))
    assert not second.of("conflict", "failed")
    assert {o.name for o in second.of("created")} == {"BIG", "DB_PASSWORD", "LOWER_CASE"}
    assert "API_KEY" not in {o.name for o in second.of("created", "updated")}  # known to be ours: not rewritten
    assert sync.run([REPO], DictSource(VALUES), dry_run=True).out_of_sync == []


def test_migration_0011_gives_rows_of_earlier_runs_a_window_from_their_own_times(db_url):
    from sqlalchemy import text

    upgrade(db_url, target="0009_github_sync")
    eng = make_engine(db_url)
    t = utcnow().replace(microsecond=0)
    with eng.begin() as conn:
        conn.execute(text("INSERT INTO github_sync_state (target_key, secret_name, digest, written_at, "
                          "remote_updated_at, created_by_us, pending_digest, pending_at) VALUES "
                          "('t', 'UNLISTED', 'd1', :t, NULL, true, NULL, NULL), "
                          "('t', 'SETTLED', 'd2', :t, :t, true, NULL, NULL), "
                          "('t', 'PENDING', NULL, NULL, NULL, true, 'd3', :t)"), {"t": t})
    upgrade(db_url)
    state = SyncStateStore(eng).load("t")
    eng.dispose()
    assert (state["UNLISTED"].attempt_sent_at, state["UNLISTED"].attempt_replied_at) == (t, t)
    assert (state["SETTLED"].attempt_sent_at, state["SETTLED"].attempt_replied_at) == (None, None)
    assert (state["PENDING"].attempt_sent_at, state["PENDING"].attempt_replied_at) == (t, None)
