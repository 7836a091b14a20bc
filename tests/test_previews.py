"""Preview archival on SQLite and PostgreSQL: what is archived when, overlapping runs, cleanup, metrics."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, insert, select, text, update

from cloudmake_pipelines.alerts import Alerter
from cloudmake_pipelines.db import make_engine
from cloudmake_pipelines.db.tables import environments as env
from cloudmake_pipelines.db.tables import preview_archival_runs
from cloudmake_pipelines.previews import (
    Archiver,
    DatabaseClock,
    ManualClock,
    NeonBranchProvider,
    NeonClient,
    last_run,
    neon_provider,
)
from cloudmake_pipelines.previews.archive import archive_expired
from cloudmake_pipelines.previews.cleanup import Cleaner, holds_any
from tests.support.fake_neon import API_KEY, FakeNeon
from tests.support.fake_pushgateway import FakePushgateway
from tests.support.fakes import ANY
from tests.support.webhook import WebhookReceiver

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def _env(id, *, kind="preview", created=T0 - timedelta(hours=1), ttl=None, branch=None, project="proj-1"):
    return {"id": id, "name": f"pr-{id}", "kind": kind, "created_at": created, "ttl_expires_at": ttl,
            "neon_branch_id": branch, "neon_project_id": project if branch else None}


def _add(engine, *rows):
    with engine.begin() as conn:
        for row in rows:
            conn.execute(insert(env).values(**row))


def _state(engine) -> dict[str, tuple]:
    with engine.connect() as conn:
        return {r.id: (r.kind, r.archived_at, r.cleanup_status, r.cleanup_attempts)
                for r in conn.execute(select(env).order_by(env.c.id))}


def _no_neon() -> list:
    return [neon_provider(None)]


def test_expired_missing_ttl_and_time_travel(engine):
    clock = ManualClock(T0)
    _add(engine,
         _env("ttl-past", ttl=T0 - timedelta(seconds=1)),
         _env("ttl-future", ttl=T0 + timedelta(hours=1)),
         _env("no-ttl-73h", created=T0 - timedelta(hours=73)),
         _env("no-ttl-71h", created=T0 - timedelta(hours=71)),
         _env("ttl-overrides-age", created=T0 - timedelta(hours=200), ttl=T0 + timedelta(hours=5)),
         _env("prod", kind="production", created=T0 - timedelta(days=400), ttl=T0 - timedelta(days=1)),
         {**_env("old", kind="archived", ttl=T0 - timedelta(days=3)), "archived_at": T0 - timedelta(days=2)})
    archiver = Archiver(engine, _no_neon(), clock=clock)

    first = archiver.run()
    assert first.archived == ["no-ttl-73h", "ttl-past"]
    state = _state(engine)
    assert state["ttl-past"] == ("archived", T0, "no_resources", 0)
    assert state["old"][1] == T0 - timedelta(days=2), "an already archived environment is left alone"
    assert state["prod"][0] == "production"
    assert first.active == 3 and first.expired_remaining == 0 and first.cleanup_backlog == 0

    second = archiver.run()
    assert second.archived == [] and _state(engine) == state, "a second run archives nothing"

    clock.advance(timedelta(hours=1, minutes=1))  # the 71 h one passes 72 h, ttl-future passes its TTL
    assert archiver.run().archived == ["no-ttl-71h", "ttl-future"]
    clock.advance(timedelta(hours=4))
    assert archiver.run().archived == ["ttl-overrides-age"]
    assert _state(engine)["ttl-overrides-age"][1] == clock.now
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(preview_archival_runs)).scalar_one() == 4


def test_database_clock_is_the_default(engine):
    with engine.connect() as conn:
        db_now = conn.execute(select(DatabaseClock().at(conn.dialect.name))).scalar_one()
    assert abs((db_now - datetime.now(UTC)).total_seconds()) < 60
    _add(engine, _env("gone", ttl=db_now - timedelta(minutes=5)), _env("stays", ttl=db_now + timedelta(hours=1)),
         _env("old", created=db_now - timedelta(hours=72, minutes=5)))
    report = Archiver(engine, _no_neon()).run()
    assert report.archived == ["gone", "old"]
    archived_at = _state(engine)["gone"][1]
    assert archived_at.tzinfo is not None and abs((archived_at - db_now).total_seconds()) < 60
    assert report.as_of <= archived_at + timedelta(milliseconds=5)


def test_dry_run_changes_nothing(engine):
    clock = ManualClock(T0)
    _add(engine, _env("a", ttl=T0 - timedelta(hours=1), branch="br-a"), _env("b"),
         _env("c", created=T0 - timedelta(hours=80)))
    before = _state(engine)
    report = Archiver(engine, _no_neon(), clock=clock).dry_run()
    assert [row.id for row in report.would_archive] == ["a", "c"]
    assert report.would_archive[1].expires_at == T0 - timedelta(hours=8)
    assert report.active == 3 and report.as_of == T0
    assert _state(engine) == before
    assert last_run(engine) is None


def _wait_for_lock_waiter(engine, timeout=10.0) -> None:
    """PostgreSQL: until a session waits on a row lock. SQLite cannot tell: a short pause instead."""
    if engine.dialect.name != "postgresql":
        time.sleep(0.5)
        return
    deadline = time.monotonic() + timeout
    with engine.connect() as conn:
        while time.monotonic() < deadline:
            waiting = conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                        "AND datname = current_database()")).scalar_one()
            if waiting:
                return
            conn.rollback()
            time.sleep(0.02)
    raise AssertionError("the second run never waited for the first")


def test_overlapping_runs_archive_each_environment_exactly_once(engine, db_url):
    clock = ManualClock(T0)
    ids = [f"env-{i:04d}" for i in range(300)]
    with engine.begin() as conn:
        conn.execute(insert(env), [_env(i, ttl=T0 - timedelta(minutes=1)) for i in ids])
    # Run A archives inside a transaction it keeps open; run B starts meanwhile and must wait for it.
    other = make_engine(db_url)
    results: dict[str, list[str]] = {}
    with engine.connect() as conn_a:
        conn_a.begin()
        results["a"] = archive_expired(conn_a, clock, holds_any(_no_neon()))
        runner = threading.Thread(target=lambda: results.setdefault(
            "b", Archiver(other, _no_neon(), clock=clock).run().archived))
        runner.start()
        _wait_for_lock_waiter(engine)
        conn_a.commit()
    runner.join(timeout=60)
    assert results["a"] == ids and results["b"] == [], "B saw A's work and archived nothing twice"

    # Truly parallel runs on a fresh set: disjoint results whose union is everything.
    more = [f"par-{i:04d}" for i in range(500)]
    with engine.begin() as conn:
        conn.execute(insert(env), [_env(i, ttl=T0 - timedelta(minutes=1)) for i in more])
    barrier, found = threading.Barrier(2), []

    def run(engine_):
        barrier.wait()
        found.append(Archiver(engine_, _no_neon(), clock=clock).run().archived)

    threads = [threading.Thread(target=run, args=(e,)) for e in (engine, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(found) == 2 and not set(found[0]) & set(found[1]) and sorted(found[0] + found[1]) == more
    other.dispose()


def _neon(url, **kwargs) -> NeonBranchProvider:
    return NeonBranchProvider(NeonClient(API_KEY, url, backoff_seconds=0.01, max_backoff_seconds=0.05,
                                         max_attempts=3, **kwargs))


def test_cleanup_frees_branches_and_retries_failures_next_run(engine):
    clock = ManualClock(T0)
    expired = T0 - timedelta(minutes=1)
    _add(engine, _env("ok", ttl=expired, branch="br-ok"), _env("gone", ttl=expired, branch="br-gone"),
         _env("flaky", ttl=expired, branch="br-flaky"), _env("limited", ttl=expired, branch="br-limited"),
         _env("plain", ttl=expired), _env("active", ttl=T0 + timedelta(hours=1), branch="br-active"))
    with FakeNeon() as neon:
        url = neon.api_url
        for branch in ("br-ok", "br-flaky", "br-limited", "br-active"):
            neon.add_branch("proj-1", branch)
        neon.fail_next("/branches/br-flaky$", 500, times=3)  # every attempt of this run fails
        neon.fail_next("/branches/br-limited$", 429, headers={"Retry-After": "1"})
        archiver = Archiver(engine, [_neon(url)], clock=clock)

        first = archiver.run()
        assert first.archived == ["flaky", "gone", "limited", "ok", "plain"]
        assert first.cleanup.counts() == {"freed": 2, "already_gone": 1, "nothing": 0, "failed": 1, "retried": 0}
        assert sorted(first.cleanup.freed) == ["limited", "ok"] and first.cleanup.already_gone == ["gone"]
        assert "HTTP 500" in first.cleanup.failed["flaky"]
        assert first.cleanup_backlog == 1
        state = _state(engine)
        assert state["flaky"][0] == "archived" and state["flaky"][2:] == ("failed", 1), "never un-archived"
        assert state["plain"][2] == "no_resources" and state["ok"][2] == "freed" and state["gone"][2] == "already_gone"
        limited = neon.deletes("br-limited")
        assert [r.status for r in limited] == [429, 200] and limited[1].at - limited[0].at >= 0.95, \
            "the Retry-After wait was honoured"
        assert len(neon.deletes("br-flaky")) == 3 and ("proj-1", "br-active") in neon.branches

        second = archiver.run()
        assert second.archived == [] and second.cleanup.freed == ["flaky"] and second.cleanup.retried == ["flaky"]
        assert _state(engine)["flaky"][2:] == ("freed", 2) and second.cleanup_backlog == 0
        assert set(neon.branches) == {("proj-1", "br-active")}
        third = archiver.run()
        assert third.cleanup.counts()["freed"] == 0 and len(neon.deletes()) == 8, "nothing is deleted twice"


def test_overlapping_cleanups_delete_each_branch_once(engine, db_url):
    clock = ManualClock(T0)
    ids = [f"e{i:02d}" for i in range(12)]
    _add(engine, *[_env(i, ttl=T0 - timedelta(minutes=1), branch=f"br-{i}") for i in ids])
    with engine.begin() as conn:
        archive_expired(conn, clock, holds_any(_no_neon()))
    other = make_engine(db_url)
    with FakeNeon() as neon:
        url = neon.api_url
        neon.delay_next(ANY, 0.05, times=None)
        for i in ids:
            neon.add_branch("proj-1", f"br-{i}")
        barrier, summaries = threading.Barrier(2), []

        def clean(engine_):
            barrier.wait()
            summaries.append(Cleaner(engine_, [_neon(url)], clock, batch_size=2).run())

        threads = [threading.Thread(target=clean, args=(e,)) for e in (engine, other)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    other.dispose()
    freed = [s.freed for s in summaries]
    assert len(freed) == 2 and all(freed) and sorted(freed[0] + freed[1]) == ids, "both worked, none twice"
    assert len(neon.deletes()) == 12 and not neon.branches


def test_missing_or_rejected_key_keeps_the_backlog_without_hammering_neon(engine):
    clock = ManualClock(T0)
    _add(engine, *[_env(f"e{i}", ttl=T0 - timedelta(minutes=1), branch=f"br-{i}") for i in range(3)])
    report = Archiver(engine, _no_neon(), clock=clock).run()
    assert len(report.archived) == 3 and all("NEON_API_KEY is not set" in r for r in report.cleanup.failed.values())
    with FakeNeon() as neon:
        url = neon.api_url
        for i in range(3):
            neon.add_branch("proj-1", f"br-{i}")
        wrong = NeonBranchProvider(NeonClient("not-the-key-at-all", url, max_attempts=3))
        rejected = Archiver(engine, [wrong], clock=clock).run()
        assert len(rejected.cleanup.failed) == 3 and len(neon.requests) == 1, "one 401, then no more calls"
        assert "401" in rejected.cleanup.failed["e0"] and "not-the-key-at-all" not in str(rejected.as_dict())
        fixed = Archiver(engine, [_neon(url)], clock=clock).run()
        assert sorted(fixed.cleanup.freed) == ["e0", "e1", "e2"] and fixed.cleanup.retried == ["e0", "e1", "e2"]
        assert _state(engine)["e0"][3] == 3


def test_a_run_killed_midway_is_finished_by_the_next(engine):
    clock = ManualClock(T0)
    _add(engine, _env("a", ttl=T0 - timedelta(minutes=1), branch="br-a"),
         _env("b", ttl=T0 - timedelta(minutes=1), branch="br-b"))
    with FakeNeon() as neon:
        url = neon.api_url
        neon.add_branch("proj-1", "br-a")
        neon.add_branch("proj-1", "br-b")
        # Killed after archiving (the archive transaction committed, no cleanup happened) ...
        with engine.begin() as conn:
            archive_expired(conn, clock, holds_any([_neon(url)]))
        # ... and a second run killed after claiming "a" for cleanup (its lease is held).
        Cleaner(engine, [_neon(url)], clock)._claim(1, [])
        resumed = Archiver(engine, [_neon(url)], clock=clock).run()
        assert resumed.archived == [] and resumed.cleanup.freed == ["b"], "a's lease has not expired yet"
        clock.advance(timedelta(minutes=11))
        later = Archiver(engine, [_neon(url)], clock=clock).run()
        assert later.cleanup.freed == ["a"] and later.cleanup_backlog == 0 and not neon.branches


def test_cleanup_is_bounded_per_run(engine):
    clock = ManualClock(T0)
    _add(engine, *[_env(f"e{i}", ttl=T0 - timedelta(minutes=1), branch=f"br-{i}") for i in range(5)])
    with FakeNeon() as neon:
        url = neon.api_url
        for i in range(5):
            neon.add_branch("proj-1", f"br-{i}")
        archiver = Archiver(engine, [_neon(url)], clock=clock, cleanup_limit=3)
        first = archiver.run()
        assert len(first.archived) == 5 and len(first.cleanup.freed) == 3 and first.cleanup.stopped_early
        assert first.cleanup_backlog == 2
        second = archiver.run()
        assert len(second.cleanup.freed) == 2 and not second.cleanup.stopped_early and not neon.branches


def test_gauge_is_counted_in_the_database_and_pushed(engine):
    clock = ManualClock(T0)
    _add(engine, _env("a", ttl=T0 - timedelta(minutes=1)), _env("b"), _env("c"))
    with FakePushgateway() as gateway:
        url = gateway.url
        report = Archiver(engine, _no_neon(), clock=clock, pushgateway_url=url, environment="staging").run()
        assert report.metrics_pushed is True and report.active == 2
        push = gateway.pushes[-1]
        method, path, body = push.method, push.path, push.text
        assert method == "PUT" and path == "/metrics/job/cloudmake_preview_archival/environment/staging"
        values = {s.name: s.value for family in text_string_to_metric_families(body) for s in family.samples}
        assert values["preview_env_active_total"] == 2 and values["preview_env_archived_last_run"] == 1
        assert values["preview_env_cleanup_backlog"] == 0
        # A preview created outside any run is counted by the next push: the gauge cannot drift.
        _add(engine, _env("d"))
        Archiver(engine, _no_neon(), clock=clock, pushgateway_url=url).run()
        values = {s.name: s.value for f in text_string_to_metric_families(gateway.pushes[-1].text) for s in f.samples}
        assert values["preview_env_active_total"] == 3
        gateway.fail_next(ANY, 500, times=None)
        failed = Archiver(engine, _no_neon(), clock=clock, pushgateway_url=url).run()
        assert failed.metrics_pushed is False and last_run(engine)["active_after"] == 3


def test_a_pushgateway_hiccup_is_retried_as_it_asks(engine):
    _add(engine, _env("a"))
    with FakePushgateway() as gw:
        gw.fail_next(ANY, 503, headers={"retry-after": "1"})
        report = Archiver(engine, _no_neon(), clock=ManualClock(T0), pushgateway_url=gw.url).run()
    arrivals = [r.at for r in gw.requests]
    assert report.metrics_pushed is True and len(arrivals) == 2 and arrivals[1] - arrivals[0] >= 0.95


def test_a_recent_run_makes_an_unforced_run_skip(engine):
    clock = ManualClock(T0)
    archiver = Archiver(engine, _no_neon(), clock=clock)
    assert archiver.run(skip_if_ran_within=timedelta(hours=6)).skipped is None
    _add(engine, _env("a", ttl=T0 + timedelta(minutes=30)))
    clock.advance(timedelta(hours=1))
    skipped = archiver.run(skip_if_ran_within=timedelta(hours=6))
    assert skipped.skipped and "--force" in skipped.skipped and _state(engine)["a"][0] == "preview"
    assert archiver.run().archived == ["a"], "forced"
    clock.advance(timedelta(hours=6, seconds=1))
    assert archiver.run(skip_if_ran_within=timedelta(hours=6)).skipped is None


def test_a_skipped_run_reports_the_previews_it_saw(engine):
    """A skipped run says how many previews are active (and expired), not zeros."""
    clock = ManualClock(T0)
    archiver = Archiver(engine, _no_neon(), clock=clock)
    archiver.run()
    _add(engine, _env("a", ttl=T0 + timedelta(minutes=30)), _env("b", ttl=T0 + timedelta(days=2)))
    clock.advance(timedelta(hours=1))
    skipped = archiver.run(skip_if_ran_within=timedelta(hours=6))
    assert skipped.skipped
    assert skipped.as_dict()["active"] == 2 and skipped.expired_remaining == 1 and skipped.cleanup_backlog == 0


def test_failed_cleanups_alert_after_three_attempts(engine):
    clock = ManualClock(T0)
    _add(engine, _env("a", ttl=T0 - timedelta(minutes=1), branch="br-a"))
    with WebhookReceiver() as hook:
        archiver = Archiver(engine, _no_neon(), clock=clock, alerter=Alerter(hook.url_for()))
        archiver.run()
        archiver.run()
        assert hook.alerts == []
        archiver.run()
    sent = hook.alerts
    assert len(sent) == 1 and sent[0]["key"] == "preview-cleanup-stuck" and "a" in sent[0]["details"]["failures"]


@pytest.mark.postgres
def test_postgres_indexes_are_partial(pg_engine):
    with pg_engine.connect() as conn:
        defs = dict(conn.execute(text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'environments'")).all())
    assert "WHERE ((kind)::text = 'preview'::text)" in defs["ix_environments_ttl_expires_at_created_at"]
    assert "cleanup_status" in defs["ix_environments_cleanup_status"].split("WHERE")[1]
    assert "ix_environments_kind_ttl_expires_at" not in defs, "replaced by the partial index"
    with pg_engine.connect() as conn:
        options = conn.execute(text("SELECT reloptions FROM pg_class WHERE relname = 'environments'")).scalar_one()
    assert "autovacuum_vacuum_scale_factor=0.01" in options


@pytest.mark.postgres
def test_archival_statement_can_use_the_partial_expiry_index(pg_engine):
    """Its ``kind = 'preview'`` must reach the planner as a literal, or the partial index is unusable."""
    from cloudmake_pipelines.previews.archive import expired

    with pg_engine.begin() as conn:
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        query = update(env).where(expired("postgresql", DatabaseClock().at("postgresql"))).values(kind="archived")
        compiled = query.compile(conn, compile_kwargs={"literal_binds": True})
        plan = " ".join(r[0] for r in conn.execute(text(f"EXPLAIN {compiled}")))
    assert "ix_environments_ttl_expires_at_created_at" in plan
