"""The data layer: one SQLAlchemy MetaData for every table, engines, and Alembic migrations."""

from ..lazy import lazy_exports

# Imported on first use (see lazy.py and tables.py): the complete metadata defines every table.
__getattr__ = lazy_exports(__name__, {"make_engine": ".engine", "metadata": ".tables"})

__all__ = ["make_engine", "metadata"]
