"""MCP load-test engine: client CPU per request, sustained rate and p95 accuracy, against peers in one run.

    .venv/bin/python benchmarks/mcp_loadtest.py [--seconds 5]

The MCP server (official SDK, session-less JSON, on 127.0.0.1) runs in its own process so that CPU is
measured for the client alone. Peers, each measured in this same run:

* the official SDK client (``mcp.client.Client``), 8 concurrent callers;
* ``wrk`` with a Lua script giving every request a unique JSON-RPC id (``apt-get install wrk``);
* raw httpx and raw aiohttp POST loops: why the engine's hot path uses aiohttp.

Accuracy: a server that freezes 500 ms of every second (base latency 5 ms) has a known p95 of 455 ms under
uniform arrivals; the engine (open loop) is compared with the closed-loop peers, and each with the p95
the server itself timed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cloudmake_pipelines.loadtest.engine import Plan, run_open_loop  # noqa: E402
from cloudmake_pipelines.loadtest.protocol import CLIENT_INFO, SESSIONLESS_VERSION, McpClient  # noqa: E402
from cloudmake_pipelines.loadtest.stats import OperationStats  # noqa: E402

STALL = (1.0, 0.5, 0.005)  # period, stall, base (seconds): the same shape as the test
BODY_META = {"io.modelcontextprotocol/protocolVersion": SESSIONLESS_VERSION,
             "io.modelcontextprotocol/clientInfo": CLIENT_INFO, "io.modelcontextprotocol/clientCapabilities": {}}
HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
           "MCP-Protocol-Version": SESSIONLESS_VERSION, "Mcp-Method": "tools/list"}
WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["MCP-Protocol-Version"] = "%(version)s"
wrk.headers["Mcp-Method"] = "tools/list"
local counter = 0
local errors = 0
local meta = '%(meta)s'
request = function()
  counter = counter + 1
  return wrk.format(nil, nil, nil,
    '{"jsonrpc":"2.0","id":' .. counter .. ',"method":"tools/list","params":{"_meta":' .. meta .. '}}')
end
response = function(status, headers, body)
  if status ~= 200 or string.find(body, '"error"', 1, true) then errors = errors + 1 end
end
done = function(summary, latency, requests)
  io.write(string.format("WRK %%d %%d %%.3f %%d\\n", summary.requests, summary.duration,
                         latency:percentile(95) / 1000.0, summary.errors.status + errors))
end
"""


# -- the server process --------------------------------------------------------------------------------

def serve(stall: bool) -> None:
    from tests.support.mcp_servers import Behaviour, periodic_stall, serve_mcp

    behaviour = Behaviour(latency=periodic_stall(*STALL)) if stall else Behaviour()
    with serve_mcp("stateless", behaviour) as server:
        print(server.url, flush=True)
        sys.stdin.read()  # until the benchmark closes our stdin
        seen = sorted(server.service_seconds)
        print(f"{seen[int(0.95 * (len(seen) - 1))] * 1000 if seen else float('nan'):.3f}", flush=True)


class Server:
    def __init__(self, stall: bool):
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve", "stall" if stall else "fast"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True, cwd=ROOT)
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http://127.0.0.1:"):
            raise RuntimeError("benchmark server did not start")

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.proc.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.stdin.close()
        self.server_p95_ms = float(self.proc.stdout.readline() or "nan")  # p95 as the server itself timed it
        self.proc.wait(timeout=15)


# -- clients -------------------------------------------------------------------------------------------

async def engine(url: str, rate: float, seconds: float):
    async with McpClient(url, max_connections=64) as client:
        plan = Plan(["tools/list"], rate, seconds, max_in_flight=256, timeout_seconds=5)

        async def op(name: str) -> int:
            return (await client.list_all(name))[1]

        return await run_open_loop(plan, op, lambda exc: getattr(exc, "kind", "client"))


async def closed_loop(call, seconds: float, workers: int = 8) -> OperationStats:
    stats = OperationStats("tools/list")
    end = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < end:
            start = time.perf_counter()
            try:
                await call()
            except Exception:  # noqa: BLE001 - counted
                stats.record(time.perf_counter() - start, "error")
            else:
                stats.record(time.perf_counter() - start)

    await asyncio.gather(*(worker() for _ in range(workers)))
    return stats


async def sdk_client(url: str, seconds: float) -> OperationStats:
    from mcp.client.client import Client

    async with Client(url, mode=SESSIONLESS_VERSION) as client:
        return await closed_loop(client.list_tools, seconds)


def _body(counter=iter(range(1, 10**9))) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": next(counter), "method": "tools/list", "params": {"_meta": BODY_META}})


async def raw_httpx(url: str, seconds: float) -> OperationStats:
    import httpx

    async with httpx.AsyncClient(headers=HEADERS) as client:
        async def call() -> None:
            (await client.post(url, content=_body())).raise_for_status()
        return await closed_loop(call, seconds)


async def raw_aiohttp(url: str, seconds: float) -> OperationStats:
    import aiohttp

    async with aiohttp.ClientSession(headers=HEADERS) as session:
        async def call() -> None:
            async with session.post(url, data=_body()) as resp:
                resp.raise_for_status()
                await resp.read()
        return await closed_loop(call, seconds)


def wrk(url: str, seconds: float) -> tuple[int, float, float, int, float] | None:
    """(requests, duration s, p95 ms, errors, CPU s) from wrk -t1 -c8, or None when wrk is not installed."""
    if shutil.which("wrk") is None:
        return None
    meta = json.dumps(BODY_META, separators=(",", ":"))
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT % {"version": SESSIONLESS_VERSION, "meta": meta})
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(["wrk", "-t1", "-c8", f"-d{max(1, round(seconds))}s", "-s", script.name, url],
                         capture_output=True, text=True, timeout=seconds + 30).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    os.unlink(script.name)
    line = next(line for line in out.splitlines() if line.startswith("WRK "))
    requests, micros, p95_ms, errors = line.split()[1:]
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return int(requests), int(micros) / 1e6, float(p95_ms), int(errors), cpu


def measured(label: str, server: Server, run) -> dict:
    cpu0, srv0, t0 = time.process_time(), server.cpu_seconds(), time.perf_counter()
    stats = run()
    elapsed, cpu, srv_cpu = time.perf_counter() - t0, time.process_time() - cpu0, server.cpu_seconds() - srv0
    if isinstance(stats, OperationStats):
        requests, errors, p95 = stats.requests, stats.error_count, stats.percentile_ms(95)
        extra = ""
    else:  # the engine's RunStats
        op = stats.per_operation["tools/list"]
        requests, errors, p95 = op.requests, op.error_count, op.percentile_ms(95)
        extra = f"  late starts {stats.late_starts}, dropped {op.errors.get('dropped', 0)}"
    row = {"label": label, "requests": requests, "rps": requests / elapsed, "errors": errors, "p95_ms": p95,
           "cpu_ms_per_request": cpu * 1000 / max(requests, 1), "server_cpu_ms": srv_cpu * 1000 / max(requests, 1)}
    print(f"{label:<34} {row['rps']:8.1f} req/s  client CPU {row['cpu_ms_per_request']:6.3f} ms/req  "
          f"server CPU {row['server_cpu_ms']:5.2f} ms/req  p95 {p95:8.2f} ms  errors {errors}{extra}", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each measurement (default 5)")
    parser.add_argument("--rates", default="100,200", help="engine arrival rates to sustain (default 100,200)")
    parser.add_argument("--accuracy-rate", type=float, default=50.0, help="engine rate for accuracy (default 50)")
    parser.add_argument("--serve", choices=["fast", "stall"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(args.serve == "stall")
    seconds = args.seconds
    print(f"# machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (other work shares them)")
    print(f"# throughput and client CPU per request (fast server, {seconds:g} s each)")
    with Server(stall=False) as server:
        rows = [measured(f"engine open loop @ {rate} req/s", server,
                         lambda rate=float(rate): asyncio.run(engine(server.url, rate, seconds)))
                for rate in args.rates.split(",")]
        sdk = measured("official SDK client, 8 callers", server, lambda: asyncio.run(sdk_client(server.url, seconds)))
        httpx_row = measured("raw httpx POST loop, 8 callers", server, lambda: asyncio.run(raw_httpx(server.url, seconds)))
        aio_row = measured("raw aiohttp POST loop, 8 callers", server,
                           lambda: asyncio.run(raw_aiohttp(server.url, seconds)))
        wrk_result = wrk(server.url, seconds)
    best = min(rows, key=lambda r: r["cpu_ms_per_request"])
    if wrk_result:
        requests, duration, p95, errors, cpu = wrk_result
        print(f"{'wrk -t1 -c8 (Lua, unique ids)':<34} {requests / duration:8.1f} req/s  client CPU "
              f"{cpu * 1000 / requests:6.3f} ms/req  p95 {p95:8.2f} ms  errors {errors}")
    else:
        print("wrk: not installed (apt-get install -y wrk); skipped")
    print(f"ratio: SDK client CPU/request / engine = {sdk['cpu_ms_per_request'] / best['cpu_ms_per_request']:.1f}x; "
          f"httpx / aiohttp = {httpx_row['cpu_ms_per_request'] / aio_row['cpu_ms_per_request']:.1f}x"
          + (f"; engine / wrk = {best['cpu_ms_per_request'] / (wrk_result[4] * 1000 / wrk_result[0]):.1f}x"
             if wrk_result else ""))
    print(f"engine capacity on one core at this CPU cost: ~{1000 / best['cpu_ms_per_request']:.0f} req/s")

    period, stall, base = STALL
    true_p95 = (base + stall - 0.05 * period) * 1000
    span = max(seconds, 5.0)
    print(f"\n# p95 accuracy: server freezes {stall * 1000:g} ms of every {period:g} s, base {base * 1000:g} ms: "
          f"injected p95 {true_p95:.1f} ms; a fresh server per client, {span:g} s each")
    rate = args.accuracy_rate
    peers = [(f"engine open loop @ {rate:g} req/s", lambda url: asyncio.run(engine(url, rate, span))),
             ("official SDK client, 8 callers", lambda url: asyncio.run(sdk_client(url, span)))]
    for label, run in peers:
        with Server(stall=True) as server:
            row = measured(label, server, lambda run=run, server=server: run(server.url))
        _accuracy(label, row["p95_ms"], true_p95, server.server_p95_ms)
    if shutil.which("wrk"):
        with Server(stall=True) as server:
            result = wrk(server.url, span)
        _accuracy("wrk -t1 -c8 (closed loop; wrk back-fills samples from the mean interval)", result[2], true_p95,
                  server.server_p95_ms)


def _accuracy(label: str, p95: float, injected: float, server_seen: float) -> None:
    print(f"  {label}: p95 {p95:.1f} ms, {100 * (p95 - injected) / injected:+.1f}% vs injected; server-timed p95 "
          f"{server_seen:.1f} ms ({100 * (p95 - server_seen) / server_seen:+.1f}%)", flush=True)

if __name__ == "__main__":
    main()
