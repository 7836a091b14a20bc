"""Sensors. Each module exposes ``defs``."""
