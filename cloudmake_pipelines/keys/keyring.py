"""The keyring: secrets at rest, sealed with a versioned master key.

Every row of ``secrets`` records the master-key version (and format) that sealed it, so two keys can
decrypt side by side while a rotation re-encrypts (see :mod:`.master`). The default format is
AES-256-GCM (``cryptography``) with associated data naming the table, the row and the key version: a
ciphertext copied to another row, or relabelled with another version, does not decrypt. On PostgreSQL
the ``pgcrypto`` format (``pgp_sym_encrypt``/``pgp_sym_decrypt``) serves applications that read secrets
in SQL; its key is always a bind parameter, never part of the statement text.

Key material comes from the env binding (:class:`.binding.LocalKeyStore`), never from the database;
the database keeps each version's status and an HMAC fingerprint, which catches a wrong key before it
touches any row.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
from collections.abc import Callable, Iterator
from datetime import datetime

from sqlalchemy import Connection, Engine, delete, func, insert, select
from sqlalchemy.exc import DBAPIError, IntegrityError

from ..db.helpers import dialect_insert
from ..db.tables import master_key_versions, secrets
from ..db.types import utcnow
from ..errors import CloudMakeError, ConfigError
from ..logs import get_logger, redactor
from ..settings import Settings, get_settings
from .binding import LocalKeyStore, decode_key, new_key_material
from .config import KeysConfig

log = get_logger("keys")
AES_GCM = "aes-256-gcm"
PGCRYPTO = "pgcrypto"
NONCE_BYTES = 12
_FINGERPRINT_LABEL = b"cloudmake master key fingerprint v1"
PGP_OPTIONS = "cipher-algo=aes256"


class SecretNotFound(CloudMakeError, KeyError):
    """No secret of that name in the keyring (a ``KeyError`` too, so ``except KeyError`` works)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "secret not found"


class MasterKeyError(ConfigError):
    """A master key is missing from the env binding, or is not the key the database knows: nothing changed."""


class DecryptionFailed(CloudMakeError):
    """A ciphertext does not open with the key its row names: tampered, moved to another row, or wrong key."""


def fingerprint(key: bytes) -> str:
    """An HMAC of a fixed label under ``key``: identifies the key without revealing it."""
    return hmac.new(key, _FINGERPRINT_LABEL, hashlib.sha256).hexdigest()


def associated_data(table: str, ref: str, version: int) -> bytes:
    """What each AES-GCM ciphertext is bound to: its table, its row and the key version."""
    return f"cloudmake:{table}:{ref}:v{version}".encode()


class Keyring:
    """Encrypted secrets by name. Thread-safe; each call is its own transaction."""

    def __init__(self, engine: Engine, store: LocalKeyStore, *, secrets_format: str = AES_GCM,
                 clock: Callable[[], datetime] = utcnow, token_bytes: Callable[[int], bytes] = os.urandom):
        if secrets_format == PGCRYPTO and engine.dialect.name != "postgresql":
            raise ConfigError("the pgcrypto secrets format needs PostgreSQL")
        self.engine = engine
        self.store = store
        self.secrets_format = secrets_format
        self.clock = clock
        self.token_bytes = token_bytes
        self._keys: dict[int, bytes] = {}
        self._pgcrypto_ready = False

    # ---- the public secrets API ------------------------------------------------------------------
    def put(self, name: str, value: str) -> None:
        """Store ``value`` under ``name`` (insert or replace), sealed with the active master key."""
        if not name or len(name) > 200:
            raise ConfigError("secret name: expected 1 to 200 characters")
        if not isinstance(value, str):
            raise ConfigError(f"secret {name!r}: expected a string value")
        with self.engine.begin() as conn:
            version = self.active_version(conn, lock=True)
            blob = self.seal_value(conn, name, value, version, self.secrets_format)
            now = self.clock()
            row = {"name": name, "format": self.secrets_format, "key_version": version, "ciphertext": blob,
                   "created_at": now, "updated_at": now}
            stmt = dialect_insert(conn, secrets).values(row)
            conn.execute(stmt.on_conflict_do_update(
                index_elements=["name"],
                set_={"format": stmt.excluded.format, "key_version": stmt.excluded.key_version,
                      "ciphertext": stmt.excluded.ciphertext, "updated_at": stmt.excluded.updated_at}))
        log.info("secret stored", extra={"secret": name, "key_version": version, "format": self.secrets_format})

    def get(self, name: str) -> str:
        """The decrypted value of ``name``; :class:`SecretNotFound` when there is none."""
        with self.engine.connect() as conn:
            row = conn.execute(select(secrets.c.name, secrets.c.format, secrets.c.key_version,
                                      secrets.c.ciphertext).where(secrets.c.name == name)).first()
            if row is None:
                raise SecretNotFound(f"secret {name!r} is not in the keyring (see `cloudmake keys list-secrets`)")
            return self.open_row(conn, row)

    def names(self) -> list[str]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(secrets.c.name).order_by(secrets.c.name)).scalars())

    def items(self) -> Iterator[tuple[str, str]]:
        """Every (name, decrypted value), by name."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(secrets.c.name, secrets.c.format, secrets.c.key_version,
                                       secrets.c.ciphertext).order_by(secrets.c.name)).all()
            pairs = [(row.name, self.decrypt_row(conn, row)) for row in rows]
        redactor.add(*(value for _, value in pairs))  # one registration for the lot
        yield from pairs

    def delete(self, name: str) -> bool:
        """Remove ``name``; False when there was no such secret (removing it again changes nothing)."""
        with self.engine.begin() as conn:
            gone = conn.execute(delete(secrets).where(secrets.c.name == name)).rowcount
        if gone:
            log.info("secret deleted", extra={"secret": name})
        return bool(gone)

    # ---- master keys -----------------------------------------------------------------------------
    def bootstrap(self) -> None:
        """Create master key v1 on first use (key file first, then its metadata row: crash-safe)."""
        with self.engine.connect() as conn:
            if conn.execute(select(func.count()).select_from(master_key_versions)).scalar_one():
                return
        material = self.store.ensure(1, lambda: new_key_material(self.token_bytes))
        key = decode_key(material, self.store.describe(1))
        now = self.clock()
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(master_key_versions).values(
                    version=1, status="active", fingerprint=fingerprint(key), created_at=now, activated_at=now))
            log.info("master key v1 created", extra={"key_version": 1})
        except IntegrityError:
            pass  # another process bootstrapped at the same moment, from the same key file entry

    def active_version(self, conn: Connection, *, lock: bool = False) -> int:
        query = select(master_key_versions.c.version).where(master_key_versions.c.status == "active")
        if lock:  # a rotation's switch of the active version waits for writers in flight, and vice versa
            query = query.with_for_update(read=True)
        version = conn.execute(query).scalar()
        if version is None:
            raise MasterKeyError("no active master key: run `cloudmake keys status` to see the key versions")
        return version

    def key(self, version: int, conn: Connection | None = None) -> bytes:
        """Master key ``version``, checked against its recorded fingerprint. Cached once checked."""
        cached = self._keys.get(version)
        if cached is not None:
            return cached
        material = self.store.get(version)
        if not material:
            raise MasterKeyError(f"master key v{version} is not available: set {self.store.describe(version)}")
        key = decode_key(material, self.store.describe(version))
        with _connection(self.engine, conn) as c:
            row = c.execute(select(master_key_versions.c.fingerprint, master_key_versions.c.status)
                            .where(master_key_versions.c.version == version)).first()
        if row is None or row.status == "retired":
            raise MasterKeyError(f"master key v{version} is {'retired' if row else 'unknown to the database'}")
        if not hmac.compare_digest(row.fingerprint, fingerprint(key)):
            raise MasterKeyError(f"master key v{version} from {self.store.describe(version)} is not the key "
                                 "this database was sealed with (fingerprint mismatch); nothing was changed")
        self._keys[version] = key
        return key

    def passphrase(self, version: int, conn: Connection | None = None) -> str:
        """Master key ``version`` as pgcrypto's passphrase (its base64url form), checked like :meth:`key`."""
        return base64.urlsafe_b64encode(self.key(version, conn)).decode()

    def forget(self, version: int) -> None:
        self._keys.pop(version, None)

    # ---- sealing ---------------------------------------------------------------------------------
    def seal(self, table: str, ref: str, plaintext: bytes, version: int, conn: Connection | None = None) -> bytes:
        """AES-256-GCM under master key ``version``: nonce || ciphertext+tag, bound to (table, ref, version)."""
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        nonce = self.token_bytes(NONCE_BYTES)
        return nonce + AESGCM(self.key(version, conn)).encrypt(nonce, plaintext,
                                                              associated_data(table, ref, version))

    def open(self, table: str, ref: str, blob: bytes, version: int, conn: Connection | None = None) -> bytes:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        try:
            return AESGCM(self.key(version, conn)).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:],
                                                          associated_data(table, ref, version))
        except InvalidTag:
            raise DecryptionFailed(f"{table} {ref!r} does not decrypt with master key v{version}: the ciphertext "
                                   "was altered or belongs to another row") from None

    def seal_value(self, conn: Connection, name: str, value: str, version: int, fmt: str):
        """The stored form of a secret value: bytes (AES-GCM) or a SQL expression (pgcrypto)."""
        if fmt == AES_GCM:
            return self.seal("secrets", name, value.encode(), version, conn)
        self._ensure_pgcrypto(conn)
        return func.pgp_sym_encrypt(value, self.passphrase(version, conn), PGP_OPTIONS)

    def open_row(self, conn: Connection, row) -> str:
        """Decrypt one ``secrets`` row (name, format, key_version, ciphertext) and register the value."""
        value = self.decrypt_row(conn, row)
        redactor.add(value)
        return value

    def decrypt_row(self, conn: Connection, row) -> str:
        """Decrypt one ``secrets`` row without registering it: for values that never leave this package."""
        if row.format == AES_GCM:
            value = self.open("secrets", row.name, row.ciphertext, row.key_version, conn).decode()
        elif row.format == PGCRYPTO:
            passphrase = self.passphrase(row.key_version, conn)
            try:
                value = conn.execute(select(func.pgp_sym_decrypt(row.ciphertext, passphrase))).scalar_one()
            except DBAPIError:  # its message would quote the bound key: never chain it
                conn.rollback()
                raise DecryptionFailed(f"secret {row.name!r} does not decrypt with master key v{row.key_version} "
                                       "(pgcrypto): wrong key or corrupt data") from None
        else:
            raise DecryptionFailed(f"secret {row.name!r} has unknown format {row.format!r}")
        return value

    def _ensure_pgcrypto(self, conn: Connection) -> None:
        if self._pgcrypto_ready:
            return
        if conn.dialect.name != "postgresql":
            raise ConfigError("the pgcrypto secrets format needs PostgreSQL")
        if conn.exec_driver_sql("SELECT 1 FROM pg_extension WHERE extname = 'pgcrypto'").first() is None:
            with self.engine.begin() as ddl:
                ddl.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pgcrypto")
        self._pgcrypto_ready = True


def _connection(engine: Engine, conn: Connection | None):
    """``conn`` when given, else a short-lived connection of ``engine``."""
    return contextlib.nullcontext(conn) if conn is not None else engine.connect()


def open_keyring(engine: Engine, settings: Settings | None = None, *, config: KeysConfig | None = None,
                 clock: Callable[[], datetime] = utcnow, bootstrap: bool = True) -> Keyring:
    """The keyring of ``engine``'s database, with keys from the local env binding.

    Creates master key v1 on first use unless ``bootstrap=False`` (for read-only callers such as schedule
    evaluations, which must not create key material wherever they happen to run).
    """
    settings = settings or get_settings()
    config = config or KeysConfig.from_settings(settings)
    keyring = Keyring(engine, LocalKeyStore(config.key_file, settings.keys.master_keys), secrets_format=config.secrets_format, clock=clock)
    if bootstrap:
        keyring.bootstrap()
    return keyring


__all__ = ["Keyring", "SecretNotFound", "MasterKeyError", "DecryptionFailed", "open_keyring"]
