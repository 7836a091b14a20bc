"""Audit rows for key operations in ``admin_audit_logs``: together they form each rotation's timeline."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from ..db.tables import admin_audit_logs
from ..logs import redactor

JWT_ROTATION = "key_rotation"  # the seed's operation type for JWT signing-key rotation
MASTER_ROTATION = "master_key_rotation"


def record(conn: Connection, operation_type: str, *, actor: str, environment: str, at: datetime,
           **detail: Any) -> None:
    """Append one audit row (in the caller's transaction, so it commits with the change it describes).

    The detail (error messages, operator-typed text) passes the redactor first: the audit log is kept
    for good and readable by admins, so a pasted token must not land in it.
    """
    detail = json.loads(redactor(json.dumps(detail, default=str)))
    conn.execute(insert(admin_audit_logs).values(operation_type=operation_type, actor=redactor(actor),
                                                 environment=environment, occurred_at=at, detail=detail))


def timeline(conn: Connection, operation_type: str, rotation_id: str | None = None) -> list[dict[str, Any]]:
    """The audit rows of one operation type (optionally one rotation), oldest first."""
    rows = conn.execute(select(admin_audit_logs).where(admin_audit_logs.c.operation_type == operation_type)
                        .order_by(admin_audit_logs.c.id)).mappings().all()
    found = [dict(row) for row in rows]
    return [row for row in found if rotation_id is None or row["detail"].get("rotation_id") == rotation_id]
