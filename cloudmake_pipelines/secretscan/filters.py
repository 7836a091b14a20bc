"""What separates a secret from something shaped like one: entropy, placeholders, hashes, checksums."""

from __future__ import annotations

import functools
import json
import math
import re
import zlib
from collections import Counter

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


class _Lazy:
    """A regex compiled on first use: a clean pre-commit run needs none of these (~3 ms of compiling).
    After the first call, the compiled pattern's methods are plain attributes (no per-call cost)."""

    def __init__(self, pattern: str, flags: int = 0):
        self._args = (pattern, flags)

    def __getattr__(self, name: str):
        compiled = re.compile(*self._args)
        for method in ("search", "match", "findall"):
            setattr(self, method, getattr(compiled, method))
        return getattr(compiled, name)


# Spellings of "not a real value": documentation examples, templates, environment lookups, masks.
_PLACEHOLDER = _Lazy(
    r"exampl|sample|placeholder|your[_-]?(?:api|secret|token|key|own|pass)|\byour\b|changeme|change[_-]me|"
    r"replace[_-]?me|redacted|dummy|insert[_-]|xxxx|\*\*\*|\.\.\.|<[^>]*>|\$\{|\{\{|\$\(|%\(|(?-i:%s)\b|"
    r"process\.env|os\.environ|getenv|env\(|secrets\.|vault:|^\$[A-Za-z_]\w*$",
    re.IGNORECASE,
)
_RUN = _Lazy(r"(.)\1{5,}")
_SEQUENCES = ("0123456789", "abcdefghijklmnopqrstuvwxyz", "qwertyuiop")
_HEX = _Lazy(r"^[0-9a-fA-F]+$")
_UUID = _Lazy(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_URL_OR_PATH = _Lazy(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*://|[./~]|[A-Za-z]:\\)")
_CASE_WORDS = _Lazy(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")
_CHECKSUMMED = _Lazy(r"^(?:gh[pousr]|npm)_[A-Za-z0-9]{30,}$")
_PASSWORD_NAME = _Lazy(r"passw|pwd|passphrase|secret|(?<![a-z])pass(?![a-z])")
_SECRET_NAME = _Lazy(r"secret|credential|passw|creds")
_HASH_NAME = _Lazy(r"hash|sha|md5|digest|checksum|etag|commit|fingerprint")
_IDENTIFIER = _Lazy(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+$")  # a.b.c attribute access


def shannon_entropy(text: str) -> float:
    """Bits per character of ``text``: random base62 is ≈5.2 at length 40, English words ≈3."""
    if not text:
        return 0.0
    length = len(text)
    return -sum(n / length * math.log2(n / length) for n in Counter(text).values())


def is_placeholder(secret: str) -> bool:
    """A template, documentation example or masked value rather than a credential."""
    if _PLACEHOLDER.search(secret):
        return True
    if len(secret) > 100:  # key blocks legitimately hold runs such as AAAAAAAA
        return False
    if _RUN.search(secret):
        return True
    return _sequences().search(secret.lower()) is not None


@functools.cache
def _sequences() -> re.Pattern[str]:
    """Any 8 consecutive characters of a keyboard or alphabet run (one regex: C speed per candidate)."""
    return re.compile("|".join(seq[i:i + 8] for seq in _SEQUENCES for i in range(len(seq) - 7)))


def required_entropy(rule, secret: str) -> float:
    """The rule's entropy floor; for generic rules scaled down for short values (a random 10-character
    password cannot reach 3.5 bits per character: log2(10) = 3.3)."""
    if not rule.generic:
        return rule.entropy
    return min(rule.entropy, 0.8 * math.log2(max(len(secret), 2)))


def generic_value_ok(secret: str, name: str | None) -> bool:
    """Whether a value a generic (context-only) rule matched may be a credential.

    Values under 16 characters count only for password-named keys and need two character classes;
    hex is a hash unless the key names a secret, credential or password (a 64-hex ``client_secret``) and
    not a digest; a known token shape with a failing checksum (``ghp_`` with a wrong CRC32) is not one.
    """
    name = (name or "").lower()
    if _CHECKSUMMED.match(secret) and not crc32_base62_valid(secret):
        return False
    if len(secret) < 16:  # a typed password: two kinds of character for a password's name, else three
        classes = sum(any(test(c) for c in secret) for test in (str.islower, str.isupper, str.isdigit,
                                                                  lambda c: not c.isalnum()))
        if classes < (2 if _PASSWORD_NAME.search(name) else 3):
            return False
    if _HEX.match(secret) and _SECRET_NAME.search(name) and not _HASH_NAME.search(name) and len(secret) >= 32:
        return True
    return not is_non_secret_shape(secret)


def is_non_secret_shape(secret: str) -> bool:
    """Hashes, git SHAs, UUIDs, numbers, URLs, paths and dotted identifiers: values a secret-named
    variable often holds that are not secrets. Applied to generic (context-only) rules."""
    if _HEX.match(secret) or _UUID.match(secret) or secret.isdigit():
        return True
    if _URL_OR_PATH.match(secret) or _IDENTIFIER.match(secret):
        return True
    digits = sum(c.isdigit() for c in secret)
    letters = [c for c in secret if c.isalpha()]
    if digits:  # PKCS7PrivateKeyTypes: an identifier made of words, with a version number in it
        return not letters or (digits <= 3 and len(letters) >= 4 * len(_CASE_WORDS.findall(secret)))
    # letters only: random mixed case splits into 1–3 letter "words", CamelCaseIdentifiers into longer ones
    words = _CASE_WORDS.findall(secret)
    return len(letters) < 20 or len(letters) >= 4 * len(words)


def crc32_base62_valid(token: str) -> bool:
    """GitHub's (and npm's) token checksum: the last six characters are the base62 CRC32 of the random
    part between the prefix's underscore and the checksum."""
    body = token.rsplit("_", 1)[-1]
    if len(body) <= 6:
        return False
    payload, checksum = body[:-6], body[-6:]
    value = 0
    for char in checksum:
        index = BASE62.find(char)
        if index < 0:
            return False
        value = value * 62 + index
    return value == zlib.crc32(payload.encode())


def crc32_base62(payload: str) -> str:
    """The six-character checksum :func:`crc32_base62_valid` expects (used to build test tokens)."""
    value, digits = zlib.crc32(payload.encode()), []
    while value:
        value, rest = divmod(value, 62)
        digits.append(BASE62[rest])
    return "".join(reversed(digits)).rjust(6, "0")


def jwt_valid(token: str) -> bool:
    """A JWT whose header and payload decode to JSON objects and whose header names an algorithm."""
    import base64  # here: most runs meet no JWT (pre-commit start-up)

    parts = token.split(".")
    if len(parts) != 3:
        return False
    try:
        header, payload = (json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4))) for p in parts[:2])
    except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
        return False
    if not (isinstance(header, dict) and isinstance(payload, dict) and header.get("alg")):
        return False
    if payload.get("sub") == "1234567890" or payload.get("name") == "John Doe":  # jwt.io's example token
        return False
    if not payload:  # {}: nothing to authorize
        return False
    if not parts[2]:  # unsigned: a credential only where a server accepts "alg": "none"
        return str(header.get("alg")).lower() == "none"
    try:  # a signature that decodes to readable text ("signature-value") was typed by a person
        signature = base64.urlsafe_b64decode(parts[2] + "=" * (-len(parts[2]) % 4))
    except ValueError:
        return False
    return not (signature.isascii() and signature.decode("ascii").isprintable())


CHECKS = {"crc32-base62": crc32_base62_valid, "jwt": jwt_valid}
