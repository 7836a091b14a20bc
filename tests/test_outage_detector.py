"""The mcp_outage_detector sensor, tick by tick, on SQLite and PostgreSQL, with a real webhook receiver."""

import io
import json

import dagster as dg
import pytest
from sqlalchemy import insert, select, update

from cloudmake_pipelines import logs
from cloudmake_pipelines.db import make_engine
from cloudmake_pipelines.db.migrate import upgrade
from cloudmake_pipelines.db.tables import (
    alert_outbox,
    mcp_breaker_transitions,
    mcp_degradation_status,
    mcp_outage_episodes,
)
from cloudmake_pipelines.outages import BreakerStore, Cursor, DatabaseSource, OutageConfig, OutageDetector
from cloudmake_pipelines.outages.http_api import breaker_api
from tests.support import outages as support
from tests.support.outages import OUTAGES_REVISION, Harness, at
from tests.support.servers import free_port, serve_asgi

dagster_instance, inbox = support.dagster_instance, support.inbox  # fixtures


@pytest.fixture
def store(engine):
    return BreakerStore(engine)


@pytest.fixture
def harness(engine, db_url, dagster_instance, inbox):
    return Harness(db_url, dagster_instance, inbox)


@pytest.fixture
def sqlite_only(request):
    """Detection logic that storage does not change: run it on SQLite only (the rest runs on both)."""
    if request.getfixturevalue("db_url").startswith("postgresql"):
        pytest.skip("storage-independent logic, covered on SQLite")


def episodes(engine):
    with engine.connect() as conn:
        return conn.execute(select(mcp_outage_episodes).order_by(mcp_outage_episodes.c.id)).all()


def status_of(engine, server):
    with engine.connect() as conn:
        return conn.execute(select(mcp_degradation_status).where(
            mcp_degradation_status.c.server_name == server)).one()


def test_outage_alerts_once_then_resolves_with_its_duration(harness, store, engine):
    harness.tick(at(0))
    store.set_state("alpha", "open", failure_count=5, at=at(10))
    data, sent = harness.tick(at(60))
    assert sent == [] and "0 notification(s) due" in data.skip_message  # 50 s out: under the 90 s threshold
    assert status_of(engine, "alpha").status == "degraded"

    data, sent = harness.tick(at(360))
    assert [a["severity"] for a in sent] == ["error"]
    alert = sent[0]
    assert alert["key"] == "mcp_outage:alpha:2026-11-29T08:00:10+00:00"
    assert alert["details"]["degraded_seconds"] == 350.0 and alert["details"]["peak_failure_count"] == 5
    assert "degraded for 5m 50s" in alert["summary"]

    store.set_state("alpha", "half_open", failure_count=5, at=at(400))
    data, sent = harness.tick(at(660))  # still out of CLOSED: the same episode, no second alert
    assert sent == [] and "0 notification(s) due" in data.skip_message

    store.set_state("alpha", "closed", failure_count=0, at=at(700))
    _, sent = harness.tick(at(960))  # closed 260 s ago: inside the 300 s flap window, not final yet
    assert sent == [] and status_of(engine, "alpha").status == "recovering"
    _, sent = harness.tick(at(1260))
    assert [a["severity"] for a in sent] == ["resolved"]
    assert sent[0]["key"] == alert["key"] and sent[0]["details"]["degraded_seconds"] == 690.0
    assert "the outage lasted 11m 30s" in sent[0]["summary"]
    _, sent = harness.tick(at(1560))
    assert sent == []

    (episode,) = episodes(engine)
    assert episode.alerted_at and episode.resolved_notified_at and episode.transition_count == 3
    status = status_of(engine, "alpha")
    assert status.status == "operational" and status.degraded_since is None and status.breaker_state == "closed"


def test_a_short_blip_does_not_alert(sqlite_only, harness, store, engine):
    harness.tick(at(0))
    store.set_state("alpha", "open", failure_count=5, at=at(10))
    store.set_state("alpha", "closed", failure_count=0, at=at(70))
    for second in (300, 600, 900):
        _, sent = harness.tick(at(second))
        assert sent == []
    (episode,) = episodes(engine)
    assert episode.resolved_at is not None and episode.alerted_at is None


def test_an_outage_between_two_ticks_is_still_reported(harness, store, engine):
    harness.tick(at(0))
    store.set_state("alpha", "open", failure_count=9, at=at(20))
    store.set_state("alpha", "closed", failure_count=0, at=at(200))  # 180 s out, all between two ticks
    _, sent = harness.tick(at(300))
    assert len(sent) == 1 and "degraded for 3m 00s (recovered since" in sent[0]["summary"]
    _, sent = harness.tick(at(600))
    assert [a["severity"] for a in sent] == ["resolved"] and sent[0]["details"]["degraded_seconds"] == 180.0


def test_flapping_is_one_episode_with_one_alert_and_one_resolution(harness, store, engine):
    harness.tick(at(0))
    for start in range(0, 240, 40):  # open 10 s, closed 30 s, six times
        store.set_state("alpha", "open", failure_count=5, at=at(start + 1))
        store.set_state("alpha", "closed", failure_count=0, at=at(start + 11))
    _, sent = harness.tick(at(300))
    assert len(sent) == 1 and "flapping: reopened 5 time(s)" in sent[0]["summary"]
    _, sent = harness.tick(at(600))
    assert [a["severity"] for a in sent] == ["resolved"]
    (episode,) = episodes(engine)
    assert episode.reopen_count == 5 and episode.transition_count == 12


def test_a_reopen_after_the_flap_window_is_a_new_episode(sqlite_only, harness, store, engine):
    harness.tick(at(0))
    store.set_state("alpha", "open", failure_count=5, at=at(10))
    store.set_state("alpha", "closed", failure_count=0, at=at(150))
    store.set_state("alpha", "open", failure_count=5, at=at(500))  # 350 s after the close
    _, sent = harness.tick(at(700))
    assert sorted(a["key"] for a in sent) == ["mcp_outage:alpha:2026-11-29T08:00:10+00:00",
                                              "mcp_outage:alpha:2026-11-29T08:08:20+00:00"]
    first, second = episodes(engine)
    assert first.resolved_at is not None and second.resolved_at is None


def test_a_thousand_servers_in_one_tick(harness, store, engine):
    harness.tick(at(0))
    with engine.begin() as conn:  # as a gateway writes them: one batch
        conn.execute(insert(mcp_breaker_transitions), [
            {"server_name": f"srv-{i:04d}", "from_state": "closed", "to_state": "open", "failure_count": i % 7,
             "occurred_at": at(10), "source": "gateway"} for i in range(1000)])
    data = harness.evaluate(at(200), harness.cursor)
    keys = set(outbox(engine))
    assert len(keys) == 1000 and "mcp_outage:srv-0999:2026-11-29T08:00:10+00:00:opened" in keys
    assert harness.received == [] and "1000 notification(s) due" in data.skip_message  # stored, POSTed by delivery
    assert json.loads(data.cursor)["after"] >= 1000
    with engine.connect() as conn:
        statuses = conn.execute(select(mcp_degradation_status.c.status)).scalars().all()
    assert statuses.count("degraded") == 1000
    for _ in range(5):  # one delivery tick takes them all unless its 30 s budget runs out on a loaded machine
        harness.deliver()
        if all(row.delivered_at for row in outbox(engine).values()):
            break
    assert all(row.delivered_at for row in outbox(engine).values())
    assert sorted(a["idempotency_key"] for a in harness.received) == sorted(keys)  # each once


def test_unreachable_http_source_skips_the_tick_and_the_next_catches_up(sqlite_only, harness, store, engine):
    port = free_port()
    harness.detection = {"endpoint_url": f"http://127.0.0.1:{port}"}
    store.set_state("alpha", "open", failure_count=5, at=at(10))
    data, _ = harness.tick(at(200))
    assert "unreachable (ConnectError)" in data.skip_message and "next tick catches up" in data.skip_message
    assert harness.cursor is None
    with serve_asgi(breaker_api(store), port=port):
        data, sent = harness.tick(at(500))
    assert len(sent) == 1 and sent[0]["details"]["started_at"] == "2026-11-29T08:00:10+00:00"
    assert json.loads(harness.cursor)["after"] == 1


def test_unreachable_database_skips_the_tick(dagster_instance, inbox):
    down = Harness(f"postgresql://postgres@127.0.0.1:{free_port()}/nothing", dagster_instance, inbox)
    data, sent = down.tick(at(0))
    assert data.skip_message.startswith("skipped: database unreachable") and sent == []


def test_the_cursor_resumes_after_a_crash(harness, store, engine):
    harness.tick(at(0))
    old_cursor = harness.cursor
    store.set_state("alpha", "open", failure_count=5, at=at(10))
    store.set_state("alpha", "half_open", failure_count=5, at=at(40))
    crashed = harness.evaluate(at(300), old_cursor)  # the tick ran, but its cursor was not kept
    again = harness.evaluate(at(300), old_cursor)
    assert "1 notification(s) due" in crashed.skip_message and "0 notification(s) due" in again.skip_message
    (episode,) = episodes(engine)
    assert episode.transition_count == 2  # applied once, not twice
    harness.deliver()
    assert len(harness.received) == 1
    lost = harness.evaluate(at(600), None)  # the cursor itself lost: resumes after the last applied
    assert Cursor.loads(lost.cursor).after == 2 and "0 notification(s) due" in lost.skip_message
    harness.deliver()
    assert len(harness.received) == 1 and list(outbox(engine)) == [f"{episode_key(episode)}:opened"]


@pytest.mark.postgres
def test_a_transition_committed_late_on_postgres_is_not_missed(pg_url):
    upgrade(pg_url, target=OUTAGES_REVISION)
    pg_engine = make_engine(pg_url)
    store = BreakerStore(pg_engine)
    detector = OutageDetector(DatabaseSource(pg_engine), pg_engine, OutageConfig())
    cursor = detector.tick(None, at(0)).cursor
    with pg_engine.connect() as slow:  # takes id 1, commits after id 2
        slow.execute(insert(mcp_breaker_transitions).values(
            server_name="late", from_state="closed", to_state="open", failure_count=3, occurred_at=at(5),
            source="gateway"))
        store.set_state("early", "open", failure_count=3, at=at(6))
        first = detector.tick(cursor, at(10))
        assert first.applied == 1 and first.cursor.waiting.keys() == {1}
        slow.commit()
    second = detector.tick(first.cursor, at(300))
    assert second.applied == 1 and second.cursor.waiting == {}
    assert sorted(n.server for n in second.notifications) == ["early", "late"]


def test_a_backlog_is_caught_up_over_ticks_without_premature_alerts(sqlite_only, engine, store):
    for i in range(3):
        store.set_state("alpha", "open" if i % 2 == 0 else "closed", failure_count=1, at=at(i))
    detector = OutageDetector(DatabaseSource(engine), engine, OutageConfig(batch_size=2, max_transitions_per_tick=2))
    first = detector.tick(Cursor(), at(1000))
    assert first.applied == 2 and not first.caught_up and first.notifications == []
    assert "more transitions pending" in first.summary
    second = detector.tick(first.cursor, at(1000))
    assert second.caught_up and second.cursor.after == 3 and len(second.notifications) == 1


def test_each_tick_logs_transitions_and_failure_counts_as_pino_json(sqlite_only, engine, store):
    stream = io.StringIO()
    logs.configure(stream)
    try:
        store.set_state("alpha", "open", failure_count=6, at=at(1))
        store.set_state("alpha", "half_open", failure_count=6, at=at(31))
        OutageDetector(DatabaseSource(engine), engine).tick(Cursor(), at(60))
    finally:
        logs.configure(io.StringIO())
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    per_server = next(line for line in lines if line.get("server") == "alpha")
    assert per_server["level"] == 30 and per_server["task"] == "mcp_outage_detector"
    assert per_server["failure_count"] == 6
    assert [(t["from"], t["to"]) for t in per_server["transitions"]] == [("closed", "open"), ("open", "half_open")]
    tick = next(line for line in lines if line["msg"] == "outage detector tick")
    assert tick["transitions"] == 2 and tick["degraded"] == 1


def test_fallback_guidance_reaches_the_alert_and_the_status_table(sqlite_only, harness, store, engine, tmp_path):
    guidance = tmp_path / "fallbacks.yaml"
    guidance.write_text("servers:\n  alpha:\n    alternative_server: alpha-eu\n    cached_results: true\n"
                        "    disable_features: [search]\n")
    harness.detection = {"fallbacks_file": str(guidance)}
    harness.tick(at(0))
    store.set_state("alpha", "open", failure_count=5, at=at(10))
    _, sent = harness.tick(at(300))
    assert "fallback: route to 'alpha-eu'; serve cached results; disable search" in sent[0]["summary"]
    assert sent[0]["details"]["fallback"]["alternative_server"] == "alpha-eu"
    assert status_of(engine, "alpha").fallback["disable_features"] == ["search"]


def test_the_sensor_is_defined_as_the_daemon_runs_it():
    from cloudmake_pipelines.resources import shared_resources
    from cloudmake_pipelines.sensors.outages import defs

    merged = dg.Definitions.merge(defs, dg.Definitions(resources=shared_resources()))
    sensor = merged.resolve_sensor_def("mcp_outage_detector")
    assert sensor.minimum_interval_seconds == 300 and not sensor.has_jobs  # alerts go through the outbox
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING


def test_the_tick_log_in_dagster_carries_the_pino_lines(sqlite_only, harness, store, capfd):
    store.set_state("alpha", "open", failure_count=4, at=at(1))
    harness.evaluate(at(30), Cursor().dumps())
    output = capfd.readouterr()
    lines = [json.loads(line[line.index("{"):]) for line in (output.out + output.err).splitlines()
             if " - dagster - INFO - {" in line]
    assert [(line["msg"], line.get("failure_count")) for line in lines] == [
        ("breaker transitions for alpha", 4), ("outage detector tick", None)]


def test_an_alert_whose_delivery_fails_is_delivered_by_the_outbox_not_lost(harness, store, engine):
    """Issue 15's lost alert: the delivery failed (then: its run's launch), the next tick asked again under the
    same run key and Dagster skipped it. Now the detector's tick records the alert in the outbox before it
    marks the episode, the next detector tick does not ask again, and alert_outbox_delivery delivers it."""
    store.set_state("alpha", "open", failure_count=5, at=at(1))
    harness.inbox.fail_next(f"/{harness.name}", 503, times=1)  # the delivery tick's attempt
    data, sent = harness.tick(at(200))
    assert "1 notification(s) due" in data.skip_message and len(sent) == 1  # one attempt, answered 503
    (row,) = outbox(engine).values()
    assert row.delivered_at is None and row.attempts == 1 and row.last_error == "HTTP 503"
    (episode,) = episodes(engine)
    assert episode.alerted_at is not None  # the detector's part is done: it never asks again
    data, sent = harness.tick(at(500))  # the row's next attempt is not due yet (backoff)
    assert "0 notification(s) due" in data.skip_message and sent == []
    make_due(engine)
    delivery = harness.deliver()
    assert "delivered 1, failed 0; 0 pending" in delivery.skip_message
    alert = harness.received[-1]  # the second POST, the first one accepted
    assert len(harness.received) == 2 and alert["idempotency_key"] == "mcp_outage:alpha:2026-11-29T08:00:01+00:00:opened"
    make_due(engine)
    assert "delivered 0, failed 0" in harness.deliver().skip_message and len(harness.received) == 2


def test_a_tick_that_dies_after_recording_asks_again_and_the_outbox_posts_once(sqlite_only, harness, store, engine):
    """A tick killed between the outbox row and marking the episode: the next tick asks again; same key, no
    second row, no second POST."""
    store.set_state("alpha", "open", failure_count=5, at=at(1))
    result = OutageDetector(DatabaseSource(engine), engine).tick(Cursor(), at(200))
    (notification,) = result.notifications
    alerter = support.AlertsResource(webhook_url=harness.webhook_url).get_alerter(engine)
    assert alerter.send(notification.alert, occurrence=notification.kind) is True  # ... and the process dies
    data, _ = harness.tick(at(200))
    assert "1 notification(s) due" in data.skip_message
    assert len(harness.received) == 1 and len(outbox(engine)) == 1


def outbox(engine) -> dict:
    with engine.connect() as conn:
        return {r.idempotency_key: r for r in conn.execute(select(alert_outbox).order_by(alert_outbox.c.id))}


def make_due(engine) -> None:
    with engine.begin() as conn:
        conn.execute(update(alert_outbox).values(next_attempt_at=None))


def episode_key(episode) -> str:
    return f"mcp_outage:{episode.server_name}:{episode.started_at.isoformat()}"
