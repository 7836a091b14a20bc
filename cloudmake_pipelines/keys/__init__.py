"""Key management (seed tasks 5 and 6): the keyring for secrets at rest, master-key rotation, JWT signing keys.

Plain Python, no Dagster: the Dagster layer (``assets/keys.py``, ``jobs/keys.py``) and the CLI (``cli/keys.py``)
call it.
"""

from .keyring import DecryptionFailed, Keyring, MasterKeyError, SecretNotFound, open_keyring

#: The tables key management needs (callers check them with ``db.helpers.require_tables`` first).
KEY_TABLES = ("secrets", "master_key_versions", "signing_keys")

__all__ = ["KEY_TABLES", "DecryptionFailed", "Keyring", "MasterKeyError", "SecretNotFound", "open_keyring"]
