"""Signing keys of institutions and the key set (JWKS) the network publishes.

Every key is ES256 (ECDSA on P-256 with SHA-256): small signatures and fast verification. A key id
(``kid``) is ``<KBO enterprise number>:<suffix>``, e.g. ``0212344876:2025-1``, so that a verifier can tell
which institution a signature belongs to before it even reads the payload. The algorithm is pinned per key
(every published key carries ``alg: ES256``); the token header's ``alg`` is never trusted on its own.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from kruispunt.attest.errors import AttestationError
from kruispunt.ids import InvalidIdentifier, validate_enterprise_number

ALGORITHM: Final = "ES256"
CURVE: Final = "P-256"
_SUFFIX = re.compile(r"[A-Za-z0-9._-]{1,64}")
_PRIVATE_MEMBERS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


def make_kid(issuer: str, suffix: str) -> str:
    """The key id for an institution's key: ``<10-digit KBO>:<suffix>`` (suffix: letters, digits, ``._-``)."""
    try:
        kbo = validate_enterprise_number(issuer)
    except InvalidIdentifier as exc:
        raise AttestationError(f"key issuer is not a valid KBO number: {exc}", code="bad_key") from exc
    if not _SUFFIX.fullmatch(suffix):
        raise AttestationError(
            f"key id suffix {suffix!r} must be 1–64 letters, digits, '.', '_' or '-'", code="bad_key"
        )
    return f"{kbo}:{suffix}"


def issuer_of_kid(kid: str) -> str:
    """The KBO number a key id belongs to; :class:`AttestationError` when the kid is not well formed."""
    kbo, sep, suffix = kid.partition(":")
    if not sep or kbo != kbo.strip() or not kbo.isdigit() or len(kbo) != 10:
        raise AttestationError(f"key id {kid!r} is not '<10-digit KBO>:<suffix>'", code="bad_key")
    make_kid(kbo, suffix)  # validates the KBO check digits and the suffix
    return kbo


@dataclass(frozen=True)
class SigningKey:
    """An institution's private ES256 key and its key id."""

    kid: str
    key: ECKey = field(repr=False)

    @property
    def issuer(self) -> str:
        """The KBO number of the institution owning the key."""
        return issuer_of_kid(self.kid)

    def public_jwk(self) -> dict[str, Any]:
        """The public JWK (no private member), with ``kid``, ``alg`` and ``use``."""
        jwk = {k: v for k, v in self.key.as_dict(private=False).items() if k not in _PRIVATE_MEMBERS}
        jwk.update({"kid": self.kid, "alg": ALGORITHM, "use": "sig"})
        return jwk

    @classmethod
    def generate(cls, *, kid: str) -> SigningKey:
        """A fresh P-256 key (not stored anywhere)."""
        issuer_of_kid(kid)
        key = ECKey.generate_key(CURVE, parameters={"kid": kid, "alg": ALGORITHM, "use": "sig"}, private=True)
        return cls(kid=kid, key=key)


def load_or_create_signing_key(path: Path, *, kid: str) -> SigningKey:
    """Load the private JWK stored at ``path``, or create one there (mode 0600, never overwritten).

    A stored key must be a private P-256 key whose ``kid`` equals ``kid``; a file readable by group or
    others is refused (as ssh does), since whoever reads it can sign in the institution's name.
    """
    issuer_of_kid(kid)
    if path.exists():
        return _load(path, kid)
    signing_key = SigningKey.generate(kid=kid)
    data = json.dumps(signing_key.key.as_dict(private=True), sort_keys=True).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data + b"\n")
    finally:
        os.close(fd)
    os.chmod(path, 0o600)  # in case the umask widened nothing, but be explicit
    return signing_key


def _load(path: Path, kid: str) -> SigningKey:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise AttestationError(
            f"signing key {path} is accessible by others (mode {mode:04o}); chmod 600 it", code="bad_key"
        )
    try:
        doc = json.loads(path.read_bytes())
        key = ECKey.import_key(doc)
    except (ValueError, TypeError, JoseError) as exc:
        raise AttestationError(f"signing key {path} is not an EC JWK: {exc}", code="bad_key") from exc
    if not key.is_private or key.as_dict(private=False).get("crv") != CURVE:
        raise AttestationError(f"signing key {path} is not a private P-256 key", code="bad_key")
    if doc.get("kid") != kid:
        raise AttestationError(
            f"signing key {path} has kid {doc.get('kid')!r}, expected {kid!r}", code="bad_key"
        )
    return SigningKey(kid=kid, key=key)


def public_jwks(keys: Iterable[SigningKey]) -> dict[str, Any]:
    """The JWKS the network publishes: ``{"keys": [...]}``, public parts only, sorted by kid."""
    jwks = [k.public_jwk() for k in keys]
    kids = [j["kid"] for j in jwks]
    if len(set(kids)) != len(kids):
        raise AttestationError("duplicate kid among the signing keys", code="bad_jwks")
    return {"keys": sorted(jwks, key=lambda j: str(j["kid"]))}


@dataclass(frozen=True)
class KeySet(Mapping[str, ECKey]):
    """Public verification keys by kid; every key is pinned to ES256."""

    _keys: Mapping[str, ECKey]

    def __getitem__(self, kid: str) -> ECKey:
        return self._keys[kid]

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    @classmethod
    def of(cls, keys: Iterable[SigningKey]) -> KeySet:
        """The key set publishing ``keys`` (round trip through :func:`public_jwks`)."""
        return cls.from_jwks(public_jwks(keys))

    @classmethod
    def from_jwks(cls, doc: Any) -> KeySet:
        """Read a published JWKS; refuse private keys, other algorithms/curves, bad or duplicate kids."""
        if not isinstance(doc, Mapping) or not isinstance(doc.get("keys"), list):
            raise AttestationError('JWKS must be an object with a "keys" list', code="bad_jwks")
        keys: dict[str, ECKey] = {}
        for i, jwk in enumerate(doc["keys"]):
            if not isinstance(jwk, Mapping):
                raise AttestationError(f"JWKS key #{i} is not an object", code="bad_jwks")
            kid = jwk.get("kid")
            if not isinstance(kid, str) or not kid:
                raise AttestationError(f"JWKS key #{i} has no kid", code="bad_jwks")
            where = f"JWKS key {kid!r}"
            private = sorted(_PRIVATE_MEMBERS & set(jwk))
            if private:
                raise AttestationError(
                    f"{where} contains private key material ({', '.join(private)}); publish public keys only",
                    code="bad_jwks",
                )
            if jwk.get("alg") != ALGORITHM:
                raise AttestationError(
                    f"{where} has algorithm {jwk.get('alg')!r}; only {ALGORITHM} is allowed", code="bad_jwks"
                )
            if jwk.get("kty") != "EC" or jwk.get("crv") != CURVE:
                raise AttestationError(f"{where} is not an EC {CURVE} key", code="bad_jwks")
            if jwk.get("use", "sig") != "sig":
                raise AttestationError(f"{where} has use {jwk.get('use')!r}, not 'sig'", code="bad_jwks")
            if kid in keys:
                raise AttestationError(f"{where} appears twice", code="bad_jwks")
            try:
                issuer_of_kid(kid)
            except AttestationError as exc:
                raise AttestationError(f"{where}: {exc.reason}", code="bad_jwks") from exc
            try:
                keys[kid] = ECKey.import_key(dict(jwk))
            except (ValueError, TypeError, JoseError) as exc:
                raise AttestationError(f"{where} is not a valid EC key: {exc}", code="bad_jwks") from exc
        return cls(keys)
