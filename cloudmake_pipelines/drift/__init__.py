"""Spec drift detection (seed task 3, SC-008): a spec-kit spec against the code, in four dimensions.

``run_check(target)`` reads ``specs/NNN-feature/`` (entities in ``data-model.md``, OpenAPI contracts,
DTCG design tokens) and the code (a database built from the target's migrations, the app's OpenAPI and
a static route scan, OpenAPI/JSON Schema/Pydantic schemas, CSS custom properties) and returns a
:class:`DriftReport`. ``snapshots.record`` stores it; ``comment.sync_comment`` keeps the sticky PR
comment. No Dagster here: the asset in ``assets/drift.py`` and the CLI in ``cli/drift.py`` call this.
"""

from ..lazy import lazy_exports
from . import snapshots
from .model import DIMENSIONS, KINDS, DriftItem, DriftReport, SpecError

# Imported on first use (see lazy.py): the asset's module (loaded with the Dagster definitions) needs the model
# and snapshots, not the checker's Alembic, markdown-it and YAML.
__getattr__ = lazy_exports(__name__, {"run_check": ".check"})

__all__ = ["run_check", "snapshots", "DriftItem", "DriftReport", "SpecError", "DIMENSIONS", "KINDS"]
