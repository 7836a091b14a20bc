"""CloudMake Pipelines: CloudMake's scheduled operations, as plain Python domain code wrapped by Dagster."""
