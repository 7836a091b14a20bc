"""The data layer: one SQLAlchemy MetaData for every table, engines, and Alembic migrations."""

from .engine import make_engine
from .tables import metadata

__all__ = ["make_engine", "metadata"]
