"""An outage notification travels to the alert job as run config by its own to_config/from_config."""

import json
from datetime import UTC, datetime

import pytest

from cloudmake_pipelines.alerts import Alert
from cloudmake_pipelines.errors import ConfigError
from cloudmake_pipelines.outages import Notification


def test_a_notification_round_trips_through_plain_json_run_config():
    alert = Alert(task="mcp_outage_detector", key="mcp_outage:docs:2026-11-29T08:00:00+00:00",
                  summary="docs degraded for 2 min", severity="error",
                  details={"fallback": "use the cache", "transitions": [1, 2]}, environment="production")
    notification = Notification("opened", "docs", datetime(2026, 11, 29, 8, 0, tzinfo=UTC), alert)
    config = notification.to_config()
    assert json.loads(json.dumps(config)) == config  # what a RunRequest and the launchpad carry
    assert Notification.from_config(config) == notification


def test_bad_run_config_names_what_was_expected():
    config = Notification("resolved", "docs", datetime(2026, 11, 29, 8, 0, tzinfo=UTC),
                          Alert(task="t", key="k", summary="s")).to_config()
    del config["alert"]
    with pytest.raises(ConfigError, match="'alert'.*expected kind, server, started_at"):
        Notification.from_config(config)
    with pytest.raises(ConfigError, match="ISO 8601"):
        Notification.from_config({**config, "started_at": "yesterday", "alert": {"task": "t", "key": "k",
                                                                                  "summary": "s"}})
