"""The platform's tables, one module per domain, all on one MetaData.

Import tables through :mod:`cloudmake_pipelines.db.tables`, which loads a domain's module when one of its
tables is first used; :data:`metadata` here holds only the domains loaded so far, ``db.tables.metadata`` all.
"""

from __future__ import annotations

from sqlalchemy import MetaData

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)
