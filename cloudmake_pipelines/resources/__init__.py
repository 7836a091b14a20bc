"""Dagster resources: thin, configurable handles on the domain's clients.

A field that stands for an environment variable has the field name of its settings group
(:mod:`cloudmake_pipelines.settings`) and is a string, exactly as in the environment. :meth:`SettingsBacked.from_env`
wires it as ``dg.EnvVar(NAME)`` when the code location's environment sets the variable, so the UI's resource
page shows "NAME (env var)" and never the value; an unset variable gets the settings model's default
instead (a ``dg.EnvVar`` on an unset variable fails every launch, and most of ours are optional). At run
time :meth:`SettingsBacked.group` validates the fields with the same model as the environment (one parser,
one error message), so a value given in the launchpad is checked like the variable. Credentials never go
into a resource's config: they come from the settings.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, ClassVar

import dagster as dg
from sqlalchemy import Engine

from ..alerts import Alerter
from ..db.engine import make_engine
from ..settings import GROUPS, Settings, get_settings, is_set


@lru_cache(maxsize=16)
def _engine_for(url: str) -> Engine:
    return make_engine(url)


class SettingsBacked(dg.ConfigurableResource):
    """A resource whose fields override one settings group (``GROUP``): by the same field name, or as
    ``RENAMED`` maps a resource field to its group field."""

    GROUP: ClassVar[str]
    RENAMED: ClassVar[dict[str, str]] = {}

    @classmethod
    def _fields(cls) -> dict[str, str]:
        """Resource field -> settings group field, for the fields that stand for a variable."""
        group = GROUPS[cls.GROUP].model_fields
        return {name: cls.RENAMED.get(name, name) for name in cls.model_fields
                if cls.RENAMED.get(name, name) in group}

    @classmethod
    def from_env(cls, **given: Any):
        """The resource as a code location declares it: each variable the environment sets as ``dg.EnvVar``,
        the others at the settings model's default; ``given`` fields as passed."""
        values: dict[str, Any] = {}
        for name, field in cls._fields().items():
            info = GROUPS[cls.GROUP].model_fields[field]
            variable, default = str(info.validation_alias), info.get_default(call_default_factory=True)
            values[name] = dg.EnvVar(variable) if is_set(variable) else None if default is None else str(default)
        return cls(**{**values, **given})

    def group(self, settings: Settings | None = None) -> Any:
        """The settings group with this resource's fields (those that are set) winning, validated again."""
        group = getattr(settings or get_settings(), self.GROUP)
        return group.merged(**{field: getattr(self, name) for name, field in self._fields().items()})


class DatabaseResource(SettingsBacked):
    """The platform database. ``database_url`` unset means ``DATABASE_URL`` (or the embedded SQLite default)."""

    GROUP: ClassVar[str] = "core"
    RENAMED: ClassVar[dict[str, str]] = {"url": "database_url"}
    url: str | None = None

    def get_engine(self) -> Engine:
        return _engine_for(self.group().database_url)


class AlertsResource(SettingsBacked):
    """Where alerts go. ``webhook_url`` unset means ``ALERT_WEBHOOK_URL`` (or log-only when that is unset)."""

    GROUP: ClassVar[str] = "alerts"
    webhook_url: str | None = None

    def get_alerter(self, engine: Engine, **options: Any) -> Alerter:
        """An alerter whose alerts go through the outbox in ``engine`` (the run's platform database)."""
        return Alerter(self.group().webhook_url, engine=engine, **options)


class SettingsResource(dg.ConfigurableResource):
    """The validated process settings (environment, credentials), for assets that need them."""

    def get(self) -> Settings:
        return get_settings()


def shared_resources() -> dict[str, dg.ConfigurableResource]:
    return {"database": DatabaseResource.from_env(), "alerts": AlertsResource.from_env(),
            "settings": SettingsResource()}

