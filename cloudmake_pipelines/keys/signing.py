"""JWT signing keys (seed task 5): next / active / grace / retired, and the JWKS.

The practice of large identity providers: a ``next`` key is always published in the JWKS, long before
it signs anything, so every cache already holds it when it becomes ``active``. A rotation makes, in
one transaction, the next key active and the active key ``grace`` for 7 days (its tokens still verify),
then generates the following next key. After its grace a key is ``retired`` and leaves the JWKS.
Exactly one key is active at any moment. Private keys are sealed by the keyring (re-wrapped by a
master-key rotation). Each rotation writes ``admin_audit_logs`` rows with operation type ``key_rotation``.
The key material itself (generating, signing, verifying by ``kid``) is :mod:`.jwk`'s: reading the key set
(`cloudmake keys jwks`, `keys status`) does not load PyJWT and cryptography.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from ..db.locks import exclusive
from ..db.tables import signing_keys
from ..errors import CloudMakeError, ConfigError
from ..logs import get_logger
from . import audit, state
from .config import JWT_ALGORITHMS, JWT_GRACE_PERIOD, JWT_ROTATION_PERIOD, JWT_ROTATION_WINDOW
from .keyring import Keyring
from .master import RotationRefused

log = get_logger("keys")
KIND = "jwt"
PUBLISHED = ("active", "next", "grace")


@dataclass(frozen=True)
class Due:
    """When the active key is due for rotation (90 days after activation) and whether that time has come."""

    kid: str | None
    due_at: datetime | None
    is_due: bool

    @property
    def run_key(self) -> str | None:
        return f"jwt-rotation-{self.due_at:%Y-%m-%d}" if self.due_at else None


class SigningKeys:
    def __init__(self, keyring: Keyring, *, environment: str, actor: str, algorithm: str = "ES256"):
        if algorithm not in JWT_ALGORITHMS:
            raise ConfigError(f"JWT algorithm {algorithm!r}: expected one of {', '.join(JWT_ALGORITHMS)}")
        self.keyring = keyring
        self.engine = keyring.engine
        self.environment = environment
        self.actor = actor
        self.algorithm = algorithm

    # ---- reading ---------------------------------------------------------------------------------
    def keys(self) -> list[dict[str, Any]]:
        """Every key's metadata (never the private key), newest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(signing_keys).order_by(signing_keys.c.created_at.desc())).mappings().all()
        return [{k: v for k, v in row.items() if k != "private_key"} for row in rows]

    def jwks(self) -> dict[str, Any]:
        """The published key set: active, next, and grace keys whose grace has not ended."""
        now = self.keyring.clock()
        order = {"active": 0, "next": 1, "grace": 2}
        published = [k for k in self.keys() if k["status"] in PUBLISHED
                     and not (k["status"] == "grace" and k["grace_until"] <= now)]
        return {"keys": [k["public_jwk"] for k in sorted(published, key=lambda k: order[k["status"]])]}

    def due(self) -> Due:
        active = next((k for k in self.keys() if k["status"] == "active"), None)
        if active is None:
            return Due(None, None, True)
        due_at = active["activated_at"] + JWT_ROTATION_PERIOD
        return Due(active["kid"], due_at, self.keyring.clock() >= due_at)

    def expired_grace(self) -> list[str]:
        now = self.keyring.clock()
        return [k["kid"] for k in self.keys() if k["status"] == "grace" and k["grace_until"] <= now]

    def health(self) -> dict[str, Any]:
        """SC-011's facts: one active key, no older than 90 days + 24 h; no key past its grace published."""
        now = self.keyring.clock()
        keys = self.keys()
        active = [k for k in keys if k["status"] == "active"]
        age = (now - active[0]["activated_at"]) if len(active) == 1 else None
        return {"active_keys": len(active), "active_kid": active[0]["kid"] if len(active) == 1 else None,
                "active_age_days": round(age.total_seconds() / 86400, 3) if age is not None else None,
                "within_window": age is not None and age <= JWT_ROTATION_PERIOD + JWT_ROTATION_WINDOW,
                "expired_grace": [k["kid"] for k in keys if k["status"] == "grace" and k["grace_until"] <= now]}

    # ---- signing ---------------------------------------------------------------------------------
    def sign(self, claims: dict[str, Any]) -> str:
        """A JWT over ``claims`` signed by the active key, with its ``kid`` in the header."""
        with self.engine.connect() as conn:
            row = conn.execute(select(signing_keys).where(signing_keys.c.status == "active")).mappings().first()
            if row is None:
                raise CloudMakeError("no active JWT signing key: run `cloudmake keys rotate-jwt --confirm`")
            pem = self.keyring.open("signing_keys", row["kid"], row["private_key"], row["key_version"], conn)
        from .jwk import sign

        return sign(claims, pem, algorithm=row["algorithm"], kid=row["kid"])

    # ---- rotating --------------------------------------------------------------------------------
    def rotate(self, *, force: bool = False) -> dict[str, Any]:
        """Retire expired grace keys; rotate when due (or ``force``); resume an interrupted rotation.

        One rotation at a time per database: a second one is refused at once (RotationRefused, exit 1).
        """
        busy = RotationRefused("another JWT signing-key rotation is running on this database: wait for it")
        with exclusive(self.engine, "jwt-rotation", busy=busy):
            return self._rotate_when_due(force)

    def _rotate_when_due(self, force: bool) -> dict[str, Any]:
        retired = self.retire_expired()
        with self.engine.connect() as conn:
            resuming = state.current(conn, KIND) is not None
        if not (resuming or force or self.due().is_due):
            due = self.due()
            return {"rotated": False, "retired": retired, "active_kid": due.kid,
                    "due_at": due.due_at.isoformat() if due.due_at else None}
        result = self._rotate()
        return {**result, "rotated": True, "retired": retired}

    def _rotate(self) -> dict[str, Any]:
        with self.engine.begin() as conn:
            current = state.current(conn, KIND, lock=True)
            if current is None:
                active = conn.execute(select(signing_keys.c.kid).where(signing_keys.c.status == "active")).scalar()
                current = state.begin(conn, KIND, step="started", actor=self.actor, at=self._now(), from_ref=active)
                self._audit(conn, current, "started", old_kid=active)
        if current["step"] == "started":  # a next key, published before it signs anything
            with self.engine.connect() as conn:
                upcoming = conn.execute(select(signing_keys.c.kid).where(signing_keys.c.status == "next")).scalar()
            if upcoming is None:
                upcoming = self._add_key("next")
            with self.engine.begin() as conn:
                state.advance(conn, KIND, "next_ready", at=self._now(), to_ref=upcoming)
            current = {**current, "step": "next_ready", "to_ref": upcoming}
        if current["step"] == "next_ready":  # the swap: exactly one active key before and after
            with self.engine.begin() as conn:
                self._activate(conn, current["to_ref"])
                state.advance(conn, KIND, "activated", at=self._now())
            current = {**current, "step": "activated"}
        with self.engine.connect() as conn:
            has_next = conn.execute(select(signing_keys.c.kid).where(signing_keys.c.status == "next")).scalar()
        following = has_next or self._add_key("next")
        with self.engine.begin() as conn:
            state.advance(conn, KIND, "finished", at=self._now(), finished=True)
            self._audit(conn, current, "completed", old_kid=current["from_ref"], new_kid=current["to_ref"],
                        next_kid=following, started_at=current["started_at"].isoformat(),
                        ended_at=self._now().isoformat())
        log.info("JWT signing key rotated", extra={"old_kid": current["from_ref"], "new_kid": current["to_ref"],
                                                   "next_kid": following})
        return {"old_kid": current["from_ref"], "new_kid": current["to_ref"], "next_kid": following,
                "rotation_id": current["rotation_id"]}

    def _activate(self, conn: Connection, kid: str) -> None:
        now = self._now()
        rows = conn.execute(select(signing_keys.c.kid, signing_keys.c.status).with_for_update()).all()
        if (kid, "active") in {tuple(r) for r in rows}:
            return
        conn.execute(update(signing_keys).where(signing_keys.c.status == "active")
                     .values(status="grace", grace_until=now + JWT_GRACE_PERIOD))
        conn.execute(update(signing_keys).where(signing_keys.c.kid == kid).values(status="active", activated_at=now))

    def retire_expired(self) -> list[str]:
        expired = self.expired_grace()
        if expired:
            with self.engine.begin() as conn:
                conn.execute(update(signing_keys).where(signing_keys.c.kid.in_(expired), signing_keys.c.status == "grace")
                             .values(status="retired", retired_at=self._now()))
                audit.record(conn, audit.JWT_ROTATION, actor=self.actor, environment=self.environment,
                             at=self._now(), phase="retired", retired_kids=expired)
            log.info("JWT signing keys retired after grace", extra={"kids": expired})
        return expired

    def _add_key(self, status: str) -> str:
        from .jwk import new_key

        jwk, pem = new_key(self.algorithm)
        with self.engine.begin() as conn:
            version = self.keyring.active_version(conn, lock=True)
            conn.execute(insert(signing_keys).values(
                kid=jwk["kid"], algorithm=self.algorithm, status=status, public_jwk=jwk,
                private_key=self.keyring.seal("signing_keys", jwk["kid"], pem, version, conn), key_version=version,
                created_at=self._now()))
        return jwk["kid"]

    def _audit(self, conn: Connection, current, phase: str, **detail) -> None:
        audit.record(conn, audit.JWT_ROTATION, actor=self.actor, environment=self.environment, at=self._now(),
                     rotation_id=current["rotation_id"], phase=phase, **detail)

    def _now(self) -> datetime:
        return self.keyring.clock()
