"""The load-test engine against real MCP servers built with the official SDK, on 127.0.0.1."""

import asyncio
import time

import pytest

from cloudmake_pipelines.errors import ConfigError
from cloudmake_pipelines.loadtest.protocol import McpClient, McpError, is_read_only
from cloudmake_pipelines.loadtest.runner import load_test_server
from cloudmake_pipelines.loadtest.stats import OperationStats
from cloudmake_pipelines.loadtest.store import recent_metrics, save_result
from cloudmake_pipelines.loadtest.thresholds import BUILTIN
from cloudmake_pipelines.mcp import McpServer
from tests.support.mcp_servers import (
    Behaviour,
    constant,
    periodic_stall,
    periodic_stall_percentile,
    serve_mcp,
)
from tests.support.servers import free_port


def quick(**overrides):
    return BUILTIN.merged({"rate_per_second": 40, "duration_seconds": 0.5, "request_timeout_seconds": 2, **overrides})


def run(url, transport="streamable_http", environ=None, **thresholds):
    server = McpServer("srv", url, transport=transport, auth_header="Authorization" if environ else None,
                       auth_secret_ref="env:SRV_TOKEN" if environ else None)
    return load_test_server(server, quick(**thresholds), environment="dev", environ=environ)


def by_op(result):
    return {op["operation"]: op for op in result.operations}


@pytest.mark.parametrize("mode, transport, version, session", [
    ("stateful_json", "streamable_http_handshake", "2025-11-25", True),
    ("stateful_sse", "streamable_http_handshake", "2025-11-25", True),
    ("stateless", "streamable_http_handshake", "2025-11-25", False),
    ("stateless", "streamable_http", "2026-07-28", False),
    ("stateful_sse", "streamable_http_sessionless", "2026-07-28", False),
])
def test_happy_path_on_every_server_shape(mode, transport, version, session):
    with serve_mcp(mode) as server:
        result = run(server.url, transport)
    assert result.connect_error is None and result.protocol_version == version
    ops = by_op(result)
    assert set(ops) == {"tools/list", "resources/list", "prompts/list"}
    assert all(op["errors"] == 0 and op["requests"] >= 6 and 0 < op["p95_ms"] < 1000 for op in ops.values())
    assert sum(op["requests"] for op in ops.values()) == 20  # 40/s for 0.5 s
    assert result.sc021_failures() == [] and result.alert_reasons() == []
    if version == "2025-11-25":
        assert server.methods[:2] == ["initialize", "notifications/initialized"]
    else:
        assert server.methods[0] == "server/discover" and "initialize" not in server.methods
    assert ("DELETE" in server.verbs) is session  # the session is ended; a session-less exchange has none


def test_auto_falls_back_to_the_handshake_on_a_server_without_the_sessionless_revision():
    with serve_mcp("stateful_json", Behaviour(handshake_only=True)) as server:
        result = run(server.url)
    assert result.protocol_version == "2025-11-25" and result.connect_error is None
    assert server.methods[:3] == ["server/discover", "initialize", "notifications/initialized"]


def test_pagination_follows_next_cursor_and_only_advertised_lists_run():
    async def list_everything(url):
        async with McpClient(url) as client:
            return client.advertised_operations(), await client.list_all("tools/list")

    with serve_mcp("stateful_json", Behaviour(tools=25, page_size=10, resources=0, prompts=0)) as server:
        advertised, (items, pages) = asyncio.run(list_everything(server.url))
        result = run(server.url, duration_seconds=0.25)
    assert advertised == ["tools/list"] and (items, pages) == (25, 3)
    assert [op["operation"] for op in result.operations] == ["tools/list"]
    assert result.operations[0]["pages"] == 3 * result.operations[0]["requests"]
    assert any("resources/list skipped" in note for note in result.notes)
    with serve_mcp("stateless", Behaviour(tools=25, page_size=10)) as server:
        with pytest.raises(McpError, match="pagination did not end within 2 pages"):
            asyncio.run(_list_pages(server.url, 2))


async def _list_pages(url, max_pages):
    async with McpClient(url) as client:
        return await client.list_all("tools/list", max_pages=max_pages)


@pytest.mark.serial  # a second xdist worker's load shifted p95 by 180 ms in two runs of two: runs alone
def test_measured_p95_matches_a_known_distribution_with_time_correlated_stalls():
    """The server freezes 500 ms of every second. Open loop measures the true p95; a closed loop hides it."""
    period, stall, base = 1.0, 0.5, 0.005
    true_p95 = periodic_stall_percentile(period, stall, base, 0.95) * 1000  # 455 ms
    with serve_mcp("stateless", Behaviour(latency=periodic_stall(period, stall, base))) as server:
        result = run(server.url, rate_per_second=50, duration_seconds=4 * period, operations=["tools/list"])
        closed = asyncio.run(_closed_loop(server.url, 2 * period))
    op = result.operations[0]
    assert op["requests"] == 200 and op["errors"] == 0
    # Half the arrivals miss the freeze, so p50 is the base latency plus this machine's own overhead (client,
    # server and OS scheduling: ~1 ms when quiet, tens of ms on an overloaded shared CI box). Allow that
    # overhead on top of 5%: the closed loop below is off by hundreds of ms.
    overhead = max(0.0, op["p50_ms"] - base * 1000)
    assert abs(op["p95_ms"] - true_p95) <= 0.05 * true_p95 + overhead, (op, true_p95)
    assert closed.percentile_ms(95) < true_p95 / 2  # what a closed-loop generator would have reported


async def _closed_loop(url, seconds):
    """One worker that waits for each answer before sending the next: the design this engine avoids."""
    stats = OperationStats("tools/list")
    async with McpClient(url) as client:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            start = time.perf_counter()
            await client.request("tools/list")
            stats.record(time.perf_counter() - start)
    return stats


def test_a_hanging_server_gives_timeouts_and_drops_and_the_run_ends_on_time():
    with serve_mcp("stateless", Behaviour(hang_methods=frozenset({"tools/list"}))) as server:
        started = time.monotonic()
        result = run(server.url, rate_per_second=40, duration_seconds=1, request_timeout_seconds=0.3,
                     max_in_flight=4, operations=["tools/list", "prompts/list"])
        elapsed = time.monotonic() - started
    ops = by_op(result)
    assert elapsed < 1 + 0.3 + 1.0
    tools = ops["tools/list"]
    assert tools["requests"] == 20 and tools["error_rate"] == 1.0
    assert tools["errors_by_kind"]["timeout"] >= 4 and tools["errors_by_kind"].get("dropped", 0) >= 1
    assert tools["p95_ms"] >= 300  # a timed-out request's latency is at least the timeout
    assert any("error rate 100.0%" in reason for reason in result.alert_reasons())


def test_jsonrpc_errors_inside_http_200_are_counted_as_errors():
    with serve_mcp("stateful_sse", Behaviour(error_methods=frozenset({"resources/list"}))) as server:
        result = run(server.url, "streamable_http_handshake")
    ops = by_op(result)
    assert ops["resources/list"]["errors_by_kind"] == {"jsonrpc": ops["resources/list"]["requests"]}
    assert ops["tools/list"]["errors"] == 0
    assert result.alert_reasons() == [f"resources/list: error rate 100.0% > 5.0% ({{'jsonrpc': "
                                      f"{ops['resources/list']['requests']}}})"]


def test_auth_required(caplog):
    token = "tok-load-0123456789"
    with serve_mcp("stateful_json", Behaviour(bearer_token=token)) as server:
        refused = run(server.url, environ={"SRV_TOKEN": "Bearer wrong-token-1"})
        accepted = run(server.url, environ={"SRV_TOKEN": f"Bearer {token}"})
    assert refused.connect_error.startswith("auth: server/discover: HTTP 401")
    assert by_op(refused)["tools/list"]["errors_by_kind"] == {"auth": 1}
    assert accepted.connect_error is None and all(op["errors"] == 0 for op in accepted.operations)
    assert token not in repr(accepted) + repr(refused)
    with pytest.raises(ConfigError, match="export SRV_TOKEN"):
        run("http://127.0.0.1:9/mcp", environ={"OTHER": "x"})


def test_read_only_allowlist_stops_other_methods_before_the_server():
    plan = ["tools/list", "tools/call", "resources/read", "prompts/get", "ping"]
    with serve_mcp("stateful_json") as server:
        result = run(server.url, "streamable_http_handshake", operations=plan)
    ops = by_op(result)
    for refused in ("tools/call", "resources/read", "prompts/get"):
        assert ops[refused]["errors_by_kind"] == {"not_allowed": ops[refused]["requests"]}
        assert ops[refused]["p95_ms"] is None  # never sent: no latency recorded
    assert ops["ping"]["errors"] == 0 and ops["tools/list"]["errors"] == 0
    assert set(server.methods) == {"initialize", "notifications/initialized", "tools/list", "ping"}
    assert [m for m in ("initialize", "ping", "server/discover", "tools/list", "resources/templates/list")
            if not is_read_only(m)] == []
    assert [m for m in ("tools/call", "resources/read", "completion/complete", "listx", "logging/setLevel")
            if is_read_only(m)] == []
    with pytest.raises(ConfigError, match="cannot be turned off in production"):
        load_test_server(McpServer("s", "http://127.0.0.1:9/mcp"), quick(), environment="production", read_only=False)


def test_legacy_sse_servers_and_dead_endpoints_are_reported_clearly():
    with serve_mcp("legacy_sse") as server:
        legacy = run(server.url)
    assert legacy.connect_error.startswith("unsupported_transport: server speaks the legacy HTTP+SSE transport")
    dead = run(f"http://127.0.0.1:{free_port()}/mcp")
    assert dead.connect_error.startswith("connection: ")
    assert dead.sc021_failures()[-1].startswith("connect: connection")


def test_latency_above_target_fails_sc021_but_not_the_alert():
    # Margins wider than scheduling noise on a loaded machine (0.12 s against 100/1000 ms failed at load 12):
    # a 300 ms server is 3x the SC-021 target, and the alert needs a p95 over 4 s (the timeout is 5 s).
    with serve_mcp("stateless", Behaviour(latency=constant(0.3))) as server:
        result = run(server.url, sc021_p95_ms=100, alert_p95_ms=4000, request_timeout_seconds=5,
                     operations=["tools/list"])
    (failure,) = result.sc021_failures()
    assert failure.startswith("tools/list: p95 ") and failure.endswith("> 100 ms")
    assert by_op(result)["tools/list"]["p95_ms"] >= 300  # the injected latency, measured from the due time
    assert result.alert_reasons() == []


def test_rows_are_written_once_per_run_even_when_retried(engine):
    with serve_mcp("stateless") as server:
        result = run(server.url, duration_seconds=0.25)
    assert save_result(engine, result, "run-1") == 3
    assert save_result(engine, result, "run-1") == 3  # a retried run replaces its own rows
    assert save_result(engine, result, "run-2") == 3
    rows = recent_metrics(engine, "srv")
    assert len(rows) == 6 and {r["run_id"] for r in rows} == {"run-1", "run-2"}
    row = next(r for r in rows if r["operation"] == "tools/list")
    assert row["started_at"].tzinfo is not None and row["environment"] == "dev" and row["errors_by_kind"] == {}
    assert row["p95_ms"] == by_op(result)["tools/list"]["p95_ms"] and row["request_count"] >= 2


def test_auth_value_from_the_encrypted_keyring(engine):
    from cloudmake_pipelines.alerts import Alerter
    from cloudmake_pipelines.keys import open_keyring
    from cloudmake_pipelines.loadtest.service import measure_and_record
    from cloudmake_pipelines.loadtest.thresholds import load_thresholds
    from cloudmake_pipelines.mcp import Registry

    token = "tok-keyring-0123456789"
    open_keyring(engine).put("docs_mcp", f"Bearer {token}")
    with serve_mcp("stateless", Behaviour(bearer_token=token)) as server:
        registry = Registry(engine)
        registry.add(McpServer("docs", server.url, auth_header="Authorization", auth_secret_ref="secret:docs_mcp"))
        registry.add(McpServer("other", server.url, auth_header="Authorization", auth_secret_ref="secret:missing"))
        result, alerted = measure_and_record(engine, "docs", load_thresholds(), environment="dev", run_id="r1",
                                             alerter=Alerter(None), overrides={"duration_seconds": 0.25})
        with pytest.raises(ConfigError, match="cloudmake keys put-secret missing"):
            measure_and_record(engine, "other", load_thresholds(), environment="dev", run_id="r1",
                               alerter=Alerter(None))
    assert result.connect_error is None and not alerted
    assert all(op["errors"] == 0 for op in result.operations)
