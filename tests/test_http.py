"""The one HTTP layer against a real server on 127.0.0.1: what is retried, how long it waits, what it says."""

from __future__ import annotations

import asyncio
import email.utils
import io
import json
import time
from dataclasses import dataclass, field

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from cloudmake_pipelines import http, logs
from cloudmake_pipelines.errors import ConfigError
from cloudmake_pipelines.http import (
    HttpClient,
    InvalidURL,
    RetryLater,
    RetryPolicy,
    TransientStatus,
    Unreachable,
)
from tests.support.servers import free_port, serve_asgi

TOKEN = "s3cr3t-token-0123456789abcdef"
QUICK = RetryPolicy(attempts=4, backoff=0.01, max_backoff=0.05)


@dataclass
class Step:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    hang: float = 0.0  # seconds before answering


class ScriptedServer:
    """Answers each path with its scripted steps in turn (the last repeats); records when each request came."""

    def __init__(self) -> None:
        self.scripts: dict[str, list[Step]] = {}
        self.arrivals: dict[str, list[float]] = {}
        self.app = Starlette(routes=[Route("/{name}", self._answer, methods=["GET", "POST"])])

    def script(self, name: str, *steps: Step) -> str:
        self.scripts[name], self.arrivals[name] = list(steps), []
        return f"/{name}"

    def gaps(self, name: str) -> list[float]:
        times = self.arrivals[name]
        return [b - a for a, b in zip(times, times[1:], strict=False)]

    async def _answer(self, request: Request) -> JSONResponse:
        name = request.path_params["name"]
        seen = self.arrivals[name]
        seen.append(time.monotonic())
        steps = self.scripts[name]
        step = steps[min(len(seen), len(steps)) - 1]
        if step.hang:
            await asyncio.sleep(step.hang)
        return JSONResponse({"attempt": len(seen)}, status_code=step.status, headers=step.headers)


@pytest.fixture
def server():
    scripted = ScriptedServer()
    with serve_asgi(scripted.app) as base:
        yield scripted, base


def http_date(seconds_from_now: float) -> str:
    return email.utils.formatdate(time.time() + seconds_from_now, usegmt=True)


def test_503_with_retry_after_seconds_waits_that_long(server):
    fake, base = server
    path = fake.script("a", Step(503, {"retry-after": "1"}), Step(200))
    with HttpClient(base, retry=QUICK) as client:
        assert client.get(path).json() == {"attempt": 2}
    assert len(fake.arrivals["a"]) == 2
    assert 0.95 <= fake.gaps("a")[0] < 2.0


def test_429_with_an_http_date_waits_until_then(server):
    fake, base = server
    path = fake.script("a", Step(429, {"retry-after": http_date(2)}), Step(200))
    with HttpClient(base, retry=QUICK) as client:
        assert client.get(path).status_code == 200
    # an HTTP-date has whole seconds: "2 s from now" is 1..2 s away when the client reads it
    assert 0.9 <= fake.gaps("a")[0] < 3.0


def test_500_is_returned_unless_the_client_says_its_api_retries_it(server):
    fake, base = server
    path = fake.script("a", Step(500), Step(200))
    with HttpClient(base, retry=QUICK) as client:
        assert client.get(path).status_code == 500
    assert len(fake.arrivals["a"]) == 1
    path = fake.script("b", Step(500), Step(200))
    with HttpClient(base, retry=RetryPolicy(backoff=0.01, statuses=frozenset({500, 503}))) as client:
        assert client.get(path).status_code == 200
    assert len(fake.arrivals["b"]) == 2


def test_other_client_errors_are_answered_at_once(server):
    fake, base = server
    path = fake.script("a", Step(404), Step(200))
    with HttpClient(base, retry=QUICK) as client:
        assert client.post(path, json={"x": 1}).status_code == 404
    assert len(fake.arrivals["a"]) == 1


def test_a_hanging_response_times_out_and_is_retried_then_reported(server):
    fake, base = server
    path = fake.script("a", Step(200, hang=1.5))
    started = time.monotonic()
    with HttpClient(base, service="Hanging", timeout=0.2, retry=RetryPolicy(attempts=2, backoff=0.01)) as client, \
            pytest.raises(Unreachable) as err:
        client.get(path)
    assert time.monotonic() - started < 1.2
    assert err.value.reason == "ReadTimeout" and err.value.attempts == 2
    assert str(err.value) == f"Hanging GET {base}/a: ReadTimeout after 2 attempts"
    assert len(fake.arrivals["a"]) == 2


def test_a_refused_connection_is_retried_then_unreachable():
    sleeps = []
    url = f"http://127.0.0.1:{free_port()}"
    with HttpClient(url, retry=QUICK, sleep=sleeps.append) as client, pytest.raises(Unreachable) as err:
        client.get("/x")
    assert err.value.reason == "ConnectError" and err.value.attempts == 4 and len(sleeps) == 3


def test_a_url_httpx_cannot_parse_is_an_invalid_url_too():
    with pytest.raises(InvalidURL, match=r"^NEON_API_URL: Invalid port: 'notaport'$"):
        HttpClient("https://api.example.com:notaport", setting="NEON_API_URL")
    with HttpClient(setting="ALERT_WEBHOOK_URL") as client, \
            pytest.raises(InvalidURL, match=r"^ALERT_WEBHOOK_URL: Invalid non-printable ASCII character"):
        client.post("https://hooks.example.com/\x00", json={})


@pytest.mark.parametrize("url", ["junk", "ftp://files.example.com", "http://"])
def test_an_invalid_url_fails_at_once_naming_the_setting(url):
    started = time.monotonic()
    with HttpClient(url, setting="GITHUB_API_URL", retry=RetryPolicy(deadline=60)) as client, \
            pytest.raises(InvalidURL) as err:
        client.get("/repos/o/r")
    assert time.monotonic() - started < 0.5
    assert str(err.value).startswith(f"GITHUB_API_URL: {url!r} is not a URL this client can call: expected http")
    assert isinstance(err.value, ConfigError) and err.value.exit_code == 2


def test_a_wait_beyond_the_budget_gives_up_at_once_saying_when(server):
    fake, base = server
    path = fake.script("a", Step(503, {"retry-after": "30"}), Step(200))
    started = time.monotonic()
    with HttpClient(base, service="Slow", retry=RetryPolicy(backoff=0.01, deadline=5)) as client, \
            pytest.raises(RetryLater) as err:
        client.get(path)
    assert time.monotonic() - started < 1.0 and len(fake.arrivals["a"]) == 1
    assert err.value.status == 503 and err.value.wait_seconds == 30
    assert abs(err.value.retry_at.timestamp() - (time.time() + 30)) < 2
    assert "asks to wait 30s, more than the 5s left" in str(err.value)
    assert f"retry after {err.value.retry_at.isoformat().replace('+00:00', 'Z')}" in str(err.value)


def test_the_total_wait_is_bounded_by_the_deadline(server):
    fake, base = server
    path = fake.script("a", Step(503))
    policy = RetryPolicy(attempts=50, backoff=0.2, max_backoff=0.4, jitter=0, deadline=1.5)
    started = time.monotonic()
    with HttpClient(base, retry=policy) as client, pytest.raises(TransientStatus) as err:
        client.get(path)
    elapsed = time.monotonic() - started
    # waits 0.2 + 0.4 + 0.4 + 0.4 = 1.4 s; a fifth (0.4 s) would end past 1.5 s, so it stops at 5 attempts
    assert len(fake.arrivals["a"]) == 5 and err.value.attempts == 5 and err.value.status == 503
    assert 1.4 <= elapsed <= 1.5 + 0.5
    assert sum(fake.gaps("a")) >= 1.39


def test_retry_after_is_a_floor_under_the_backoff(server):
    fake, base = server
    sleeps = []
    path = fake.script("a", Step(503, {"retry-after": "0"}), Step(503, {"retry-after": "3"}), Step(200))
    policy = RetryPolicy(backoff=0.5, jitter=0)
    with HttpClient(base, retry=policy, sleep=sleeps.append) as client:
        assert client.get(path).status_code == 200
    assert sleeps == [0.5, 3.0]


def test_an_epoch_reset_header_is_honoured_when_the_client_asks(server):
    fake, base = server
    sleeps = []
    for name, header in (("a", None), ("b", "X-RateLimit-Reset")):
        path = fake.script(name, Step(429, {"x-ratelimit-reset": "1000042"}), Step(200))
        policy = RetryPolicy(backoff=0.01, jitter=0, deadline=100, reset_header=header)
        with HttpClient(base, retry=policy, sleep=sleeps.append, clock=lambda: 1_000_000.0) as client:
            assert client.get(path).status_code == 200
    assert sleeps == [0.01, 42.0]


def test_a_client_rule_makes_its_own_rate_limit_transient(server):
    fake, base = server
    sleeps = []
    path = fake.script("a", Step(403, {"x-limit-left": "0"}), Step(200))

    def rule(response: httpx.Response, now: float) -> float | None:
        return 5.0 if response.headers.get("x-limit-left") == "0" else None

    with HttpClient(base, retry=RetryPolicy(jitter=0), rate_limit=rule, sleep=sleeps.append) as client:
        assert client.get(path).status_code == 200
    assert sleeps == [5.0]


def test_no_credential_in_any_error_or_log_line(server):
    fake, base = server
    captured = io.StringIO()
    logs.configure(captured)
    host = base.removeprefix("http://")
    fake.script("a", Step(503))
    secret_url = f"http://admin:pa55w0rd-xyz@{host}/a?token=q-t0ken-abcdef"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    errors = []
    with HttpClient(service="Webhook", headers=headers, retry=QUICK) as client:
        with pytest.raises(TransientStatus) as err:
            client.get(secret_url)
        errors.append(err.value)
        with pytest.raises(RetryLater) as err:
            fake.script("a", Step(429, {"retry-after": "999"}))
            client.get(secret_url)
        errors.append(err.value)
    refused = f"http://admin:pa55w0rd-xyz@127.0.0.1:{free_port()}/hook?token=q-t0ken-abcdef"
    with HttpClient(headers=headers, retry=QUICK) as client, pytest.raises(Unreachable) as err:
        client.post(refused, json={})
    errors.append(err.value)
    with HttpClient(headers=headers, setting="ALERT_WEBHOOK_URL") as client, pytest.raises(InvalidURL) as err:
        client.post("junk://admin:pa55w0rd-xyz@host/?token=q-t0ken-abcdef", json={})
    errors.append(err.value)
    logs.configure(io.StringIO())
    lines = captured.getvalue().splitlines()
    assert len(lines) >= 3 and all(json.loads(line)["level"] == 40 for line in lines)
    for text in [*map(str, errors), *map(repr, errors), *(e.url for e in errors), *lines]:
        for secret in (TOKEN, "pa55w0rd-xyz", "q-t0ken-abcdef"):
            assert secret not in text
    assert str(errors[0]) == f"Webhook GET {base}/a: HTTP 503 after 4 attempts"


def test_retry_after_forms():
    def response(value):
        return httpx.Response(429, headers={} if value is None else {"retry-after": value})

    now = time.time()
    assert http.retry_after_seconds(response("7")) == 7.0
    assert http.retry_after_seconds(response(None)) is None
    assert http.retry_after_seconds(response("soon")) is None
    assert 25 <= http.retry_after_seconds(response(http_date(30))) <= 30
    assert http.retry_after_seconds(response(http_date(-300))) == 0.0  # a date in the past: now
    assert http.retry_after_seconds(response("-5")) == 0.0
    assert http.retry_after_seconds(response("nan")) is None
    assert http.retry_after_seconds(response("1e12")) == http.MAX_SERVER_WAIT
    assert http.retry_after_seconds(response("Sun, 06 Nov 1994 08:49:37 -0000"), now=784111777.0) == 0.0
    reset = httpx.Response(429, headers={"x-ratelimit-reset": str(int(now) + 60)})
    assert 58 <= http.reset_seconds(reset, "X-RateLimit-Reset", now) <= 60
    assert http.reset_seconds(reset, "x-other") is None


def test_safe_url_drops_what_credentials_hide_in():
    assert http.safe_url("https://u:p@api.example.com:8443/v1/x?token=t#frag") == "https://api.example.com:8443/v1/x"


@pytest.mark.parametrize("bad", [{"attempts": 0}, {"backoff": -1}, {"deadline": float("inf")}, {"jitter": -0.1}])
def test_a_policy_out_of_range_is_refused(bad):
    with pytest.raises(ValueError, match="RetryPolicy"):
        RetryPolicy(**bad)
