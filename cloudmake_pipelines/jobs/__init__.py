"""Op-only jobs (work that is an action, not a data asset), one module per task. Each exposes ``defs``."""
