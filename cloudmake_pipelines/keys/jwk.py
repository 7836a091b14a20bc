"""JWT key material (seed task 5): a new key pair and its public JWK, signing with a stored key, and verifying
tokens against a JWKS by ``kid``. PyJWT and cryptography load with this module, which :mod:`.signing` imports
only to add a key or sign a token.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from ..errors import ConfigError
from .config import JWT_ALGORITHMS

_THUMBPRINT_MEMBERS = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"), "OKP": ("crv", "kty", "x")}


def generate_private_key(algorithm: str):
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if algorithm == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    raise ConfigError(f"JWT algorithm {algorithm!r}: expected one of {', '.join(JWT_ALGORITHMS)}")


def public_jwk(private_key, algorithm: str) -> dict[str, Any]:
    """The public JWK with ``kid`` = its RFC 7638 thumbprint, ``alg`` and ``use: sig``."""
    jwk = jwt.algorithms.get_default_algorithms()[algorithm].to_jwk(private_key.public_key(), as_dict=True)
    members = {name: jwk[name] for name in _THUMBPRINT_MEMBERS[jwk["kty"]]}
    digest = hashlib.sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode()).digest()
    kid = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return {**members, "kid": kid, "alg": algorithm, "use": "sig"}


def new_key(algorithm: str) -> tuple[dict[str, Any], bytes]:
    """A fresh key pair for ``algorithm``: its public JWK and the private key as unencrypted PKCS#8 PEM (the
    caller seals it with the keyring)."""
    private = generate_private_key(algorithm)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return public_jwk(private, algorithm), pem


def sign(claims: dict[str, Any], pem: bytes, *, algorithm: str, kid: str) -> str:
    """A JWT over ``claims`` signed with the PEM private key, with its ``kid`` in the header."""
    key = serialization.load_pem_private_key(pem, password=None)
    return jwt.encode(claims, key, algorithm=algorithm, headers={"kid": kid})


class JwksVerifier:
    """Verifies JWTs against a JWKS, choosing the key by the token's ``kid`` as PyJWT's ``PyJWKClient`` does.

    ``fetch`` returns the JWKS document; it is cached for ``cache_seconds`` and fetched again once when
    a token names an unknown ``kid`` (a key published since the last fetch).
    """

    def __init__(self, fetch: Callable[[], dict[str, Any]], *, cache_seconds: float = 300.0,
                 monotonic: Callable[[], float] = time.monotonic):
        self._fetch = fetch
        self._cache_seconds = cache_seconds
        self._monotonic = monotonic
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None

    def _refresh(self) -> None:
        keyset = jwt.PyJWKSet.from_dict(self._fetch())
        self._keys = {key.key_id: key for key in keyset.keys if key.key_id}
        self._fetched_at = self._monotonic()

    def signing_key(self, token: str) -> jwt.PyJWK:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.DecodeError as exc:
            raise jwt.InvalidTokenError(f"not a JWT: {exc}") from None
        if not kid:
            raise jwt.InvalidTokenError("the token has no 'kid' header")
        stale = self._fetched_at is None or self._monotonic() - self._fetched_at > self._cache_seconds
        if stale or kid not in self._keys:
            self._refresh()
        if kid not in self._keys:
            raise jwt.InvalidTokenError(f"no published key has kid {kid!r} (unknown or retired)")
        return self._keys[kid]

    def verify(self, token: str, **options: Any) -> dict[str, Any]:
        """The verified claims; :class:`jwt.InvalidTokenError` otherwise. ``options`` go to ``jwt.decode``."""
        key = self.signing_key(token)
        return jwt.decode(token, key.key, algorithms=[key.algorithm_name], **options)
