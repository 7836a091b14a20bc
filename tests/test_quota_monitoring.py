"""Quota monitoring (issue 20): events recorded exactly once, the Redis stream source, windows, the signal,
alerts, and the config file."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import redis
from sqlalchemy import func, select

from cloudmake_pipelines.alerts import Alerter
from cloudmake_pipelines.configfile import ConfigFileError
from cloudmake_pipelines.db.tables import quota_buckets, quota_events, quota_exhaustion_stats
from cloudmake_pipelines.quota import Limit, QuotaService
from cloudmake_pipelines.quota.events import Exhaustion, StreamConsumer, prune, record
from cloudmake_pipelines.quota.report import QuotaConfig, Threshold, load_config, run, send_alerts
from tests.support.webhook import WebhookReceiver
from tests.test_github_sync_quota import _race

AS_OF = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def _events(engine, **where):
    with engine.connect() as conn:
        return conn.execute(select(quota_events).filter_by(**where).order_by(quota_events.c.id)).all()


def test_concurrent_takers_denied_are_recorded_exactly_once(engine):
    """6 threads x 40 takes of 1 from 100 tokens: 140 denials, 140 events, the bucket's counter agrees."""
    total, errors = _race(engine.url.render_as_string(hide_password=False))
    assert errors == [] and total == 100
    events = _events(engine, bucket="race")
    with engine.connect() as conn:
        denied_total = conn.execute(select(quota_buckets.c.denied_total)).scalar()
    assert len(events) == 140 == denied_total == sum(e.denied for e in events)
    assert {(e.kind, e.source, e.requested, e.limit_per_hour) for e in events} == {("platform", "service", 1, 100 *
                                                                                    3600 / 10**9)}
    assert len({e.event_key for e in events}) == 140


def test_a_partial_grant_records_the_denied_units_with_its_kind(engine):
    quota = QuotaService(engine, lambda: AS_OF)
    assert quota.take("u-1", Limit(10, 60), 4, kind="user").denied == 0
    assert _events(engine) == []
    assert quota.take("u-1", Limit(10, 60), 9, kind="user").denied == 3
    (event,) = _events(engine)
    assert (event.kind, event.bucket, event.requested, event.denied, event.limit_per_hour) == ("user", "u-1", 9, 3,
                                                                                                 600.0)
    assert event.occurred_at == AS_OF and event.hour == AS_OF
    with pytest.raises(ValueError, match="kind must be one of user, project, platform, got 'tenant'"):
        quota.take("u-1", Limit(10, 60), 1, kind="tenant")


@pytest.fixture
def stream():
    client = redis.Redis(host="127.0.0.1", port=6379, socket_timeout=5)
    name = f"test:quota:{uuid.uuid4().hex}"
    yield client, name
    client.delete(name)
    client.close()


def _add(client, name, n, start=0):
    return [client.xadd(name, {"kind": "user", "bucket": f"u-{i % 3}", "at": (AS_OF - timedelta(minutes=i)).isoformat(),
                               "requested": "2", "limit_per_hour": "1000"}) for i in range(start, start + n)]


def test_redis_consumer_crash_between_read_and_store_is_redelivered_and_stored_once(engine, stream):
    client, name = stream
    ids = _add(client, name, 5)
    crashed = StreamConsumer(engine, client, name, consumer="worker-a", claim_idle=timedelta(0))
    crashed.ensure_group()
    # worker-a reads the entries, then dies before storing (nothing stored, nothing acknowledged)
    read = client.xreadgroup(crashed.group, "worker-a", {name: ">"}, count=100)
    assert [i for i, _ in read[0][1]] == ids and _events(engine) == []
    # worker-b claims what worker-a left pending, stores it, acknowledges it
    report = StreamConsumer(engine, client, name, consumer="worker-b", claim_idle=timedelta(0)).run()
    assert (report.claimed, report.read, report.stored, report.duplicates) == (5, 5, 5, 0)
    assert len(_events(engine, source="redis")) == 5
    assert client.xpending(name, crashed.group)["pending"] == 0


def test_redis_consumer_crash_between_store_and_ack_counts_nothing_twice(engine, stream):
    client, name = stream
    _add(client, name, 4)
    consumer = StreamConsumer(engine, client, name, consumer="worker-a", claim_idle=timedelta(0))
    consumer.ensure_group()
    entries = client.xreadgroup(consumer.group, "worker-a", {name: ">"}, count=100)[0][1]
    assert consumer.store(entries) == (4, 0, 0)  # stored, then the process died before XACK
    _add(client, name, 2, start=10)
    report = StreamConsumer(engine, client, name, consumer="worker-a", claim_idle=timedelta(hours=1)).run()
    assert (report.read, report.stored, report.duplicates) == (6, 2, 4)
    assert len(_events(engine)) == 6
    assert client.xpending(name, consumer.group)["pending"] == 0
    assert StreamConsumer(engine, client, name).run().read == 0  # drained


def test_a_malformed_stream_entry_is_rejected_and_acknowledged(engine, stream):
    client, name = stream
    client.xadd(name, {"kind": "tenant", "bucket": "x", "at": "yesterday", "limit_per_hour": "nan"})
    _add(client, name, 1)
    report = StreamConsumer(engine, client, name).run()
    assert (report.read, report.stored, report.rejected) == (2, 1, 1)
    assert client.xpending(name, "cloudmake-quota")["pending"] == 0


def _exhaust(engine, bucket, hours_ago, kind="user", times=1, denied=5, limit=100.0):
    """Events in the hourly windows ``hours_ago`` (0: the last whole hour before AS_OF)."""
    events = [(f"t:{uuid.uuid4().hex}", Exhaustion(kind, bucket, AS_OF - timedelta(hours=h + 1, minutes=-30),
                                                   denied, denied, limit)) for h in hours_ago for _ in range(times)]
    with engine.begin() as conn:
        record(conn, events, "test")


def test_window_boundaries(engine):
    """Windows are [as_of - n h, as_of): an event exactly at the start counts, one at as_of does not."""
    with engine.begin() as conn:
        record(conn, [("a", Exhaustion("user", "edge", AS_OF - timedelta(hours=1), 1, 1, 10.0)),
                      ("b", Exhaustion("user", "edge", AS_OF - timedelta(microseconds=1), 1, 1, 10.0)),
                      ("c", Exhaustion("user", "edge", AS_OF, 1, 1, 10.0)),
                      ("d", Exhaustion("user", "edge", AS_OF - timedelta(hours=24), 1, 1, 10.0)),
                      ("e", Exhaustion("user", "edge", AS_OF - timedelta(hours=24, microseconds=1), 1, 1, 10.0)),
                      ("f", Exhaustion("user", "edge", AS_OF - timedelta(days=7), 1, 1, 10.0)),
                      ("g", Exhaustion("user", "edge", AS_OF - timedelta(days=7, microseconds=1), 1, 1, 10.0))],
               "test")
    (s,) = run(engine, AS_OF + timedelta(minutes=59), QuotaConfig())  # floored to AS_OF
    assert (s.exhaustions_1h, s.exhaustions_24h, s.exhaustions_7d) == (2, 3, 5)
    assert s.windows_exhausted == 2 and s.windows == 24 and s.trend == 3 - 1
    (later,) = run(engine, AS_OF + timedelta(hours=1), QuotaConfig())  # the windows move by one hour
    assert (later.exhaustions_1h, later.exhaustions_24h, later.exhaustions_7d) == (1, 3, 5)  # +c, -d, -f


def test_the_hourly_run_skips_buckets_quiet_for_longer_than_any_window(engine):
    _exhaust(engine, "u-now", [0])
    _exhaust(engine, "u-3d", [72])
    assert {s.bucket for s in run(engine, AS_OF, QuotaConfig(), store=False)} == {"u-now", "u-3d"}
    assert [s.bucket for s in run(engine, AS_OF, QuotaConfig(), active_only=True)] == ["u-now"]
    wide = QuotaConfig(kinds={"user": Threshold(windows=96, min_exhausted=2)})
    (both,) = [s for s in run(engine, AS_OF, wide, active_only=True) if s.bucket == "u-3d"]
    assert both.windows_exhausted == 1 and both.windows == 96


def test_late_events_in_already_rolled_up_hours_are_counted(engine):
    """The Redis stream drained hours late: events for hours already rolled up still count, once."""
    _exhaust(engine, "u-late", [0])
    assert run(engine, AS_OF, QuotaConfig())[0].exhaustions_24h == 1
    _exhaust(engine, "u-late", [0, 5, 20])
    (s,) = run(engine, AS_OF, QuotaConfig())
    assert (s.exhaustions_1h, s.exhaustions_24h, s.windows_exhausted) == (2, 4, 3)
    assert run(engine, AS_OF, QuotaConfig())[0].exhaustions_24h == 4  # re-running changes nothing


def test_frequently_exhausted_is_n_of_m_with_per_kind_overrides(engine):
    _exhaust(engine, "u-often", range(6))                        # 6 of the last 24 h
    _exhaust(engine, "u-rare", range(0, 10, 2)[:5])              # 5 of 24
    _exhaust(engine, "github:writes", [0, 1], kind="platform", times=3, denied=500, limit=5000.0)
    config = QuotaConfig(kinds={"platform": Threshold(windows=3, min_exhausted=2)}, headroom=1.5)
    stats = {s.bucket: s for s in run(engine, AS_OF, config)}
    assert stats["u-often"].frequent and not stats["u-rare"].frequent
    gh = stats["github:writes"]
    assert gh.frequent and (gh.windows, gh.windows_exhausted, gh.exhaustions_24h) == (3, 2, 6)
    assert (gh.peak_demand, gh.limit_per_hour, gh.suggested_limit) == (6500.0, 5000.0, 9750)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(quota_exhaustion_stats)).scalar() == 3


def test_alerts_once_a_day_then_resolved(engine):
    _exhaust(engine, "u-1", range(6))
    with WebhookReceiver() as hook:
        alerter = Alerter(hook.url_for())
        stats = run(engine, AS_OF, QuotaConfig())
        assert send_alerts(engine, alerter, stats, QuotaConfig(), AS_OF).alerted == ["user u-1"]
        assert send_alerts(engine, alerter, stats, QuotaConfig(), AS_OF + timedelta(hours=1)).alerted == []
        (alert,) = hook.alerts
        assert alert["details"]["suggested_limit"] == 132 and "raise the limit" in alert["details"]["action"]
        later = AS_OF + timedelta(hours=30)  # the 6 exhausted hours left the 24-hour windows
        outcome = send_alerts(engine, alerter, run(engine, later, QuotaConfig()), QuotaConfig(), later)
        assert outcome.resolved == ["user u-1"] and hook.alerts[-1]["severity"] == "resolved"
        assert len(hook.alerts) == 2


def test_a_storm_is_one_grouped_alert_with_the_top_buckets(engine):
    for i in range(40):
        _exhaust(engine, f"u-{i:02d}", range(6 + (i % 5)))
    config = QuotaConfig(storm_threshold=10, top=5)
    with WebhookReceiver() as hook:
        outcome = send_alerts(engine, Alerter(hook.url_for()), run(engine, AS_OF, config), config, AS_OF)
        assert outcome.grouped and len(outcome.alerted) == 40
        (alert,) = hook.alerts
    assert alert["details"]["count"] == 40 and len(alert["details"]["top"]) == 5
    assert {t["windows_exhausted"] for t in alert["details"]["top"]} == {10}


def test_retention_prunes_old_rows_only(engine):
    _exhaust(engine, "u-1", [0, 24 * 40])
    run(engine, AS_OF, QuotaConfig())
    assert prune(engine, timedelta(days=30), AS_OF)["events"] == 1
    assert [e.hour for e in _events(engine)] == [AS_OF - timedelta(hours=1)]


@pytest.mark.parametrize("text, expected", [
    ("default: {windows: 24, min_exhausted: 30}\n", "min_exhausted (30) must be at most windows (24)"),
    ("kinds: {tenant: {windows: 3}}\n", "kinds.tenant"),
    ("headroom: .nan\n", "headroom"),
    ("default: {windows: 500}\n", "default.windows"),
])
def test_bad_config_is_a_clear_error(tmp_path, text, expected):
    path = tmp_path / "quota.yaml"
    path.write_text(text)
    with pytest.raises(ConfigFileError, match="quota.yaml") as info:
        load_config(path)
    assert expected in str(info.value) and info.value.exit_code == 2


# --- Dagster and the CLI ----------------------------------------------------------------------------------

def _recent(engine, bucket, kind="user", hours=range(6), denied=5, limit=100.0):
    """Exhaustions in the last whole hours before now (the CLI and the asset use the wall clock)."""
    from cloudmake_pipelines.quota.events import floor_hour

    top = floor_hour(datetime.now(UTC))
    with engine.begin() as conn:
        record(conn, [(f"t:{uuid.uuid4().hex}", Exhaustion(kind, bucket, top - timedelta(hours=h + 1, minutes=-30),
                                                           denied, denied, limit)) for h in hours], "test")


def test_cli_report_events_and_exit_codes(engine, db_url, tmp_path, monkeypatch, cloudmake_main):
    import json

    monkeypatch.setenv("DATABASE_URL", db_url)
    _recent(engine, "u-calm", hours=[0])
    ok = cloudmake_main("quota", "report", "--json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["top"][0]["bucket"] == "u-calm"
    _recent(engine, "github:writes", kind="platform", denied=700, limit=5000.0)
    bad = cloudmake_main("quota", "report", "--kind", "platform", "--json")
    body = json.loads(bad.stdout)
    assert bad.returncode == 1 and body["frequent"] == 1
    expected = {"bucket": "github:writes", "windows_exhausted": 6, "suggested_limit": 7125}  # (5000 + 700) * 1.25
    assert {k: body["top"][0][k] for k in expected} == expected
    text = cloudmake_main("quota", "report", "--top", "1")
    assert text.returncode == 1 and "github:writes" in text.stdout and "1 of 2 bucket(s) frequently" in text.stdout
    listed = json.loads(cloudmake_main("quota", "events", "--bucket", "github:writes", "--json").stdout)
    assert len(listed) == 6 and listed[0]["denied"] == 700
    (tmp_path / "q.yaml").write_text("kinds: {platform: {windows: 24, min_exhausted: 7}}\n")
    assert cloudmake_main("quota", "report", "--config", str(tmp_path / "q.yaml")).returncode == 0


def test_cli_bad_config_and_numbers_exit_2(engine, db_url, tmp_path, monkeypatch, cloudmake_main):
    path = tmp_path / "q.yaml"
    path.write_text("default:\n  windows: 24\n  min_exhausted: lots\n")
    monkeypatch.setenv("DATABASE_URL", db_url)
    cases = [(["report", "--config", str(path)], f"{path}:3: default.min_exhausted"),
             (["report", "--top", "0"], "'--top'"),
             (["prune", "--older-than", "1d"], "'1d' is not between 8d and 3650d")]
    for args, message in cases:
        done = cloudmake_main("quota", *args)
        assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, (args, done.stderr)


def test_asset_consumes_the_stream_computes_alerts_and_its_check_fails_on_a_platform_bucket(engine, db_url, stream,
                                                                                           monkeypatch):
    import dagster as dg

    from cloudmake_pipelines.assets import quota as quota_module
    from cloudmake_pipelines.quota.events import floor_hour
    from cloudmake_pipelines.resources import AlertsResource, DatabaseResource, shared_resources
    from cloudmake_pipelines.resources.quota import QuotaResource
    from cloudmake_pipelines.settings import get_settings
    from tests.support.fake_pushgateway import FakePushgateway

    client, name = stream
    top = floor_hour(datetime.now(UTC))
    for h in range(6):
        client.xadd(name, {"kind": "platform", "bucket": "github:writes", "requested": "50", "denied": "20",
                           "limit_per_hour": "5000", "at": str((top - timedelta(hours=h + 1, minutes=-5)).timestamp())})
    monkeypatch.setenv("CLOUDMAKE_QUOTA_REDIS_URL", "redis://127.0.0.1:6379/0")
    get_settings.cache_clear()
    defs = dg.Definitions.merge(quota_module.defs, dg.Definitions(resources=shared_resources()))
    with WebhookReceiver() as hook, FakePushgateway() as gateway:
        monkeypatch.setenv("PROMETHEUS_PUSHGATEWAY_URL", gateway.url)
        get_settings.cache_clear()
        resources = {"database": DatabaseResource(url=db_url), "alerts": AlertsResource(webhook_url=hook.url_for()),
                     "quota": QuotaResource(stream=name)}
        with dg.instance_for_test() as instance:
            result = defs.resolve_job_def("quota_exhaustion_job").execute_in_process(
                instance=instance, resources=resources, raise_on_error=False)
            checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
            event = instance.get_latest_materialization_event(dg.AssetKey("quota_exhaustion"))
            metadata = {k: v.value for k, v in event.asset_materialization.metadata.items()}
        (alert,) = hook.alerts
        pushed = gateway.pushes[-1].text
    assert checks == {"no_platform_bucket_frequently_exhausted": False}
    assert metadata["stream_entries_stored"] == 6 and metadata["frequently_exhausted_platform"] == 1
    assert metadata["events_pruned"] == 0
    assert metadata["top_buckets"].records[0].data["bucket"] == "github:writes"
    assert alert["key"].startswith("quota:platform:github:writes:") and alert["details"]["peak_demand"] == 5020.0
    assert 'quota_buckets_frequently_exhausted{kind="platform"} 1.0' in pushed
    assert client.xpending(name, "cloudmake-quota")["pending"] == 0
    get_settings.cache_clear()
