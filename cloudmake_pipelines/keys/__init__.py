"""Key management (seed tasks 5 and 6): the keyring for secrets at rest, master-key rotation, JWT signing keys.

Plain Python, no Dagster: the Dagster layer (``assets/keys.py``) and the CLI (``cli/keys.py``) call it.
"""

from .keyring import DecryptionFailed, Keyring, MasterKeyError, SecretNotFound, open_keyring

__all__ = ["DecryptionFailed", "Keyring", "MasterKeyError", "SecretNotFound", "open_keyring"]
