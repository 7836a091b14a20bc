"""Master-key rotation (seed task 6) in four crash-safe, re-runnable steps, with dual-key overlap.

1. ``generate``: key v(n+1) is written to the local env binding and published to every remote binding
   (the Worker's secrets) *before* any row uses it, then recorded as ``next`` (metadata only).
2. ``reencrypt``: v(n+1) becomes the active (writing) key and v(n) decrypt-only, in one transaction;
   then batches of rows still on another version are decrypted and re-sealed (``secrets`` in their own
   format, and the JWT private keys). A batch is one transaction; rows already on v(n+1) are skipped.
   Re-run later, it sweeps rows an application wrote with the old key before step 3 reached it.
3. ``update_binding``: the bindings' ``CLOUDMAKE_MASTER_KEY`` / ``CLOUDMAKE_MASTER_KEY_VERSION`` now
   name v(n+1), so applications write with it too.
4. ``invalidate``: refuses while any row still uses another version; else v(n) is deleted from every
   binding and marked retired.

Both keys decrypt from step 1 until step 4, so no reader fails at any point. ``key_rotation_state``
holds the step reached: each step re-run after a crash (SIGKILL included) redoes only what is missing.
Every step writes ``admin_audit_logs`` rows (``master_key_rotation``, started/completed).

Before step 1 creates anything, :meth:`MasterKeyRotation.preconditions` checks what the later steps need
(every key in use present and the right one, the active key decrypting, the key file writable, every
remote binding answering); one failing is :class:`RotationPrecondition` (exit 2) and nothing is made.
Until step 2 switches the writing key, :meth:`MasterKeyRotation.abort` abandons a rotation: the unused
new key leaves the bindings and the database, and the audit trail records the abort. After the switch
rows may already be sealed with the new key, so only resuming is safe.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update

from ..db.locks import exclusive
from ..db.tables import master_key_versions, secrets, signing_keys
from ..errors import CheckFailed, CloudMakeError, ConfigError
from ..logs import get_logger
from . import audit, state
from .binding import binding_name, decode_key, new_key_material
from .keyring import AES_GCM, PGCRYPTO, PGP_OPTIONS, Keyring, fingerprint

log = get_logger("keys")
KIND = "master"
STEPS = ("generate", "reencrypt", "update_binding", "invalidate")
#: key_rotation_state.step once each step completed ("reencrypting" while step 2 runs)
DONE = {"generate": "generated", "reencrypt": "reencrypted", "update_binding": "binding_updated",
        "invalidate": "invalidated"}
ORDER = ["started", "generated", "reencrypting", "reencrypted", "binding_updated", "invalidated"]
#: key_rotation_state.step of a rotation abandoned with ``--abort`` (finished, like "invalidated")
ABORTED = "aborted"
ACTIVE_KEY_NAME = "CLOUDMAKE_MASTER_KEY"
ACTIVE_VERSION_NAME = "CLOUDMAKE_MASTER_KEY_VERSION"


class RemoteBinding(Protocol):
    def put(self, name: str, value: str) -> None: ...
    def delete(self, name: str) -> None: ...
    def names(self) -> list[str]: ...


class RotationRefused(CheckFailed):
    """A step cannot run yet (or at all): the message says which step to run, or what still blocks it."""


class RotationPrecondition(ConfigError):
    """What a rotation needs is missing (a key, the key file, a binding): fix it first; nothing was made."""


class MasterKeyRotation:
    def __init__(self, keyring: Keyring, *, environment: str, actor: str,
                 remotes: Sequence[RemoteBinding] = (), batch_size: int = 1000,
                 on_batch: Callable[[int, int], None] | None = None):
        self.keyring = keyring
        self.engine = keyring.engine
        self.environment = environment
        self.actor = actor
        self.remotes = list(remotes)
        self.batch_size = batch_size
        self.on_batch = on_batch

    # ---- steps -----------------------------------------------------------------------------------
    def generate(self) -> dict[str, Any]:
        """Step 1: a new key version, in every binding before any row uses it."""
        with self.exclusive():
            return self._generate()

    def _generate(self) -> dict[str, Any]:
        with self.engine.connect() as conn:
            current = state.current(conn, KIND)
        if current is None or not _reached(current, "generated"):
            problems = self.preconditions()
            if problems:
                raise RotationPrecondition(
                    "the master-key rotation cannot " + ("resume" if current else "start") + ": "
                    + "; ".join(problems) + ". Nothing was generated; fix this, then re-run"
                    + (" (or abandon it: `cloudmake keys rotate-master --abort`)" if current else ""))
        with self.engine.begin() as conn:
            current = state.current(conn, KIND, lock=True)
            if current is not None and _reached(current, "generated"):
                return self._skip("generate", current)
            if current is None:
                active = self.keyring.active_version(conn)
                newest = conn.execute(select(func.max(master_key_versions.c.version))).scalar_one()
                current = state.begin(conn, KIND, step="started", actor=self.actor, at=self._now(),
                                      from_ref=str(active), to_ref=str(newest + 1))
                self._audit(conn, current, "generate", "started")
        rotation_id, new = current["rotation_id"], int(current["to_ref"])
        material = self.keyring.store.ensure(new, lambda: new_key_material(self.keyring.token_bytes))
        key = decode_key(material, self.keyring.store.describe(new))
        for remote in self.remotes:
            remote.put(binding_name(new), material)
        with self.engine.begin() as conn:
            known = conn.execute(select(master_key_versions.c.fingerprint)
                                 .where(master_key_versions.c.version == new)).scalar()
            if known is None:
                conn.execute(insert(master_key_versions).values(
                    version=new, status="next", fingerprint=fingerprint(key), created_at=self._now()))
            elif known != fingerprint(key):
                raise RotationRefused(f"master key v{new} in {self.keyring.store.describe(new)} is not the key "
                                      "recorded when this rotation generated it; restore it, then re-run")
            state.advance(conn, KIND, "generated", at=self._now())
            self._audit(conn, current, "generate", "completed", remotes=len(self.remotes))
        log.info("master key generated", extra={"rotation_id": rotation_id, "key_version": new})
        return self._result("generate", current)

    def reencrypt(self) -> dict[str, Any]:
        """Step 2: switch writers to the new key, then re-seal every row still on another version."""
        with self.exclusive():
            return self._reencrypt()

    def _reencrypt(self) -> dict[str, Any]:
        with self.engine.begin() as conn:
            current = self._require(conn, "generated", "reencrypt")
            new = int(current["to_ref"])
            if current["step"] == "generated":
                self._check_keys(conn, new)  # a missing or wrong key stops here, before anything changes
                self._switch_active(conn, int(current["from_ref"]), new)
                state.advance(conn, KIND, "reencrypting", at=self._now())
                self._audit(conn, current, "reencrypt", "started")
        moved = self._reencrypt_secrets(new)
        rewrapped = self._rewrap_signing_keys(new)
        if _reached(current, "reencrypted") and not (moved or rewrapped):
            return self._skip("reencrypt", current)
        with self.engine.begin() as conn:  # a re-run after step 2 only sweeps rows written with an old key
            if not _reached(current, "reencrypted"):
                state.advance(conn, KIND, "reencrypted", at=self._now())
            self._audit(conn, current, "reencrypt", "completed", secrets=moved, signing_keys=rewrapped)
        log.info("secrets re-encrypted", extra={"rotation_id": current["rotation_id"], "secrets": moved,
                                                "signing_keys": rewrapped, "key_version": new})
        return {**self._result("reencrypt", current), "secrets": moved, "signing_keys": rewrapped}

    def update_binding(self) -> dict[str, Any]:
        """Step 3: the bindings name the new key as the one applications write with."""
        with self.exclusive():
            return self._update_binding()

    def _update_binding(self) -> dict[str, Any]:
        with self.engine.begin() as conn:
            current = self._require(conn, "reencrypted", "update_binding")
            if _reached(current, "binding_updated"):
                return self._skip("update_binding", current)
            self._audit(conn, current, "update_binding", "started")
        new = int(current["to_ref"])
        material = self.keyring.store.get(new)
        self.keyring.key(new)  # the local binding still holds exactly the key the rows were sealed with
        for remote in self.remotes:
            remote.put(binding_name(new), material)
            remote.put(ACTIVE_KEY_NAME, material)
            remote.put(ACTIVE_VERSION_NAME, str(new))
            missing = {binding_name(new), ACTIVE_KEY_NAME, ACTIVE_VERSION_NAME} - set(remote.names())
            if missing:
                raise RotationRefused(f"the binding does not list {', '.join(sorted(missing))} after the update")
        with self.engine.begin() as conn:
            state.advance(conn, KIND, "binding_updated", at=self._now())
            self._audit(conn, current, "update_binding", "completed", remotes=len(self.remotes))
        return self._result("update_binding", current)

    def invalidate(self) -> dict[str, Any]:
        """Step 4: retire the old key, only once no row uses it."""
        with self.exclusive():
            return self._invalidate()

    def _invalidate(self) -> dict[str, Any]:
        with self.engine.begin() as conn:
            current = self._require(conn, "binding_updated", "invalidate")
            new = int(current["to_ref"])
            remaining = self.rows_not_on(conn, new)
            if remaining:
                self._audit(conn, current, "invalidate", "refused", rows_on_old_keys=remaining)
            else:
                self._audit(conn, current, "invalidate", "started")
        if remaining:
            raise RotationRefused(f"{remaining} rows still use an older master key than v{new}: re-run the "
                                  "reencrypt step (`cloudmake keys rotate-master --confirm` resumes)")
        old_versions = self._versions_to_retire(new)
        warnings = []
        for old in old_versions:
            for remote in self.remotes:
                remote.delete(binding_name(old))
            self.keyring.store.delete(old)
            if self.keyring.store.env_override(old):
                warnings.append(f"unset ${binding_name(old)}: the environment still holds the retired key")
        with self.engine.begin() as conn:
            conn.execute(update(master_key_versions).where(master_key_versions.c.version.in_(old_versions))
                         .values(status="retired", retired_at=self._now()))
            state.advance(conn, KIND, "invalidated", at=self._now(), finished=True)
            self._audit(conn, current, "invalidate", "completed", retired_versions=old_versions)
        for old in old_versions:
            self.keyring.forget(old)
        log.info("master key rotation finished", extra={"rotation_id": current["rotation_id"],
                                                        "retired_versions": old_versions, "key_version": new})
        return {**self._result("invalidate", current), "retired_versions": old_versions, "warnings": warnings}

    def abort(self) -> dict[str, Any]:
        """Abandon the rotation in progress, if the writing key was not switched yet (else only resume is safe)."""
        with self.exclusive():
            return self._abort()

    def _abort(self) -> dict[str, Any]:
        with self.engine.connect() as conn:
            current = state.current(conn, KIND)
            if current is None:
                raise RotationRefused("no master-key rotation is in progress: there is nothing to abort")
            new = int(current["to_ref"])
            if _reached(current, "reencrypting") or self.rows_on(conn, new):
                raise RotationRefused(
                    f"the master-key rotation {current['rotation_id']} is at '{current['step']}': the writing key "
                    f"is already v{new} and rows may be sealed with it, so it cannot be aborted; resume it with "
                    "`cloudmake keys rotate-master --confirm`")
        for remote in self.remotes:  # the Worker writes with CLOUDMAKE_MASTER_KEY, which still names the old key
            remote.delete(binding_name(new))
        self.keyring.store.delete(new)
        self.keyring.forget(new)
        warnings = [f"unset ${binding_name(new)}: the environment holds the abandoned key"] \
            if self.keyring.store.env_override(new) else []
        with self.engine.begin() as conn:
            current = state.current(conn, KIND, lock=True)
            conn.execute(delete(master_key_versions).where(master_key_versions.c.version == new,
                                                           master_key_versions.c.status == "next"))
            state.advance(conn, KIND, ABORTED, at=self._now(), finished=True)
            self._audit(conn, current, "abort", "completed", step_reached=current["step"],
                        dropped_version=new, remotes=len(self.remotes))
        log.warning("master key rotation aborted", extra={"rotation_id": current["rotation_id"],
                                                          "dropped_version": new})
        return {**self._result("abort", current), "dropped_version": new, "warnings": warnings}

    def preconditions(self) -> list[str]:
        """What would make a rotation fail halfway, each with what to do; empty when it can start."""
        problems = []
        store = self.keyring.store
        try:
            store.versions()  # parses the key file: a bad mode or bad JSON is a ConfigError naming it
        except (ConfigError, OSError) as exc:
            problems.append(f"{exc} (fix or restore the key file)")
        else:
            if not _writable(store.key_file):
                problems.append(f"key file {store.key_file} is not writable: the new key is saved there "
                                "(fix its permissions or set CLOUDMAKE_KEY_FILE)")
            with self.engine.connect() as conn:
                problems += self._key_problems(conn)
        for remote in self.remotes:
            import httpx  # loaded with the remote binding's client already

            from .cloudflare import CloudflareError

            try:
                remote.names()
            except (CloudflareError, httpx.HTTPError) as exc:
                problems.append(f"the remote binding is unreachable ({type(exc).__name__}: {exc}); "
                                "check CLOUDFLARE_* settings and the network")
        return problems

    def _key_problems(self, conn: Connection) -> list[str]:
        """Every key a row or the active version uses is present and right, and the active key decrypts."""
        active = self.keyring.active_version(conn)
        used = {active}
        for table in (secrets, signing_keys):
            used |= set(conn.execute(select(table.c.key_version).distinct()).scalars())
        problems = []
        for version in sorted(used):
            self.keyring.forget(version)  # read the binding again: a cached key would hide a lost key file
            try:
                self.keyring.key(version, conn)
            except CloudMakeError as exc:
                problems.append(f"{exc} (restore the key file from its backup)")
        if not problems:
            row = conn.execute(select(secrets.c.id, secrets.c.name, secrets.c.format, secrets.c.key_version,
                                      secrets.c.ciphertext).where(secrets.c.key_version == active).limit(1)).first()
            try:
                if row is not None:
                    self.keyring.decrypt_row(conn, row)
            except CloudMakeError as exc:
                problems.append(f"a secret sealed with the active key v{active} does not decrypt: {exc}")
        return problems

    def run(self) -> list[dict[str, Any]]:
        """All four steps in order (each one skips what an earlier, interrupted run already did)."""
        return [getattr(self, step)() for step in STEPS]

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """One rotation step at a time per database: a PostgreSQL advisory lock, or a file lock on SQLite."""
        busy = RotationRefused("another master-key rotation step is running on this database: wait for it")
        with exclusive(self.engine, "key-rotation", busy=busy):
            yield

    # ---- helpers ---------------------------------------------------------------------------------
    def rows_on(self, conn: Connection, version: int) -> int:
        return sum(conn.execute(select(func.count()).select_from(table).where(table.c.key_version == version))
                   .scalar_one() for table in (secrets, signing_keys))

    def rows_not_on(self, conn: Connection, version: int) -> int:
        count = 0
        for table in (secrets, signing_keys):
            count += conn.execute(select(func.count()).select_from(table)
                                  .where(table.c.key_version != version)).scalar_one()
        return count

    def _check_keys(self, conn: Connection, new: int) -> None:
        """Every key version a row uses, and the new one, is in the local binding and is the right key."""
        used = {new}
        for table in (secrets, signing_keys):
            used |= set(conn.execute(select(table.c.key_version).distinct()).scalars())
        for version in sorted(used):
            self.keyring.key(version, conn)

    def _switch_active(self, conn: Connection, old: int, new: int) -> None:
        conn.execute(select(master_key_versions.c.version).with_for_update()).all()  # waits for writers
        conn.execute(update(master_key_versions).where(master_key_versions.c.version == old)
                     .values(status="previous"))
        conn.execute(update(master_key_versions).where(master_key_versions.c.version == new)
                     .values(status="active", activated_at=self._now()))

    def _reencrypt_secrets(self, new: int) -> int:
        """Keyset passes in id order until a whole pass finds nothing left (catching late writers)."""
        moved, total, after, moved_this_pass = 0, None, 0, 0
        while True:
            with self.engine.begin() as conn:
                if total is None:
                    total = conn.execute(select(func.count()).select_from(secrets)
                                         .where(secrets.c.key_version != new)).scalar_one()
                rows = conn.execute(
                    select(secrets.c.id, secrets.c.name, secrets.c.format, secrets.c.key_version,
                           secrets.c.ciphertext)
                    .where(secrets.c.id > after, secrets.c.key_version != new).order_by(secrets.c.id)
                    .limit(self.batch_size).with_for_update()).all()
                if rows:
                    self._reseal_batch(conn, rows, new)
            if not rows:
                if moved_this_pass == 0 or after == 0:
                    return moved
                after, moved_this_pass = 0, 0  # one more pass from the start
                continue
            after = rows[-1].id
            moved += len(rows)
            moved_this_pass += len(rows)
            if self.on_batch:
                self.on_batch(moved, total)

    def _reseal_batch(self, conn: Connection, rows, new: int) -> None:
        now = self._now()
        sealed = [{"row_id": row.id, "blob": self.keyring.seal("secrets", row.name,
                                                               self.keyring.decrypt_row(conn, row).encode(), new, conn)}
                  for row in rows if row.format == AES_GCM]
        if sealed:
            conn.execute(update(secrets).where(secrets.c.id == bindparam("row_id"))
                         .values(ciphertext=bindparam("blob"), key_version=new, updated_at=now), sealed)
        for old in sorted({row.key_version for row in rows if row.format == PGCRYPTO}):
            ids = [row.id for row in rows if row.format == PGCRYPTO and row.key_version == old]
            conn.execute(update(secrets).where(secrets.c.id.in_(ids)).values(
                ciphertext=func.pgp_sym_encrypt(func.pgp_sym_decrypt(secrets.c.ciphertext,
                                                                     self.keyring.passphrase(old, conn)),
                                                self.keyring.passphrase(new, conn), PGP_OPTIONS),
                key_version=new, updated_at=now))

    def _rewrap_signing_keys(self, new: int) -> int:
        with self.engine.begin() as conn:
            rows = conn.execute(select(signing_keys.c.kid, signing_keys.c.private_key, signing_keys.c.key_version)
                                .where(signing_keys.c.key_version != new).with_for_update()).all()
            for row in rows:
                pem = self.keyring.open("signing_keys", row.kid, row.private_key, row.key_version, conn)
                conn.execute(update(signing_keys).where(signing_keys.c.kid == row.kid).values(
                    private_key=self.keyring.seal("signing_keys", row.kid, pem, new, conn), key_version=new))
        return len(rows)

    def _versions_to_retire(self, new: int) -> list[int]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(master_key_versions.c.version).where(
                master_key_versions.c.status != "retired", master_key_versions.c.version != new)
                .order_by(master_key_versions.c.version)).scalars())

    def _require(self, conn: Connection, prerequisite: str, step: str):
        current = state.current(conn, KIND, lock=True)
        if current is None:
            raise RotationRefused(f"no master-key rotation is in progress: {step} runs after generate "
                                  "(`cloudmake keys rotate-master --confirm` runs every step)")
        if not _reached(current, prerequisite):
            raise RotationRefused(f"{step} needs the rotation at '{prerequisite}', it is at '{current['step']}': "
                                  "run the earlier steps first")
        return current

    def _audit(self, conn: Connection, current, step: str, phase: str, **detail) -> None:
        audit.record(conn, audit.MASTER_ROTATION, actor=self.actor, environment=self.environment, at=self._now(),
                     rotation_id=current["rotation_id"], step=step, phase=phase,
                     from_version=int(current["from_ref"]), to_version=int(current["to_ref"]), **detail)

    def _result(self, step: str, current) -> dict[str, Any]:
        return {"step": step, "rotation_id": current["rotation_id"], "from_version": int(current["from_ref"]),
                "to_version": int(current["to_ref"])}

    def _skip(self, step: str, current) -> dict[str, Any]:
        return {**self._result(step, current), "skipped": f"already done (rotation at '{current['step']}')"}

    def _now(self):
        return self.keyring.clock()


def _writable(path) -> bool:
    """Whether the key file can be replaced atomically: its folder (or the nearest one to create it in)."""
    folder = path.parent
    while not folder.exists():
        folder = folder.parent
    return os.access(folder, os.W_OK | os.X_OK) and (not path.exists() or os.access(path, os.R_OK | os.W_OK))


def _reached(current, step: str) -> bool:
    return ORDER.index(current["step"]) >= ORDER.index(step)
