"""Dagster resource for spec drift detection: which repository to check."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from . import SettingsBacked

if TYPE_CHECKING:
    from ..drift import DriftReport

#: This repository, when the package runs from its checkout (dogfooding: it carries specs/).
REPOSITORY = Path(__file__).resolve().parents[2]


class DriftTargetResource(SettingsBacked):
    """``target`` unset means ``CLOUDMAKE_DRIFT_TARGET``, else this repository (when it has ``specs/``),
    else the working directory. ``config`` is a drift.yaml other than ``<target>/drift.yaml``."""

    GROUP: ClassVar[str] = "drift"
    target: str | None = None
    config: str | None = None

    def target_path(self) -> Path:
        chosen = self.group().target
        if chosen:
            return Path(chosen).expanduser().resolve()
        return REPOSITORY if (REPOSITORY / "specs").is_dir() else Path.cwd().resolve()

    def check(self) -> DriftReport:
        from ..drift.check import run_check  # Alembic, markdown-it, ...: in the run, not at definitions load

        return run_check(self.target_path(), config_path=Path(self.config) if self.config else None)
