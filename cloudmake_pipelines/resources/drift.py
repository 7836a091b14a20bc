"""Dagster resource for spec drift detection: which repository to check."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from ..drift import DriftReport, run_check

#: This repository, when the package runs from its checkout (dogfooding: it carries specs/).
REPOSITORY = Path(__file__).resolve().parents[2]


class DriftTargetResource(dg.ConfigurableResource):
    """``target`` unset means ``CLOUDMAKE_DRIFT_TARGET``, else this repository (when it has ``specs/``),
    else the working directory. ``config`` is a drift.yaml other than ``<target>/drift.yaml``."""

    target: str | None = None
    config: str | None = None

    def target_path(self) -> Path:
        chosen = self.target or os.environ.get("CLOUDMAKE_DRIFT_TARGET")
        if chosen:
            return Path(chosen).expanduser().resolve()
        return REPOSITORY if (REPOSITORY / "specs").is_dir() else Path.cwd().resolve()

    def check(self) -> DriftReport:
        return run_check(self.target_path(), config_path=Path(self.config) if self.config else None)
