"""The alert outbox (issue 15 item 2): at-least-once delivery with an idempotency key, on SQLite and PostgreSQL,
against a real webhook receiver; the delivery sensor, its check, and the operator commands."""

import json
from datetime import UTC, datetime, timedelta

import dagster as dg
from click.testing import CliRunner
from sqlalchemy import select, update

from cloudmake_pipelines.alerts import Alert, Alerter, next_attempt_at
from cloudmake_pipelines.db.tables import alert_outbox
from cloudmake_pipelines.resources import AlertsResource, DatabaseResource
from cloudmake_pipelines.sensors.alerts import alert_outbox_delivery
from tests.support.fakes import ANY
from tests.support.webhook import WebhookReceiver

ALERT = Alert(task="spec_drift", key="spec_drift:specs/001", summary="3 new drift items", environment="staging")


def rows(engine):
    with engine.connect() as conn:
        return conn.execute(select(alert_outbox).order_by(alert_outbox.c.id)).all()


def make_due(engine):
    """Time passes: every pending row's next attempt is now (the backoff itself is tested below)."""
    with engine.begin() as conn:
        conn.execute(update(alert_outbox).values(next_attempt_at=None))


def tick(db_url, webhook_url, cursor=None):
    context = dg.build_sensor_context(cursor=cursor, resources={
        "database": DatabaseResource(url=db_url), "alerts": AlertsResource(webhook_url=webhook_url)})
    return alert_outbox_delivery.evaluate_tick(context)


def accepted(hook):
    return [r.json() for r in hook.requests if r.method == "POST" and r.status == 200]


def test_a_webhook_down_for_three_attempts_is_delivered_exactly_once_across_ticks(engine, db_url):
    with WebhookReceiver() as hook:
        hook.fail_next(ANY, 503, times=3)
        alerter = Alerter(hook.url_for(), engine=engine, attempts=1)
        assert alerter.send(ALERT, occurrence="run-1") is False
        (row,) = rows(engine)
        assert row.attempts == 1 and row.delivered_at is None and row.last_error == "HTTP 503"
        assert row.next_attempt_at > datetime.now(UTC) + timedelta(seconds=20)  # backoff: not retried at once
        assert "delivered 0, failed 0; 1 pending" in tick(db_url, hook.url_for()).skip_message  # not due yet
        for expected in ("failed 1", "failed 1", "delivered 1"):
            make_due(engine)
            assert expected in tick(db_url, hook.url_for()).skip_message
        make_due(engine)
        assert "delivered 0, failed 0; 0 pending" in tick(db_url, hook.url_for()).skip_message
    (row,) = rows(engine)
    assert row.attempts == 4 and row.delivered_at is not None and row.last_error == "HTTP 503"
    assert [a["idempotency_key"] for a in hook.alerts] == ["spec_drift:specs/001:run-1"] * 4
    assert len(accepted(hook)) == 1


def test_without_an_occurrence_each_send_is_a_new_notification(engine):
    with WebhookReceiver() as hook:
        alerter = Alerter(hook.url_for(), engine=engine)
        assert alerter.send(ALERT) and alerter.send(ALERT)
    keys = [a["idempotency_key"] for a in hook.alerts]
    assert len(set(keys)) == 2 and all(k.startswith(ALERT.key + ":") for k in keys)


def test_no_secret_in_the_stored_error(engine):
    token = "ghp_" + "Z9y8X7w6V5" * 4
    alerter = Alerter(f"hooks.example.com/{token}", engine=engine)
    assert alerter.send(ALERT, occurrence="x") is False
    (row,) = rows(engine)
    assert "ALERT_WEBHOOK_URL" in row.last_error and token not in row.last_error and "[REDACTED]" in row.last_error


def test_a_batch_does_not_wait_on_a_dead_webhook_for_every_alert(engine):
    with WebhookReceiver() as hook:
        hook.fail_next(ANY, 503, times=None)
        alerter = Alerter(hook.url_for(), engine=engine, attempts=2, backoff_seconds=0.01)
        assert not any(alerter.send(ALERT, occurrence=str(i)) for i in range(5))
        assert len(hook.alerts) == 2  # the first alert's two attempts; the other four wait for the sensor
    assert [r.attempts for r in rows(engine)] == [1, 0, 0, 0, 0]


def test_backoff_grows_and_honours_retry_after(engine):
    now = datetime(2026, 12, 2, tzinfo=UTC)
    waits = [(next_attempt_at(n, now) - now).total_seconds() for n in (1, 2, 3, 8)]
    assert 30 <= waits[0] <= 45 and 60 <= waits[1] <= 75 and 120 <= waits[2] <= 135 and 3600 <= waits[3] <= 3615
    with WebhookReceiver() as hook:
        hook.fail_next(ANY, 503, headers={"Retry-After": "900"}, times=None)
        Alerter(hook.url_for(), engine=engine, attempts=1).send(ALERT, occurrence="x")
    (row,) = rows(engine)
    assert row.next_attempt_at >= datetime.now(UTC) + timedelta(seconds=850)


def test_an_overdue_alert_fails_the_check_in_the_sensor_and_the_cli(engine, db_url, monkeypatch):
    from cloudmake_pipelines.cli import cli
    from tests.support.servers import free_port

    down = f"http://127.0.0.1:{free_port()}/hook"
    Alerter(down, engine=engine, attempts=1).send(ALERT, occurrence="x")
    data = tick(db_url, down)
    (observation, evaluation) = data.asset_events
    assert evaluation.check_name == "alert_outbox_delivered" and evaluation.passed  # pending, not overdue yet
    assert tick(db_url, down, data.cursor).asset_events == []  # reported only when it changes
    with engine.begin() as conn:
        conn.execute(update(alert_outbox).values(created_at=datetime.now(UTC) - timedelta(minutes=16)))
    (_, evaluation) = tick(db_url, down, data.cursor).asset_events
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert evaluation.metadata["overdue"].value == 1

    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("ALERT_WEBHOOK_URL", down)
    from cloudmake_pipelines.settings import get_settings
    get_settings.cache_clear()
    try:
        listed = CliRunner().invoke(cli, ["alerts", "list", "--pending", "--json"])
        assert listed.exit_code == 1, listed.output
        body = json.loads(listed.stdout)
        assert body["outbox"]["overdue"] == 1 and body["alerts"][0]["last_error"] == "ConnectError"
        with WebhookReceiver() as hook:
            monkeypatch.setenv("ALERT_WEBHOOK_URL", hook.url_for())
            get_settings.cache_clear()
            retried = CliRunner().invoke(cli, ["alerts", "retry", "--json"])
            assert retried.exit_code == 0, retried.output
            assert json.loads(retried.stdout) == {"pending": 1, "delivered": 1, "failed": 0}
        assert CliRunner().invoke(cli, ["alerts", "list", "--pending"]).exit_code == 0
    finally:
        get_settings.cache_clear()


def test_rows_left_pending_when_the_webhook_is_unset_count_as_delivered_by_their_line(engine, db_url):
    from tests.support.servers import free_port

    Alerter(f"http://127.0.0.1:{free_port()}/hook", engine=engine, attempts=1).send(ALERT, occurrence="x")
    assert "log-only" in tick(db_url, None).skip_message
    (row,) = rows(engine)
    assert row.delivered_at is not None and row.attempts == 1
