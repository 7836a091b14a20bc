"""The HTTP breaker source against the real endpoint (breaker_api) and against endpoints that misbehave."""

import contextlib

import httpx
import pytest

from cloudmake_pipelines.outages import BreakerStore, Cursor, HttpSource, OutageDetector
from cloudmake_pipelines.outages.fallbacks import Fallbacks
from cloudmake_pipelines.outages.http_api import breaker_api
from cloudmake_pipelines.outages.sources import BreakerEndpointError, SourceUnavailable
from cloudmake_pipelines.settings import Secret
from tests.support.fakes import ANY, FakeServer
from tests.support.outages import at
from tests.support.servers import serve_asgi


def test_http_source_reads_what_the_endpoint_serves(engine, tmp_path):
    store = BreakerStore(engine)
    for i, state in enumerate(["open", "half_open", "open"]):
        store.set_state("alpha", state, failure_count=i + 3, at=at(i))
    store.set_state("beta", "open", failure_count=1, at=at(5))
    guidance = tmp_path / "fallbacks.yaml"
    guidance.write_text("default:\n  message: use cached results\n")
    with serve_asgi(breaker_api(store)) as base:
        source = HttpSource(base)
        snapshot = source.snapshot()
        assert snapshot.last_transition_id == 4
        assert {(b.server, b.state.value, b.failure_count) for b in snapshot.breakers} == {
            ("alpha", "open", 5), ("beta", "open", 1)}
        assert [t.id for t in source.transitions(2, also=[1], limit=10)] == [1, 3, 4]
        assert [t.id for t in source.transitions(0, limit=2)] == [1, 2]

        detector = OutageDetector(source, engine, fallbacks=Fallbacks.load(guidance))
        result = detector.tick(Cursor(), at(200))
        assert result.applied == 4 and sorted(n.server for n in result.notifications) == ["alpha", "beta"]
        degradation = httpx.get(f"{base}/degradation", params={"degraded": "1"}).json()["servers"]
        assert [(s["server_name"], s["status"], s["fallback"]["message"]) for s in degradation] == [
            ("alpha", "degraded", "use cached results"), ("beta", "degraded", "use cached results")]

        bad = httpx.get(f"{base}/breakers/transitions", params={"after": "x"})
        assert bad.status_code == 400 and bad.json() == {"error": "after: expected an integer"}
        assert httpx.get(f"{base}/breakers/transitions", params={"limit": 0}).json() == {
            "error": "limit: expected 1..10000"}


@contextlib.contextmanager
def _endpoint(status: int, body):
    """A breaker endpoint that answers every request with ``status`` and ``body``."""
    with FakeServer() as fake:
        fake.fail_next(ANY, status, body=body, times=None)
        yield fake


def test_a_wrong_url_or_token_is_an_error_not_a_skip():
    with _endpoint(401, {"error": "unauthorized"}) as fake:
        with pytest.raises(BreakerEndpointError, match="answered HTTP 401: check CLOUDMAKE_MCP_BREAKER_URL"):
            HttpSource(fake.url, Secret("gateway-token-123")).transitions(0)
    assert [r.headers.get("authorization") for r in fake.requests] == ["Bearer gateway-token-123"]
    assert fake.requests[0].path == "/breakers/transitions"


def test_a_malformed_body_names_the_field():
    with _endpoint(200, {"transitions": [{"id": 1, "server": "a", "from_state": "closed", "to_state": "down",
                                          "failure_count": 1, "occurred_at": "2026-11-29T08:00:00Z"}]}) as fake:
        with pytest.raises(BreakerEndpointError, match=r"transitions\.0\.to_state: Input should be 'closed'"):
            HttpSource(fake.url).transitions(0)


def test_server_errors_are_retried_then_reported_unavailable():
    with _endpoint(503, {"error": "overloaded"}) as fake:
        with pytest.raises(SourceUnavailable, match="answered HTTP 503"):
            HttpSource(fake.url, attempts=3, backoff_seconds=0.01).snapshot()
    assert len(fake.requests) == 3 and {r.path for r in fake.requests} == {"/breakers"}


def test_an_endpoint_asking_to_wait_past_the_tick_budget_skips_the_tick_at_once():
    import time

    started = time.monotonic()
    with FakeServer() as fake:
        fake.fail_next(ANY, 429, body={"error": "slow down"}, headers={"retry-after": "120"}, times=None)
        with pytest.raises(SourceUnavailable, match="answered HTTP 429"):
            HttpSource(fake.url, attempts=3, backoff_seconds=0.01).snapshot()
    assert len(fake.requests) == 1 and time.monotonic() - started < 5
