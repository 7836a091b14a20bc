"""One ``mcp_outage_detector`` tick with 1,000 servers and 10,000 breaker transitions (seed task 2).

One command: ``.venv/bin/python benchmarks/outage_sensor.py`` (options: --help). On SQLite and, when it
answers, on the local PostgreSQL (a scratch database, dropped afterwards) it writes N servers' breaker
histories — each server has 10 transitions in the 5 minutes since the previous tick: half of them end
out of CLOSED, half had an outage longer than 90 s that opened and closed between the two ticks — then
times, in the same run:

* ours: the whole sensor tick through Dagster (``build_sensor_context`` + ``evaluate_tick``): read the
  transitions after the cursor, fold them into episodes, write degradation status, hand the alerts to the
  outbox (with a webhook set: a local receiver on 127.0.0.1);
* ours, delivery: the ``alert_outbox_delivery`` tick after it, which POSTs what the outbox holds;
* ours, detector only: the same tick through the domain code alone (no Dagster), as the peer runs;
* ours, quiet: the next tick, with nothing new in the log and the alerts sent (the steady state);
* peer "naive poll": read every server's current breaker state and alert on those out of CLOSED > 90 s
  (what a state-polling detector does; it writes nothing).

It prints the median of --repeat runs, the ratio of ours to the peer, the headroom against Dagster's
default 60 s sensor evaluation timeout, and how many outages each approach saw.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dagster as dg  # noqa: E402

from cloudmake_pipelines.db import make_engine  # noqa: E402
from cloudmake_pipelines.db.migrate import upgrade  # noqa: E402
from cloudmake_pipelines.db.tables import (  # noqa: E402
    alert_outbox,
    mcp_breaker_states,
    mcp_breaker_transitions,
    mcp_degradation_status,
    mcp_outage_episodes,
)
from cloudmake_pipelines.outages import Cursor, DatabaseSource, OutageDetector  # noqa: E402
from cloudmake_pipelines.resources import AlertsResource, DatabaseResource, SettingsResource  # noqa: E402
from cloudmake_pipelines.sensors.alerts import alert_outbox_delivery  # noqa: E402
from cloudmake_pipelines.sensors.outages import (  # noqa: E402
    OutageDetectionResource,
    mcp_outage_detector,
)
from tests.support.webhook import WebhookReceiver  # noqa: E402

SERVER = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DAGSTER_SENSOR_TIMEOUT_S = 60.0
THRESHOLD = timedelta(seconds=90)
T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
TICK_AT = T0 + timedelta(seconds=300)
#: Two 10-step histories: one ends out of CLOSED, one had its outages between the ticks.
ENDS_OPEN = ["open", "half_open", "open", "half_open", "closed", "open", "half_open", "open", "half_open", "open"]
ENDS_CLOSED = ["open", "half_open", "open", "half_open", "open", "half_open", "open", "half_open", "open", "closed"]


class FixedClock(OutageDetectionResource):
    now_iso: str

    def now(self) -> datetime:
        return datetime.fromisoformat(self.now_iso)


def seed(engine, servers: int) -> int:
    """Write every server's 10 transitions (in id order across servers, as a gateway would) and states."""
    rows, states = [], {}
    for step in range(10):
        for i in range(servers):
            name = f"srv-{i:04d}"
            history = ENDS_OPEN if i % 2 == 0 else ENDS_CLOSED
            previous = history[step - 1] if step else "closed"
            at = T0 + timedelta(seconds=5 + step * 20 + i % 7)  # 10 steps across 185-191 s
            rows.append({"server_name": name, "from_state": previous, "to_state": history[step],
                         "failure_count": step + 1, "occurred_at": at, "source": "benchmark"})
            states[name] = {"server_name": name, "state": history[step], "failure_count": step + 1,
                            "left_closed_at": T0 + timedelta(seconds=5) if history[step] != "closed" else None,
                            "updated_at": at}
    with engine.begin() as conn:
        conn.execute(insert(mcp_breaker_transitions), rows)
        conn.execute(insert(mcp_breaker_states), list(states.values()))
    return len(rows)


def sensor_tick(url: str, instance, cursor: str, webhook: str):
    resources = {"database": DatabaseResource(url=url), "settings": SettingsResource(),
                 "alerts": AlertsResource(webhook_url=webhook), "mcp_outages": FixedClock(now_iso=TICK_AT.isoformat())}
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources)
    with contextlib.redirect_stderr(io.StringIO()):  # the tick log's console copy: 1 line per server
        return mcp_outage_detector.evaluate_tick(context)


def delivery_tick(url: str, instance, webhook: str):
    context = dg.build_sensor_context(instance=instance, resources={
        "database": DatabaseResource(url=url), "alerts": AlertsResource(webhook_url=webhook)})
    with contextlib.redirect_stderr(io.StringIO()):
        return alert_outbox_delivery.evaluate_tick(context)


def outbox_rows(engine) -> tuple[int, int]:
    """(rows, of which delivered)."""
    with engine.connect() as conn:
        rows = conn.execute(select(alert_outbox.c.delivered_at)).scalars().all()
    return len(rows), sum(1 for at in rows if at is not None)


def naive_poll(engine) -> list[str]:
    """The peer: every current state, alert where out of CLOSED for more than the threshold."""
    with engine.connect() as conn:
        rows = conn.execute(select(mcp_breaker_states)).all()
    return [r.server_name for r in rows if r.state != "closed" and TICK_AT - r.left_closed_at > THRESHOLD]


def timed(fn, repeat: int, before=None) -> tuple[float, object]:
    samples, result = [], None
    for _ in range(repeat):
        if before:
            before()
        started = time.perf_counter()
        result = fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), result


def run(label: str, url: str, servers: int, repeat: int) -> None:
    upgrade(url)
    engine = make_engine(url)
    transitions = seed(engine, servers)

    def reset() -> None:
        with engine.begin() as conn:
            conn.execute(delete(mcp_outage_episodes))
            conn.execute(delete(mcp_degradation_status))
            conn.execute(delete(alert_outbox))

    with dg.instance_for_test() as instance, WebhookReceiver() as hook:
        start, webhook = Cursor(0).dumps(), hook.url_for()
        ours_ms, data = timed(lambda: sensor_tick(url, instance, start, webhook), repeat, reset)
        stored, posted_in_tick = outbox_rows(engine)
        started = time.perf_counter()
        delivered = delivery_tick(url, instance, webhook)
        delivery_ms = (time.perf_counter() - started) * 1000
        _, delivered_total = outbox_rows(engine)
        with engine.begin() as conn:  # every notification is marked sent by the tick already: a no-op
            conn.execute(update(mcp_outage_episodes).values(alerted_at=TICK_AT))
        quiet_ms, quiet = timed(lambda: sensor_tick(url, instance, data.cursor, webhook), repeat)
    detector = OutageDetector(DatabaseSource(engine), engine)
    with contextlib.redirect_stderr(io.StringIO()):
        domain_ms, _ = timed(lambda: detector.tick(Cursor(0), TICK_AT), repeat, reset)
    naive_ms, naive = timed(lambda: naive_poll(engine), repeat)
    engine.dispose()
    assert "0 notification(s) due" in quiet.skip_message, "once alerted, a quiet tick alerts nothing"
    print(f"\n{label}: {servers} servers, {transitions} transitions since the last tick (median of {repeat})")
    print(f"  ours, sensor tick          {ours_ms:9.1f} ms   {stored} alerts in the outbox, {posted_in_tick} "
          f"of them POSTed inside the tick (outages seen: {stored})")
    print(f"  ours, delivery tick after  {delivery_ms:9.1f} ms   {delivered_total} delivered in all "
          f"({delivered.skip_message}; one run)")
    print(f"  ours, detector only        {domain_ms:9.1f} ms   (same tick, domain code without Dagster)")
    print(f"  ours, quiet tick           {quiet_ms:9.1f} ms   (nothing new since the last tick)")
    print(f"  peer, naive state poll     {naive_ms:9.1f} ms   outages seen: {len(naive)} "
          f"(misses the {stored - len(naive)} that opened and closed between ticks)")
    print(f"  ratio ours/naive           {ours_ms / naive_ms:9.1f} x   sensor tick; detector only "
          f"{domain_ms / naive_ms:.1f} x; quiet tick {quiet_ms / naive_ms:.1f} x")
    print(f"  headroom vs Dagster's {DAGSTER_SENSOR_TIMEOUT_S:.0f} s sensor timeout: "
          f"{DAGSTER_SENSOR_TIMEOUT_S * 1000 / ours_ms:.0f} x ({ours_ms / 1000:.2f} s of {DAGSTER_SENSOR_TIMEOUT_S:.0f} s)")


@contextlib.contextmanager
def scratch_postgres():
    libpq = make_url(SERVER).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        psycopg.connect(libpq, connect_timeout=3).close()
    except psycopg.OperationalError:
        yield None
        return
    name = f"cm_bench_outages_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(SERVER).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(libpq, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=1000, help="servers (10 transitions each)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per figure (median reported)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        run("SQLite", f"sqlite:///{folder}/bench.db", args.servers, args.repeat)
    with scratch_postgres() as pg_url:
        if pg_url is None:
            print(f"\nPostgreSQL at {make_url(SERVER).render_as_string(hide_password=True)} did not answer: skipped")
        else:
            run("PostgreSQL", pg_url, args.servers, args.repeat)


if __name__ == "__main__":
    main()
