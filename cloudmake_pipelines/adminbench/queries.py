"""The admin console's queries (seed task 10: user list, audit logs, sessions), as the admin roles run them.

The platform admin filters by tenant explicitly; a tenant's admin relies on RLS alone for that filter
(``tenant_audit_log``), the case where a policy written with an admin ``OR`` arm loses the index.

Each lists one page with keyset paging: ``ORDER BY <time> DESC, id DESC`` and a ``(<time>, id) < (...)``
cursor from the last row of the previous page, never ``OFFSET``. Filters are the console's: a tenant, a
status, a time window, an operation type, a user. Their values are drawn from the dataset itself
(:class:`Sample`), so the same queries benchmark a synthetic schema or a real database.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, text

from ..errors import CheckFailed
from . import rls

PAGE_SIZE = 50
#: The cursor of a first page: after every real row.
FIRST_PAGE = {"before_ts": datetime(9999, 12, 31, tzinfo=UTC), "before_id": 2**63 - 1}


@dataclass(frozen=True)
class Sample:
    """Real filter values of the dataset: (tenant_id, user_id) pairs and operation types."""

    users: list[tuple[str, int]]
    operation_types: list[str]


@dataclass(frozen=True)
class AdminQuery:
    name: str
    description: str
    sql: str
    #: the filters of a new walk through the pages: (sample, rng, now) -> bind parameters
    filters: Callable[[Sample, random.Random, datetime], dict[str, Any]]
    #: the columns of a result row that make the next page's cursor (time, id)
    cursor: tuple[str, str]
    #: who runs it: the platform admin (with its claim), or a tenant's admin (the tenant setting from ``tenant_id``)
    role: str = rls.ADMIN_ROLE


def _tenant(sample: Sample, rng: random.Random, _now: datetime) -> dict[str, Any]:
    return {"tenant_id": rng.choice(sample.users)[0]}


def _user(sample: Sample, rng: random.Random, _now: datetime) -> dict[str, Any]:
    tenant_id, user_id = rng.choice(sample.users)
    return {"tenant_id": tenant_id, "user_id": user_id}


ADMIN_QUERIES: tuple[AdminQuery, ...] = (
    AdminQuery(
        "user_list",
        "a tenant's active users, newest first",
        """SELECT id, tenant_id, email, display_name, role, status, created_at, last_login_at
           FROM users
           WHERE tenant_id = :tenant_id AND status = 'active' AND (created_at, id) < (:before_ts, :before_id)
           ORDER BY created_at DESC, id DESC LIMIT :page_size""",
        _tenant,
        ("created_at", "id"),
    ),
    AdminQuery(
        "audit_logs_by_tenant",
        "a tenant's audit trail of the last 90 days",
        """SELECT id, tenant_id, occurred_at, operation_type, actor, environment, detail
           FROM admin_audit_logs
           WHERE tenant_id = :tenant_id AND occurred_at >= :since AND (occurred_at, id) < (:before_ts, :before_id)
           ORDER BY occurred_at DESC, id DESC LIMIT :page_size""",
        lambda sample, rng, now: {**_tenant(sample, rng, now), "since": now - timedelta(days=90)},
        ("occurred_at", "id"),
    ),
    AdminQuery(
        "audit_logs_by_operation",
        "one operation type across all tenants (and platform rows), last 7 days",
        """SELECT id, tenant_id, occurred_at, operation_type, actor, environment, detail
           FROM admin_audit_logs
           WHERE operation_type = :operation_type AND occurred_at >= :since
             AND (occurred_at, id) < (:before_ts, :before_id)
           ORDER BY occurred_at DESC, id DESC LIMIT :page_size""",
        lambda sample, rng, now: {"operation_type": rng.choice(sample.operation_types),
                                  "since": now - timedelta(days=7)},
        ("occurred_at", "id"),
    ),
    AdminQuery(
        "active_sessions_by_tenant",
        "a tenant's live sessions with their user's email, most recently seen first",
        """SELECT s.id, s.user_id, u.email, s.auth_method, s.ip_address, s.created_at, s.last_seen_at, s.expires_at
           FROM sessions AS s
           JOIN users AS u ON u.tenant_id = s.tenant_id AND u.id = s.user_id
           WHERE s.tenant_id = :tenant_id AND s.revoked_at IS NULL AND s.expires_at > :now
             AND (s.last_seen_at, s.id) < (:before_ts, :before_id)
           ORDER BY s.last_seen_at DESC, s.id DESC LIMIT :page_size""",
        lambda sample, rng, now: {**_tenant(sample, rng, now), "now": now},
        ("last_seen_at", "id"),
    ),
    AdminQuery(
        "sessions_by_user",
        "one user's sessions, newest first",
        """SELECT id, auth_method, ip_address, user_agent, created_at, last_seen_at, expires_at, revoked_at
           FROM sessions
           WHERE tenant_id = :tenant_id AND user_id = :user_id AND (created_at, id) < (:before_ts, :before_id)
           ORDER BY created_at DESC, id DESC LIMIT :page_size""",
        _user,
        ("created_at", "id"),
    ),
    AdminQuery(
        "tenant_audit_log",
        "a tenant admin's own audit trail, as cloudmake_tenant: the tenant filter comes from RLS alone",
        """SELECT id, occurred_at, operation_type, actor, environment, detail
           FROM admin_audit_logs
           WHERE (occurred_at, id) < (:before_ts, :before_id)
           ORDER BY occurred_at DESC, id DESC LIMIT :page_size""",
        _tenant,
        ("occurred_at", "id"),
        role=rls.TENANT_ROLE,
    ),
)
QUERY_NAMES = tuple(query.name for query in ADMIN_QUERIES)


def load_sample(conn: Connection, rng: random.Random, size: int = 500) -> Sample:
    """Draw filter values from the data ``conn`` can see (call it as the admin role)."""
    seed = rng.random() * 2 - 1
    conn.execute(text("SELECT setseed(:s)"), {"s": seed})
    pairs = conn.execute(text("SELECT tenant_id, id FROM users ORDER BY random() LIMIT :n"), {"n": size}).all()
    operations = conn.execute(text(  # the recent ones, through the primary key: no scan of the whole log
        "SELECT DISTINCT operation_type FROM (SELECT operation_type FROM admin_audit_logs ORDER BY id DESC "
        "LIMIT 10000) AS recent ORDER BY 1")).scalars().all()
    if not pairs:
        raise CheckFailed("no users are visible to the admin role: nothing to benchmark "
                          "(seed a synthetic dataset with --seed, or check the RLS settings)")
    return Sample([(tenant, int(user)) for tenant, user in pairs], list(operations) or ["(none)"])


class Pager:
    """Walks ``pages`` pages of one query's results, then starts a new walk with fresh filters."""

    def __init__(self, query: AdminQuery, sample: Sample, rng: random.Random, now: datetime, pages: int = 3):
        self.query, self.sample, self.rng, self.now, self.pages = query, sample, rng, now, pages
        self._filters: dict[str, Any] = {}
        self._page = pages

    def next_params(self) -> dict[str, Any]:
        if self._page >= self.pages:
            self._filters = {**self.query.filters(self.sample, self.rng, self.now), "page_size": PAGE_SIZE,
                             **FIRST_PAGE}
            self._page = 0
        self._page += 1
        return dict(self._filters)

    def saw(self, rows: list[Any]) -> None:
        """Continue after the last row, or start over when the page was the last one."""
        if len(rows) < PAGE_SIZE:
            self._page = self.pages
            return
        ts_column, id_column = self.query.cursor
        last = rows[-1]._mapping
        self._filters.update(before_ts=last[ts_column], before_id=last[id_column])
