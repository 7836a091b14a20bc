"""Design-token propagation: one sensor tick over 100 apps and 50 versions, and the accuracy of what it measures.

One command: ``.venv/bin/python benchmarks/token_propagation.py`` (options: --help). Everything is local: a
scratch SQLite database, a real git repository, and N fake apps (one real HTTP server on 127.0.0.1, each app
serving a ~9 KB stylesheet with ``--ds-version``, ETags and 304s: tests/support/token_apps.py).

1. **Tick cost** (steady state, nothing changed), in the same run:
   * ours: one ``Monitor.tick`` from the cursor: ``git log`` of the tokens file, a conditional GET per app
     (``If-None-Match``, answered 304), one batch of database writes;
   * peer "naive poller": what a poller without memory does every tick: re-read every version's tokens
     file from git (``git show`` × versions) and re-download every app's stylesheet and parse it.
   Printed: wall time (median of --repeat), requests, bytes received, ratios.
2. **Accuracy**: V versions committed --spacing seconds apart (real time); each app switches to each version
   after its own random delay (seeded); ticks run back to back. Measured propagation is compared with the
   delay the fake app was given: error, and whether the true delay lies inside the reported interval
   [propagation − uncertainty, propagation] (git stores committer time in whole seconds: the commit time
   is the whole second, and the fake's delays are counted from it).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

from cloudmake_pipelines.alerts import Alerter  # noqa: E402
from cloudmake_pipelines.db import make_engine  # noqa: E402
from cloudmake_pipelines.db.migrate import upgrade  # noqa: E402
from cloudmake_pipelines.tokens import App, AppRegistry, Cursor, Monitor, Poller, TokenSource  # noqa: E402
from cloudmake_pipelines.tokens.apps import _css_custom_property  # noqa: E402
from tests.support.token_apps import TokenApps  # noqa: E402


def git(repo: Path, *args: str, when: int | None = None) -> str:
    env = {"GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@example.com", "GIT_COMMITTER_NAME": "b",
           "GIT_COMMITTER_EMAIL": "b@example.com", "HOME": str(repo), "PATH": "/usr/bin:/bin"}
    if when is not None:
        env["GIT_COMMITTER_DATE"] = env["GIT_AUTHOR_DATE"] = f"{when} +0000"
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                          env=env).stdout


def commit(repo: Path, version: str, when: int) -> None:
    (repo / "tokens.json").write_text(json.dumps({"$version": version, "color": {"brand": {
        "$type": "color", "$value": "#0af"}}}))
    git(repo, "add", "tokens.json")
    git(repo, "commit", "-q", "-m", version, when=when)


def naive_tick(repo: Path, apps: list[App]) -> tuple[int, int]:
    """Re-read every version from git and re-download every app: (requests, bytes received)."""
    shas = git(repo, "log", "--format=%H", "--", "tokens.json").split()
    for sha in shas:
        json.loads(git(repo, "show", f"{sha}:tokens.json"))
    received = 0
    with httpx.Client(timeout=5) as client:
        for app in apps:
            response = client.get(app.url)
            received += len(response.content)
            _css_custom_property(response.text, app.read_selector)
    return len(apps), received


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--apps", type=int, default=100, choices=range(1, 1001), metavar="1..1000")
    parser.add_argument("--versions", type=int, default=50, choices=range(2, 201), metavar="2..200")
    parser.add_argument("--repeat", type=int, default=5, choices=range(1, 51), metavar="1..50")
    parser.add_argument("--spacing", type=float, default=1.0, help="seconds between commits in part 2 (0.5..10)")
    parser.add_argument("--max-delay", type=float, default=0.9, help="apps' largest switch delay, s (0.1..10)")
    parser.add_argument("--accuracy-versions", type=int, default=20, choices=range(1, 201), metavar="1..200",
                        help="versions committed in real time in part 2 (the rest are history)")
    args = parser.parse_args()
    if not (0.5 <= args.spacing <= 10 and 0.1 <= args.max_delay <= 10 and args.max_delay < args.spacing):
        parser.error("--spacing in 0.5..10, --max-delay in 0.1..10 and below --spacing")
    rng = random.Random(18)
    with tempfile.TemporaryDirectory() as tmp, TokenApps() as fleet:
        root = Path(tmp)
        url = f"sqlite:///{root / 'bench.db'}"
        upgrade(url)
        engine = make_engine(url)
        repo = root / "ds"
        repo.mkdir()
        git(repo, "init", "-q", "-b", "main")
        history = args.versions - args.accuracy_versions
        start = int(time.time()) - 3600
        for k in range(history):
            commit(repo, f"0.{k}.0", start + k)
        names = [f"app{i:03d}" for i in range(args.apps)]
        for name in names:
            fleet.add(name, f"0.{history - 1}.0", "css")
        registry = AppRegistry(engine, clock=lambda: datetime.now(UTC) - timedelta(minutes=30))
        apps = [registry.add(App(n, fleet.url_of(n), "css", "--ds-version")) for n in names]
        poller = Poller(timeout=5.0, concurrency=16)
        monitor = Monitor(engine, poller, Alerter(None), slo_seconds=300)
        monitor.versions.add_source(TokenSource(str(repo)))
        cursor = monitor.tick(Cursor()).cursor  # the first tick: history recorded, full downloads

        # 1. one steady tick, ours vs naive
        ours, naive = [], []
        for _ in range(args.repeat):
            before = len(fleet.requests)
            began = time.perf_counter()
            monitor.tick(cursor)
            ours.append(time.perf_counter() - began)
            ours_requests = len(fleet.requests) - before
            ours_304 = sum(1 for r in fleet.requests[before:] if r.status == 304)
            began = time.perf_counter()
            naive_requests, naive_bytes = naive_tick(repo, apps)
            naive.append(time.perf_counter() - began)
        full_body = len(TokenApps.body("css", "0.0.0")[0])
        ours_s, naive_s = statistics.median(ours), statistics.median(naive)
        print(f"tick, {args.apps} apps, {args.versions - args.accuracy_versions} versions recorded "
              f"(median of {args.repeat}):")
        print(f"  ours (conditional, cursor):  {ours_s * 1000:8.1f} ms, {ours_requests} requests "
              f"({ours_304} answered 304), ~0 body bytes; 1 git subprocess")
        print(f"  naive (re-download all):     {naive_s * 1000:8.1f} ms, {naive_requests} requests, "
              f"{naive_bytes} body bytes ({full_body} per app); {history + 1} git subprocesses")
        print(f"  ratio naive/ours: time {naive_s / ours_s:.1f}x, body bytes {naive_bytes}:0, "
              f"git subprocesses {history + 1}:1; headroom vs 60 s interval: {60 / ours_s:.0f}x")

        # 2. accuracy against the delays the fake apps were given
        delays: dict[tuple[str, str], float] = {}
        first = int(time.time()) + 2
        plan = [(first + round(k * args.spacing), f"1.{k}.0") for k in range(args.accuracy_versions)]
        for when, version in plan:
            for name in names:
                delay = rng.uniform(0.05, args.max_delay)
                delays[(name, version)] = delay
                fleet.switch_at(name, when + delay, version)
        def committer() -> None:
            """Commits land on time, whatever the sensor is doing (as a CI merge does)."""
            for when, version in plan:
                time.sleep(max(0.0, when - time.time()))
                commit(repo, version, when)

        thread = threading.Thread(target=committer, daemon=True)
        thread.start()
        ticks, tick_times = 0, []
        deadline = plan[-1][0] + args.max_delay + 3
        while time.time() < deadline and ticks < 10_000:
            began = time.perf_counter()
            cursor = monitor.tick(cursor).cursor
            tick_times.append(time.perf_counter() - began)
            ticks += 1
        thread.join(timeout=10)
        errors, inside, seen, unbounded = [], 0, 0, 0
        for _, version in plan:
            for row in monitor.table(version):
                if row.propagation_s is None:
                    continue
                seen += 1
                true = delays[(row.app, version)]
                errors.append(row.propagation_s - true)
                if row.uncertainty_s is None:
                    unbounded += 1
                    continue
                low = row.propagation_s - row.uncertainty_s
                ok = low - 0.01 <= true <= row.propagation_s + 0.01
                inside += ok
        print(f"accuracy, {args.accuracy_versions} versions x {args.apps} apps, delays 0.05..{args.max_delay} s, "
              f"{ticks} ticks (median tick {statistics.median(tick_times) * 1000:.0f} ms):")
        print(f"  measured {seen} of {len(delays)} (version, app) pairs; error measured - true: "
              f"mean {statistics.mean(errors):.3f} s, median {statistics.median(errors):.3f} s, "
              f"max {max(errors):.3f} s, min {min(errors):.3f} s")
        print(f"  true delay inside the reported interval [propagation - uncertainty, propagation]: "
              f"{inside}/{seen - unbounded} ({inside / max(1, seen - unbounded):.1%}); no lower bound: {unbounded}")
        poller.close()
        engine.dispose()


if __name__ == "__main__":
    main()
