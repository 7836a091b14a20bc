"""Drift snapshots in the ``mcp_drift_snapshots`` table, and what changed since the previous one."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import Engine, insert, select

from ..db.tables import mcp_drift_snapshots as table
from ..logs import get_logger
from .model import DriftItem, DriftReport

log = get_logger("drift")


@dataclass
class SnapshotChange:
    snapshot_id: int
    new: list[DriftItem] = field(default_factory=list)  # drift absent from the previous snapshot
    resolved: list[DriftItem] = field(default_factory=list)  # drift of the previous snapshot now gone
    first: bool = False  # no previous snapshot for this target


def target_key(target: str) -> str:
    """The ``target`` column value (200 characters at most: the path's tail is the informative part)."""
    return target if len(target) <= 200 else "…" + target[-199:]


def latest(engine: Engine, target: str) -> dict | None:
    with engine.connect() as conn:
        row = conn.execute(select(table).where(table.c.target == target_key(target))
                           .order_by(table.c.taken_at.desc(), table.c.id.desc()).limit(1)).mappings().first()
    return dict(row) if row else None


def record(engine: Engine, report: DriftReport, taken_at: dt.datetime) -> SnapshotChange:
    """Store one snapshot row and log only the drift that is new since the previous snapshot."""
    with engine.begin() as conn:
        previous = conn.execute(select(table.c["items"]).where(table.c.target == target_key(report.target))
                                .order_by(table.c.taken_at.desc(), table.c.id.desc()).limit(1)).first()
        snapshot_id = conn.execute(insert(table).values(
            target=target_key(report.target), taken_at=taken_at, has_drift=report.has_drift,
            counts=report.counts, items=[item.as_dict() for item in report.items],
            spec_digest=report.spec_digest, code_revision=report.code_revision,
            duration_ms=report.duration_ms,
        ).returning(table.c.id)).scalar_one()
    before = {entry["key"]: DriftItem.from_dict(entry) for entry in (previous[0] if previous else [])}
    now = {item.key: item for item in report.items}
    change = SnapshotChange(snapshot_id, [now[k] for k in now if k not in before],
                            [before[k] for k in before if k not in now], first=previous is None)
    for item in change.new:
        log.warning(f"new spec drift: {item.key}", extra={
            "target": report.target, "key": item.key, "dimension": item.dimension, "kind": item.kind,
            "item": item.name, "expected": item.expected, "actual": item.actual, "location": item.location})
    for item in change.resolved:
        log.info(f"spec drift resolved: {item.key}", extra={"target": report.target, "key": item.key})
    log.info("drift snapshot stored", extra={"target": report.target, "snapshot_id": snapshot_id,
                                             "has_drift": report.has_drift, "new": len(change.new),
                                             "resolved": len(change.resolved)})
    return change
