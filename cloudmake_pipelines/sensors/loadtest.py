"""Seed task 1's sensor: ``mcp_server_metrics``' partitions follow the MCP server registry.

The asset, its checks and the nightly schedule are in :mod:`cloudmake_pipelines.assets.loadtest`.
"""

import dagster as dg

from ..assets.loadtest import PARTITIONS_NAME, mcp_server_partitions, partition_changes
from ..mcp import Registry
from ..resources import DatabaseResource


@dg.sensor(name="mcp_server_partitions_sync", minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Keeps mcp_server_metrics' partitions equal to the registered MCP servers.")
def mcp_server_partitions_sync(context: dg.SensorEvaluationContext, database: DatabaseResource) -> dg.SensorResult:
    names = [s.name for s in Registry(database.get_engine()).list()]
    add, delete = partition_changes(names, context.instance.get_dynamic_partitions(PARTITIONS_NAME))
    requests = ([mcp_server_partitions.build_add_request(add)] if add else []) + (
        [mcp_server_partitions.build_delete_request(delete)] if delete else [])
    context.log.info(f"partitions: {len(names)} servers, added {add or 'none'}, deleted {delete or 'none'}")
    return dg.SensorResult(dynamic_partitions_requests=requests)


defs = dg.Definitions(sensors=[mcp_server_partitions_sync])
