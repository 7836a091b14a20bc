import io
import json

import pytest

from cloudmake_pipelines import logs
from cloudmake_pipelines.alerts import Alert, Alerter
from tests.support.fakes import ANY
from tests.support.webhook import WebhookReceiver


@pytest.fixture
def captured():
    stream = io.StringIO()
    logs.configure(stream)
    yield stream
    logs.configure(io.StringIO())


ALERT = Alert(task="mcp_load_test", key="mcp_load_test:alpha:p95", summary="p95 812 ms > 750 ms on alpha",
              details={"server": "alpha", "p95_ms": 812.0}, environment="staging")


OUTBOX_ALERT = Alert(task="spec_drift", key="spec_drift:specs/001", summary="3 new drift items")


def rows(engine):
    from sqlalchemy import select

    from cloudmake_pipelines.db.tables import alert_outbox

    with engine.connect() as conn:
        return conn.execute(select(alert_outbox)).all()


def test_webhook_receives_payload_and_line_is_level_50(captured):
    with WebhookReceiver() as hook:
        assert Alerter(hook.url_for()).send(ALERT) is True
    assert len(hook.alerts) == 1
    body = hook.alerts[0]
    assert body["key"] == ALERT.key and body["task"] == "mcp_load_test" and body["details"]["p95_ms"] == 812.0
    assert body["environment"] == "staging" and body["sent_at"]
    line = json.loads(captured.getvalue().splitlines()[0])
    assert line["level"] == 50 and line["alert"] is True and line["alert_key"] == ALERT.key


def test_transient_failures_are_retried(captured):
    with WebhookReceiver() as hook:
        hook.fail_next(ANY, 503)
        hook.fail_next(ANY, 429)
        assert Alerter(hook.url_for(), backoff_seconds=0.01).send(ALERT) is True
    assert [r.status for r in hook.requests] == [503, 429, 200] and len(hook.alerts) == 3


def test_failing_webhook_never_fails_the_caller_and_is_logged(captured):
    with WebhookReceiver() as hook:
        hook.fail_next(ANY, 500, times=None)
        assert Alerter(hook.url_for(), attempts=3, backoff_seconds=0.01).send(ALERT) is False
    assert len(hook.alerts) == 3
    warning = [json.loads(x) for x in captured.getvalue().splitlines()][-1]
    assert warning["level"] == 40 and warning["reason"] == "HTTP 500"


def test_unreachable_webhook_is_logged_not_raised(captured):
    from tests.support.servers import free_port

    alerter = Alerter(f"http://127.0.0.1:{free_port()}/hook", attempts=2, backoff_seconds=0.01)
    assert alerter.send(ALERT) is False
    assert "ConnectError" in captured.getvalue()


def test_client_errors_are_not_retried(captured):
    with WebhookReceiver() as hook:
        hook.fail_next(ANY, 400, times=None)
        assert Alerter(hook.url_for(), backoff_seconds=0.01).send(ALERT) is False
    assert len(hook.alerts) == 1


def test_an_invalid_webhook_url_is_logged_at_once_naming_the_setting(captured):
    import time

    started = time.monotonic()
    assert Alerter("hooks.example.com/x", backoff_seconds=1).send(ALERT) is False
    assert time.monotonic() - started < 0.5
    warning = [json.loads(x) for x in captured.getvalue().splitlines()][-1]
    assert warning["reason"].startswith("ALERT_WEBHOOK_URL: 'hooks.example.com/x' is not a URL")


# The outbox (tests/test_alert_outbox.py has the rest): what the level-50 line does when a key repeats.


def test_the_same_alert_sent_twice_is_one_row_one_post_one_line(engine, captured):
    with WebhookReceiver() as hook:
        alerter = Alerter(hook.url_for(), engine=engine)
        assert alerter.send(OUTBOX_ALERT, occurrence="run-1") is True
        assert Alerter(hook.url_for(), engine=engine).send(OUTBOX_ALERT, occurrence="run-1") is True
    assert len(rows(engine)) == 1 and len(hook.alerts) == 1
    lines = [json.loads(line) for line in captured.getvalue().splitlines()]
    assert [line["idempotency_key"] for line in lines if line.get("alert")] == [f"{OUTBOX_ALERT.key}:run-1"]


def test_log_only_rows_are_stored_delivered_and_still_deduplicated(engine, captured):
    assert Alerter(None, engine=engine).send(OUTBOX_ALERT, occurrence="o") is True
    assert Alerter(None, engine=engine).send(OUTBOX_ALERT, occurrence="o") is True
    (row,) = rows(engine)
    assert row.delivered_at is not None and row.attempts == 0
    assert sum(1 for line in captured.getvalue().splitlines() if json.loads(line).get("alert")) == 1
