"""One module per scheduled task: thin assets, their checks and schedules. Each module exposes ``defs``."""
