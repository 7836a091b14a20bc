"""Load-test one registered server end to end: connect, run the open-loop plan, summarise, judge.

This is what the Dagster asset and ``cloudmake mcp loadtest`` both call.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..db.types import utcnow
from ..errors import ConfigError
from ..logs import get_logger
from ..mcp import McpServer, resolve_auth
from .engine import Plan, RunStats, run_open_loop
from .protocol import McpClient, McpError
from .stats import OperationStats
from .thresholds import Thresholds

log = get_logger("mcp_load_test")


@dataclass
class ServerResult:
    """One server's load test: one summary per operation, plus what the engine noticed."""

    server: str
    environment: str
    started_at: datetime
    duration_ms: float
    thresholds: Thresholds
    operations: list[dict[str, Any]]
    protocol_version: str | None = None
    late_starts: int = 0
    max_lateness_ms: float = 0.0
    connect_error: str | None = None
    notes: list[str] = field(default_factory=list)

    def sc021_failures(self) -> list[str]:
        """SC-021: every list operation's p95 within the target. An operation with no answer fails too."""
        failures = []
        for op in self.operations:
            if not op["operation"].endswith("/list"):
                continue
            if op["p95_ms"] is None:
                failures.append(f"{op['operation']}: no latency measured ({op['errors']} errors)")
            elif op["p95_ms"] > self.thresholds.sc021_p95_ms:
                failures.append(f"{op['operation']}: p95 {op['p95_ms']:.1f} ms > {self.thresholds.sc021_p95_ms:g} ms")
        if self.connect_error:
            failures.append(f"connect: {self.connect_error}")
        return failures

    def alert_reasons(self) -> list[str]:
        """The seed's alert conditions: p95 above ``alert_p95_ms`` or error rate above ``alert_error_rate``."""
        reasons = [f"connect failed: {self.connect_error}"] if self.connect_error else []
        for op in self.operations:
            if op["p95_ms"] is not None and op["p95_ms"] > self.thresholds.alert_p95_ms:
                reasons.append(f"{op['operation']}: p95 {op['p95_ms']:.1f} ms > {self.thresholds.alert_p95_ms:g} ms")
            if op["error_rate"] > self.thresholds.alert_error_rate:
                reasons.append(f"{op['operation']}: error rate {op['error_rate']:.1%} > "
                               f"{self.thresholds.alert_error_rate:.1%} ({op['errors_by_kind']})")
        return reasons


def _classify(exc: BaseException) -> str:
    if isinstance(exc, McpError):
        return exc.kind
    return "protocol" if isinstance(exc, (ValueError, KeyError, TypeError)) else "client"


def _operation(client: McpClient, max_pages: int) -> Callable[[str], Any]:
    async def run(op: str) -> int:
        if op.endswith("/list"):
            return (await client.list_all(op, max_pages=max_pages))[1]
        await client.request(op)
        return 1
    return run


def _choose_operations(client: McpClient, wanted: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """The wanted operations this server can answer, and a note for each one skipped."""
    advertised = set(client.advertised_operations())
    chosen, notes = [], []
    for op in wanted:
        if op.endswith("/list") and op.split("/")[0] in ("tools", "resources", "prompts") and op not in advertised:
            notes.append(f"{op} skipped: the server does not advertise {op.split('/')[0]}")
        elif op == "ping" and client.sessionless:
            notes.append("ping skipped: removed in the session-less revision")
        else:
            chosen.append(op)
    return chosen, notes


class _CannotRun(Exception):
    """The server could not be load-tested at all (connect failed, nothing to test): the kind and why."""

    def __init__(self, kind: str, reason: str, notes: list[str] | None = None):
        super().__init__(reason)
        self.kind, self.reason, self.notes = kind, reason, notes or []


async def _run(server: McpServer, thresholds: Thresholds, headers: Mapping[str, str], read_only: bool,
               on_arrival: Callable[[int, int], None] | None) -> tuple[RunStats, str | None, list[str]]:
    """Connect, run the plan, disconnect. Returns the stats, the protocol revision used and notes."""
    client = McpClient(server.url, transport=server.transport, headers=headers, read_only=read_only,
                       timeout_seconds=thresholds.request_timeout_seconds, max_connections=thresholds.max_in_flight)
    try:
        async with asyncio.timeout(thresholds.request_timeout_seconds * 3):
            await client.__aenter__()
    except McpError as exc:
        raise _CannotRun(exc.kind, str(exc)) from None
    except TimeoutError:
        raise _CannotRun("timeout", "connect did not finish in time") from None
    try:
        operations, notes = _choose_operations(client, thresholds.operations)
        if not operations:
            raise _CannotRun("protocol", "the server advertises none of the configured operations", notes)
        plan = Plan(operations, thresholds.rate_per_second, thresholds.duration_seconds,
                    thresholds.max_in_flight, thresholds.request_timeout_seconds)
        progress = (lambda n: on_arrival(n, plan.arrivals)) if on_arrival else None
        stats = await run_open_loop(plan, _operation(client, thresholds.max_pages), _classify, on_arrival=progress,
                                    unsent_kinds=frozenset({"not_allowed"}))  # refused by the allowlist
        return stats, client.protocol_version, notes
    finally:
        await client.__aexit__(None, None, None)


def load_test_server(server: McpServer, thresholds: Thresholds, *, environment: str, read_only: bool = True,
                     environ: Mapping[str, str] | None = None, secrets: Callable[[str], str] | None = None,
                     clock: Callable[[], datetime] = utcnow,
                     on_arrival: Callable[[int, int], None] | None = None) -> ServerResult:
    """Load-test ``server`` and return its result. Never raises for server misbehaviour: that is data.
    ``environ`` and ``secrets`` (a keyring lookup) resolve the server's auth header."""
    if environment == "production" and not read_only:
        raise ConfigError("read-only mode cannot be turned off in production")
    headers = resolve_auth(server, environ, secrets)
    started_at, t0 = clock(), time.perf_counter()
    log.info("load test started", extra={"server": server.name, "rate_per_second": thresholds.rate_per_second,
                                         "duration_seconds": thresholds.duration_seconds, "read_only": read_only})
    try:
        stats, protocol, notes = asyncio.run(_run(server, thresholds, headers, read_only, on_arrival))
    except _CannotRun as failure:
        failed = [OperationStats(op) for op in thresholds.operations]
        for op in failed:
            op.record_unsent(failure.kind)
        result = ServerResult(server.name, environment, started_at, round((time.perf_counter() - t0) * 1000, 1),
                              thresholds, [op.summary() for op in failed],
                              connect_error=f"{failure.kind}: {failure.reason}", notes=failure.notes)
        log.error("load test could not run", extra={"server": server.name, "error": result.connect_error})
        return result
    duration_ms = round((time.perf_counter() - t0) * 1000, 1)
    result = ServerResult(server.name, environment, started_at, duration_ms, thresholds,
                          [s.summary() for s in stats.per_operation.values()], protocol_version=protocol,
                          late_starts=stats.late_starts, max_lateness_ms=round(stats.max_lateness_ms, 1), notes=notes)
    for op in result.operations:
        log.info("load test operation measured", extra={"server": server.name, **op})
    log.info("load test finished", extra={"server": server.name, "duration_ms": duration_ms,
                                          "late_starts": result.late_starts, "protocol": result.protocol_version,
                                          "sc021_failures": result.sc021_failures(), "notes": notes})
    return result

