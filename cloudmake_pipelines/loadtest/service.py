"""One call for "load-test this server, record the rows, raise the alert": what the asset and CLI share."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine

from ..alerts import Alert, Alerter
from ..db.helpers import require_tables
from ..db.tables import mcp_server_metrics, mcp_servers
from ..errors import ConfigError
from ..mcp import Registry
from .runner import ServerResult, load_test_server
from .store import save_result
from .thresholds import ThresholdsFile

TASK = "mcp_load_test"


def keyring_lookup(engine: Engine) -> Callable[[str], str]:
    """Reads ``secret:NAME`` auth values from the encrypted keyring, opened only when one is needed."""

    def lookup(name: str) -> str:
        from ..keys import SecretNotFound, open_keyring

        try:
            return open_keyring(engine).get(name)
        except SecretNotFound as exc:
            raise ConfigError(f"{exc} (store it: cloudmake keys put-secret {name})") from None

    return lookup


def alert_for(result: ServerResult, run_id: str) -> Alert | None:
    """The run's alert for this server, or None. Its key is per server and run: one alert each."""
    reasons = result.alert_reasons()
    if not reasons:
        return None
    return Alert(task=TASK, key=f"{TASK}:{result.server}:{run_id}",
                 summary=f"MCP server {result.server!r} breached its load-test alert thresholds",
                 severity="error", environment=result.environment,
                 details={"server": result.server, "reasons": reasons, "run_id": run_id,
                          "operations": result.operations})


def measure_and_record(engine: Engine, name: str, thresholds_file: ThresholdsFile, *, environment: str, run_id: str,
                    alerter: Alerter, overrides: dict | None = None,
                    on_arrival: Callable[[int, int], None] | None = None) -> tuple[ServerResult, bool]:
    """Load-test the registered server ``name``, save its rows under ``run_id``, alert when a condition
    holds. Returns the result and whether an alert was sent."""
    require_tables(engine, mcp_servers, mcp_server_metrics)  # before minutes of load, not after
    server = Registry(engine).get(name)
    thresholds = thresholds_file.for_server(name, server.thresholds).merged(overrides or {})
    result = load_test_server(server, thresholds, environment=environment, secrets=keyring_lookup(engine),
                              on_arrival=on_arrival)
    save_result(engine, result, run_id)
    alert = alert_for(result, run_id)
    if alert is not None:
        alerter.send(alert, occurrence="breach")  # the key names the run: a retried step alerts once
    return result, alert is not None
