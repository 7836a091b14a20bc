"""Secret scanning for pre-commit and CI: rules as data, a hyperscan-prefiltered engine, sanitized reports.

Plain Python (no Dagster); ``cloudmake secrets scan`` is the command. Importing this package is cheap:
hyperscan and YAML load only when a scan needs them.
"""
