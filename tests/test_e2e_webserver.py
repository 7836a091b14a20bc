"""The Dagster UI as a user gets it: dagster-webserver on the code location, inspected via its GraphQL API."""

import os
import sys
import time
from pathlib import Path

import httpx
import pytest

from cloudmake_pipelines.definitions import defs
from tests.support.processes import spawn
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

QUERY = """
{
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        locationOrLoadError {
          __typename
          ... on PythonError { message }
          ... on RepositoryLocation {
            repositories {
              name
              jobs { name }
              schedules { name cronSchedule executionTimezone }
              sensors { name minIntervalSeconds }
              assetNodes {
                assetKey { path }
                assetChecksOrError { ... on AssetChecks { checks { name } } }
              }
            }
          }
        }
      }
    }
  }
}
"""


def expected():
    repo = defs.get_repository_def()
    return {
        "jobs": {j.name for j in repo.get_all_jobs()},
        "schedules": {(s.name, s.cron_schedule) for s in repo.schedule_defs},
        "sensors": {s.name for s in repo.sensor_defs},
        "assets": {"/".join(k.path) for k in repo.asset_graph.get_all_asset_keys()},
        "checks": {k.name for k in repo.asset_graph.asset_check_keys},
    }


@pytest.mark.e2e
def test_webserver_serves_every_definition_without_load_errors(embedded_dagster_home, tmp_path):
    env = {**os.environ, "DAGSTER_HOME": str(embedded_dagster_home), "DATABASE_URL": f"sqlite:///{tmp_path}/cm.db"}
    port = free_port()
    args = [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port), "-w", str(ROOT / "workspace.yaml")]
    with spawn(args, env, tmp_path / "webserver.log", cwd=tmp_path):
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/server_info", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "webserver.log").read_text()[-3000:]
            time.sleep(0.5)
        body = httpx.post(f"{base}/graphql", json={"query": QUERY}, timeout=60).json()

    assert "errors" not in body, body
    (entry,) = body["data"]["workspaceOrError"]["locationEntries"]
    location = entry["locationOrLoadError"]
    assert location["__typename"] == "RepositoryLocation", location.get("message")
    (repo,) = location["repositories"]
    want = expected()
    assert {j["name"] for j in repo["jobs"]} >= want["jobs"]
    assert {(s["name"], s["cronSchedule"]) for s in repo["schedules"]} == want["schedules"]
    assert all(s["executionTimezone"] == "UTC" for s in repo["schedules"])
    assert {s["name"] for s in repo["sensors"]} == want["sensors"]
    assert {"/".join(a["assetKey"]["path"]) for a in repo["assetNodes"]} == want["assets"]
    checks = {c["name"] for a in repo["assetNodes"] for c in (a["assetChecksOrError"] or {}).get("checks", [])}
    assert checks == want["checks"]
