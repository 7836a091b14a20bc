"""A reusable quota service: token buckets persisted in the database, shared by every run and process."""

from .service import Limit, QuotaService

__all__ = ["Limit", "QuotaService"]
