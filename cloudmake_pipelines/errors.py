"""The few exception types every command and asset agrees on, with the exit code each maps to."""


class CloudMakeError(Exception):
    """Base class: the message is safe to show (no secrets) and says what to do."""

    exit_code = 1


class ConfigError(CloudMakeError):
    """Bad input: an environment variable, option, or file that is not what was expected (exit 2)."""

    exit_code = 2


class CheckFailed(CloudMakeError):
    """A check ran and found a problem (exit 1)."""

    exit_code = 1
