"""Local sync state per (target, secret): what we last wrote, when, and what GitHub said about it.

GitHub never returns secret values and two seals of one value differ, so "unchanged" can only be known
locally. We keep a keyed hash (HMAC-SHA256 under a key held outside this table, never a plain hash that
could be brute-forced from a database dump) of the value together with the visibility and selected
repositories, so a change to any of them is a change.

Crash safety and conflicts: each write keeps its *attempt window* in GitHub's time: the ``Date`` of the
last response before it was sent, and the ``Date`` of its reply (or of the last response when it gave
up). The marker (``pending_digest``) and the window are committed before the write is sent, the reply
after. A listing later *settles* the secret: an ``updated_at`` inside the window is our write (its
digest becomes the one GitHub holds, and ``updated_at`` the baseline); the baseline itself means GitHub
is untouched; anything else is someone else's edit. Until settled the window stays, so a killed run, a
lost reply or an edit between our write and the listing is judged the same way by every later run.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, and_, bindparam, delete, select, update

from ..db.helpers import dialect_insert
from ..db.tables import github_sync_state
from ..db.types import utcnow
from .targets import Target

_T = github_sync_state
#: How far the ``updated_at`` GitHub stamps on a write may lie outside the ``Date`` headers around it:
#: both are whole seconds and may come from different GitHub servers. Two seconds either side; a foreign
#: edit within two seconds of our own write cannot be told from it (and nothing wider is tolerated).
CLOCK_SKEW = timedelta(seconds=2)
#: A write whose reply never arrived because the process died waiting for it (no reply, no later
#: response in that run) landed within one request timeout of being sent: the client's 30 s.
UNANSWERED_WRITE = timedelta(seconds=30)
OURS, UNTOUCHED, FOREIGN = "ours", "untouched", "foreign"


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
    attempt_sent_at: datetime | None = None
    attempt_replied_at: datetime | None = None

    def judge(self, updated_at: datetime) -> str:
        """Whose is GitHub's ``updated_at``: our unsettled write (OURS), our settled baseline (UNTOUCHED:
        nothing changed since, and an unsettled attempt did not land), or anyone else's (FOREIGN)."""
        if self.attempt_sent_at is not None:
            end = self.attempt_replied_at or self.attempt_sent_at + UNANSWERED_WRITE
            if self.attempt_sent_at - CLOCK_SKEW <= updated_at <= end + CLOCK_SKEW:
                return OURS
        if self.remote_updated_at is not None and updated_at == self.remote_updated_at:
            return UNTOUCHED
        return FOREIGN

    @property
    def attempted_digest(self) -> str | None:
        """What GitHub holds when the unsettled write landed."""
        return self.pending_digest or self.digest


class SyncStateStore:
    def __init__(self, engine: Engine, clock: Callable[[], datetime] = utcnow):
        self.engine = engine
        self.clock = clock

    def load(self, target_key: str) -> dict[str, SecretState]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(_T).where(_T.c.target_key == target_key)).all()
        return {r.secret_name: SecretState(r.secret_name, r.digest, r.written_at, r.remote_updated_at,
                                           r.created_by_us, r.pending_digest, r.pending_at, r.attempt_sent_at,
                                           r.attempt_replied_at) for r in rows}

    def begin_attempt(self, target_key: str, name: str, d: str, creating: bool, sent_at: datetime) -> None:
        """Before a write is sent: its digest and GitHub's time (the last ``Date`` seen), committed."""
        with self.engine.begin() as conn:
            stmt = dialect_insert(conn, _T).values(
                target_key=target_key, secret_name=name, pending_digest=d, pending_at=self.clock(),
                created_by_us=creating, attempt_sent_at=sent_at, attempt_replied_at=None)
            conn.execute(stmt.on_conflict_do_update(
                index_elements=["target_key", "secret_name"],
                set_={c: stmt.excluded[c] for c in ("pending_digest", "pending_at", "attempt_sent_at",
                                                    "attempt_replied_at")}))

    def end_attempt(self, target_key: str, name: str, replied_at: datetime | None, *, confirmed: bool,
                    created: bool = False) -> None:
        """GitHub answered (``confirmed``: 2xx, the digest is now GitHub's) or we gave up after a reply that
        does not prove the write failed (5xx): the window closes at ``replied_at`` and waits for a listing."""
        values: dict = {"attempt_replied_at": replied_at}
        if confirmed:
            values.update(digest=_T.c.pending_digest, written_at=self.clock(), pending_digest=None, pending_at=None)
            if created:
                values["created_by_us"] = True
        with self.engine.begin() as conn:
            conn.execute(update(_T).where(self._row(target_key, name)).values(**values))

    def close_windows(self, target_key: str, names: Iterable[str], replied_at: datetime | None) -> None:
        """Writes abandoned without any reply end, at the latest, at the next response GitHub sent."""
        names = list(names)
        if names and replied_at is not None:
            with self.engine.begin() as conn:
                conn.execute(update(_T).where(_T.c.target_key == target_key, _T.c.secret_name.in_(names),
                                              _T.c.attempt_sent_at.is_not(None),
                                              _T.c.attempt_replied_at.is_(None))
                             .values(attempt_replied_at=replied_at))

    def clear_pending(self, target_key: str, name: str) -> None:
        """The write did not happen (or did not land): drop the marker and window (and a never-written row)."""
        with self.engine.begin() as conn:
            conn.execute(delete(_T).where(self._row(target_key, name), _T.c.digest.is_(None)))
            conn.execute(update(_T).where(self._row(target_key, name)).values(
                pending_digest=None, pending_at=None, attempt_sent_at=None, attempt_replied_at=None))

    def settle(self, target_key: str, settled: dict[str, tuple[datetime, str | None]]) -> None:
        """A listing decided: GitHub holds digest with this ``updated_at`` (the baseline from now on)."""
        if not settled:
            return
        stmt = update(_T).where(_T.c.target_key == bindparam("tk"), _T.c.secret_name == bindparam("sn")).values(
            remote_updated_at=bindparam("ru"), digest=bindparam("d"), pending_digest=None, pending_at=None,
            attempt_sent_at=None, attempt_replied_at=None)
        with self.engine.begin() as conn:
            conn.execute(stmt, [{"tk": target_key, "sn": n, "ru": t, "d": d} for n, (t, d) in settled.items()])

    def forget(self, target_key: str, names: Iterable[str]) -> None:
        names = list(names)
        if names:
            with self.engine.begin() as conn:
                conn.execute(delete(_T).where(_T.c.target_key == target_key, _T.c.secret_name.in_(names)))

    @staticmethod
    def _row(target_key: str, name: str):
        return and_(_T.c.target_key == target_key, _T.c.secret_name == name)
