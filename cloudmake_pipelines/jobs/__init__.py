"""Op-based jobs (work that is an action, not a data asset). Each module exposes ``defs``."""
