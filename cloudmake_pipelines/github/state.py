"""Local sync state per (target, secret): what we last wrote, when, and what GitHub said about it.

GitHub never returns secret values and two seals of one value differ, so "unchanged" can only be known
locally. We keep a keyed hash (HMAC-SHA256 under a key held outside this table, never a plain hash that
could be brute-forced from a database dump) of the value together with the visibility and selected
repositories, so a change to any of them is a change.

Crash safety: before a write we record a *pending* marker; after GitHub confirms it, the digest. A run
killed between the two leaves the marker, and the next run knows the secret on GitHub may be ours and
rewrites it instead of calling it a conflict.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, and_, bindparam, delete, select, update

from ..db.helpers import dialect_insert
from ..db.tables import github_sync_state
from ..db.types import utcnow
from .targets import Target

_T = github_sync_state


def digest(hmac_key: bytes, target: Target, value: str) -> str:
    payload = json.dumps([value, target.visibility, sorted(target.selected_repository_ids)])
    return hmac.new(hmac_key, payload.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class SecretState:
    name: str
    digest: str | None
    written_at: datetime | None
    remote_updated_at: datetime | None
    created_by_us: bool
    pending_digest: str | None
    pending_at: datetime | None


class SyncStateStore:
    def __init__(self, engine: Engine, clock: Callable[[], datetime] = utcnow):
        self.engine = engine
        self.clock = clock

    def load(self, target_key: str) -> dict[str, SecretState]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(_T).where(_T.c.target_key == target_key)).all()
        return {r.secret_name: SecretState(r.secret_name, r.digest, r.written_at, r.remote_updated_at,
                                           r.created_by_us, r.pending_digest, r.pending_at) for r in rows}

    def mark_pending(self, target_key: str, writes: Iterable[tuple[str, str, bool]]) -> None:
        """Before writing: (name, digest, creating) for each secret about to be written, in one transaction."""
        now = self.clock()
        rows = [{"target_key": target_key, "secret_name": name, "pending_digest": d, "pending_at": now,
                 "created_by_us": creating} for name, d, creating in writes]
        if not rows:
            return
        with self.engine.begin() as conn:
            stmt = dialect_insert(conn, _T)
            conn.execute(stmt.on_conflict_do_update(
                index_elements=["target_key", "secret_name"],
                set_={"pending_digest": stmt.excluded.pending_digest, "pending_at": stmt.excluded.pending_at}),
                rows)

    def confirm(self, target_key: str, written: list[tuple[str, str, bool]]) -> None:
        """GitHub confirmed these writes, (name, digest, created): record them in one transaction."""
        if not written:
            return
        now = self.clock()
        where = (_T.c.target_key == bindparam("tk"), _T.c.secret_name == bindparam("sn"))
        with self.engine.begin() as conn:
            for created in (True, False):
                rows = [{"tk": target_key, "sn": name, "d": d} for name, d, c in written if c is created]
                values = {"digest": bindparam("d"), "written_at": now, "remote_updated_at": None,
                          "pending_digest": None, "pending_at": None}
                if created:
                    values["created_by_us"] = True
                if rows:
                    conn.execute(update(_T).where(*where).values(**values), rows)

    def clear_pending(self, target_key: str, name: str) -> None:
        """The write did not happen: drop the marker (and the row, if nothing was ever written)."""
        with self.engine.begin() as conn:
            conn.execute(delete(_T).where(self._row(target_key, name), _T.c.digest.is_(None)))
            conn.execute(update(_T).where(self._row(target_key, name)).values(pending_digest=None, pending_at=None))

    def record_remote(self, target_key: str, updated_at: dict[str, datetime]) -> None:
        """GitHub's ``updated_at`` of secrets we wrote: the baseline that later reveals changes made there."""
        if not updated_at:
            return
        stmt = update(_T).where(_T.c.target_key == bindparam("tk"), _T.c.secret_name == bindparam("sn")) \
            .values(remote_updated_at=bindparam("ru"))
        with self.engine.begin() as conn:
            conn.execute(stmt, [{"tk": target_key, "sn": n, "ru": t} for n, t in updated_at.items()])

    def forget(self, target_key: str, names: Iterable[str]) -> None:
        names = list(names)
        if names:
            with self.engine.begin() as conn:
                conn.execute(delete(_T).where(_T.c.target_key == target_key, _T.c.secret_name.in_(names)))

    @staticmethod
    def _row(target_key: str, name: str):
        return and_(_T.c.target_key == target_key, _T.c.secret_name == name)
