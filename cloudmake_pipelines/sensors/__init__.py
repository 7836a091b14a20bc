"""Every sensor, one module per task (``sensors/<task>.py``). Each module exposes ``defs``."""
