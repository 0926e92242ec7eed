"""Signed envelopes: every request and reply between an institution and the hub carries its sender's
signature over the exact bytes sent.

Why a detached JWS (RFC 7515 appendix F), in a header: the body stays the message the schemas describe
(JSON or SOAP), nothing has to be canonicalised (the bytes signed are the bytes sent), and a hop that does
not check signatures can ignore the header. The detached payload is the SHA-256 digest of the body, not the
body itself: the signature can then be checked later from the digest alone, which is what the log keeps as
evidence (:func:`verify_digest`, ``kruispunt audit verify-evidence``), and the receiver hashes the body once
instead of base64-encoding it. The protected header carries:

* ``alg`` ES256 (the only one accepted), ``typ`` :data:`ENVELOPE_TYPE`;
* ``x5c``: the sender's certificate (DER, base64), or ``x5t#S256``: its thumbprint, for a receiver that
  holds the network's certificates; checked against the network CA
  (:func:`kruispunt.trust.ca.verify_certificate`) — the sender's KBO comes from it;
* ``iat``: when it was signed (Unix seconds), accepted within :data:`WINDOW_SECONDS` of now;
* ``jti``: a one-time value; a second message with the same ``jti`` inside the window is a replay;
* ``htm`` / ``htu``: the HTTP method and path it was signed for, so a signed body cannot be replayed on
  another route;
* ``sub`` (optional): the person on whose behalf the institution acts (the portal's logged-in user), so a
  service can trust who the user is only when the institution that vouches for them signed it.

The verifier returns the KBO the certificate proves; comparing it with the institution the message claims
to come from is the hub's job (a signature of institution A over a message "from B" is refused there).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import orjson
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from kruispunt.trust.ca import Identity, TrustError, verify_certificate

ENVELOPE_TYPE: Final = "kruispunt-envelope+jws"
SIGNATURE_HEADER: Final = "X-Kruispunt-Signature"
WINDOW_SECONDS: Final = 300
TRUST_CACHE_SECONDS: Final = 60.0
MAX_SIGNATURE_LENGTH: Final = 16 * 1024
_COORDINATE = 32  # bytes of a P-256 coordinate / signature half
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not text or not _BASE64URL.fullmatch(text):
        raise TrustError("bad_signature", "the signature is not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as exc:
        raise TrustError("bad_signature", "the signature is not base64url") from exc


@functools.lru_cache(maxsize=256)
def _x5c(certificate: x509.Certificate) -> str:
    return base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode("ascii")


@functools.lru_cache(maxsize=256)
def thumbprint(certificate: x509.Certificate) -> str:
    """The certificate's ``x5t#S256``: base64url of the SHA-256 of its DER form."""
    return _b64(certificate.fingerprint(hashes.SHA256()))


def body_digest(body: bytes) -> bytes:
    """The detached payload that is signed: the SHA-256 of the exact body bytes."""
    return hashlib.sha256(body).digest()


def _signing_input(protected: str, digest: bytes) -> bytes:
    return protected.encode("ascii") + b"." + _b64(digest).encode("ascii")


_ECDSA_SHA256: Final = ec.ECDSA(hashes.SHA256())


def sign(
    body: bytes,
    identity: Identity,
    *,
    method: str,
    path: str,
    now: float | None = None,
    jti: str | None = None,
    embed_certificate: bool = True,
    subject: str | None = None,
    claims: Mapping[str, str] | None = None,
) -> str:
    """The detached compact JWS (``<protected>..<signature>``) of ``body`` sent as ``method path``.

    ``embed_certificate`` False names the certificate by its SHA-256 thumbprint (``x5t#S256``) instead of
    carrying it (``x5c``): 60 bytes instead of ~800 on every message, for a receiver that holds the network's
    certificates (the hub does). ``subject`` names the person the sender acts for (``sub``); ``claims`` adds
    further header members (the hub's answer names the ticket and the request's digest)."""
    header: dict[str, Any] = {
        "alg": "ES256",
        "typ": ENVELOPE_TYPE,
        "iat": int(now if now is not None else time.time()),
        "jti": jti or secrets.token_urlsafe(16),
        "htm": method.upper(),
        "htu": path,
    }
    if embed_certificate:
        header["x5c"] = [_x5c(identity.certificate)]
    else:
        header["x5t#S256"] = thumbprint(identity.certificate)
    if subject is not None:
        header["sub"] = subject
    if claims:
        header.update({k: v for k, v in claims.items() if k not in header})
    protected = _b64(orjson.dumps(header, option=orjson.OPT_SORT_KEYS))
    der = identity.key.sign(_signing_input(protected, body_digest(body)), _ECDSA_SHA256)
    r, s = decode_dss_signature(der)
    signature = r.to_bytes(_COORDINATE, "big") + s.to_bytes(_COORDINATE, "big")
    return f"{protected}..{_b64(signature)}"


@dataclass(frozen=True)
class VerifiedEnvelope:
    """Who signed (the KBO of the certificate), which certificate, when, the one-time value, for whom
    (``sub``, when the sender named a person), and the body's SHA-256 (hex) the signature covers."""

    kbo: str
    serial: int
    issued_at: int
    jti: str
    certificate_sha256: str
    subject: str | None = None
    digest: str = ""


class ReplayGuard:
    """The ``jti`` values seen in the last window (in this process; bounded).

    A deployment with several hub processes shares one guard through ``seen`` (e.g. a unique key in a
    shared store); the default keeps them in memory.
    """

    def __init__(self, window_s: int = WINDOW_SECONDS, max_entries: int = 1_000_000) -> None:
        self.window_s = window_s
        self.max_entries = max_entries
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, jti: str, now: float) -> bool:
        """Record ``jti``; ``False`` when it was already seen inside the window."""
        with self._lock:
            while self._seen:
                oldest, at = next(iter(self._seen.items()))
                if at >= now - self.window_s and len(self._seen) < self.max_entries:
                    break
                del self._seen[oldest]
            if jti in self._seen:
                return False
            self._seen[jti] = now
            return True


@dataclass(frozen=True)
class _Signer:
    """A sender's certificate as the verifier keeps it: parsed once, with its fingerprint and public key."""

    certificate: x509.Certificate
    fingerprint: bytes
    public_key: ec.EllipticCurvePublicKey


def _signer(certificate: x509.Certificate) -> _Signer:
    public = certificate.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey):
        raise TrustError("bad_signature", "the certificate's key is not an EC key")
    return _Signer(certificate, certificate.fingerprint(hashes.SHA256()), public)


def parse_header(protected: str) -> Mapping[str, Any]:
    """The protected header of an envelope, checked for the one algorithm and type accepted."""
    try:
        header = orjson.loads(_unb64(protected))
    except orjson.JSONDecodeError as exc:
        raise TrustError("bad_signature", "the signature's header is not JSON") from exc
    if not isinstance(header, dict):
        raise TrustError("bad_signature", "the signature's header is not a JSON object")
    if header.get("alg") != "ES256" or header.get("typ") != ENVELOPE_TYPE:
        raise TrustError("bad_signature", f"the signature must be ES256 of type {ENVELOPE_TYPE}")
    return header


def _split(signature: str | None) -> tuple[str, str]:
    if not signature:
        raise TrustError("unsigned", f"the message carries no {SIGNATURE_HEADER} header")
    if len(signature) > MAX_SIGNATURE_LENGTH:
        raise TrustError("bad_signature", "the signature is too long")
    parts = signature.split(".")
    if len(parts) != 3 or parts[1] or not parts[0] or not parts[2]:
        raise TrustError("bad_signature", "the signature is not a detached compact JWS (<header>..<sig>)")
    return parts[0], parts[2]


def _check_ecdsa(signer: _Signer, protected: str, encoded: str, digest: bytes) -> None:
    raw = _unb64(encoded)
    if len(raw) != 2 * _COORDINATE:
        raise TrustError("bad_signature", "the signature is not an ES256 signature")
    der = encode_dss_signature(
        int.from_bytes(raw[:_COORDINATE], "big"), int.from_bytes(raw[_COORDINATE:], "big")
    )
    try:
        signer.public_key.verify(der, _signing_input(protected, digest), _ECDSA_SHA256)
    except InvalidSignature as exc:
        raise TrustError("bad_signature", "the signature does not match the message") from exc


def _carried_certificate(header: Mapping[str, Any]) -> x509.Certificate:
    chain = header.get("x5c")
    if not isinstance(chain, list) or len(chain) != 1 or not isinstance(chain[0], str):
        raise TrustError("bad_signature", "the signature carries no single certificate (x5c)")
    try:
        return x509.load_der_x509_certificate(base64.b64decode(chain[0], validate=True))
    except ValueError as exc:
        raise TrustError("bad_signature", "the certificate (x5c) cannot be read") from exc


@dataclass(frozen=True)
class CheckedSignature:
    """An envelope signature checked after the fact (evidence): its header, the signer's certificate and
    the KBO that certificate proves."""

    header: Mapping[str, Any]
    certificate: x509.Certificate
    kbo: str


def verify_digest(
    signature: str,
    digest: bytes,
    ca_certificate: x509.Certificate,
    *,
    certificate: x509.Certificate | None = None,
    crl: x509.CertificateRevocationList | None = None,
) -> CheckedSignature:
    """Check, offline, that ``signature`` signs the body whose SHA-256 is ``digest``: the signature, and the
    certificate (carried in ``x5c``, or ``certificate`` when the envelope names it by thumbprint) against
    the CA as it stood when the envelope was signed (``iat``). No clock window or replay check: this is
    for evidence, checked long after the exchange."""
    protected, encoded = _split(signature)
    header = parse_header(protected)
    if "x5c" in header:
        certificate = _carried_certificate(header)
    elif certificate is None or header.get("x5t#S256") != thumbprint(certificate):
        raise TrustError("untrusted", "the signing certificate is not the one the evidence holds")
    issued = header.get("iat")
    if not isinstance(issued, int):
        raise TrustError("bad_signature", "the signature carries no signing time (iat)")
    kbo = verify_certificate(certificate, ca_certificate, crl, now=datetime.fromtimestamp(issued, UTC))
    _check_ecdsa(_signer(certificate), protected, encoded, digest)
    return CheckedSignature(header, certificate, kbo)


class EnvelopeVerifier:
    """Checks signed envelopes against the network CA and its revocation list."""

    def __init__(
        self,
        ca_certificate: x509.Certificate,
        crl: Callable[[], x509.CertificateRevocationList | None],
        *,
        replay: ReplayGuard | None = None,
        window_s: int = WINDOW_SECONDS,
        clock: Callable[[], float] = time.time,
        known: Callable[[str], x509.Certificate | None] | None = None,
    ) -> None:
        self.ca_certificate = ca_certificate
        self.crl = crl
        self.replay = replay or ReplayGuard(window_s)
        self.window_s = window_s
        self.clock = clock
        self.known = known
        self._signers: dict[str, _Signer] = {}
        self._trust_cache: dict[bytes, tuple[str, object, float]] = {}

    def _certificate(self, header: Mapping[str, Any]) -> _Signer:
        """The sender's certificate, fingerprint and key: carried (``x5c``) or named by thumbprint
        (``x5t#S256``) among the certificates the verifier knows; each distinct one is parsed once
        (profiled: parsing the key on every message was a tenth of the verification)."""
        named = header.get("x5t#S256")
        carried = header.get("x5c")
        if carried is None and isinstance(named, str):
            key = named
        elif isinstance(carried, list) and len(carried) == 1 and isinstance(carried[0], str):
            key = carried[0]
        else:
            raise TrustError("bad_signature", "the signature carries no single certificate (x5c)")
        cached = self._signers.get(key)
        if cached is None:
            if key is named:
                known = self.known(named) if self.known is not None else None
                if known is None:
                    raise TrustError("untrusted", "the signing certificate is not one the network knows")
                cached = _signer(known)
            else:
                cached = _signer(_carried_certificate(header))
            if len(self._signers) > 10_000:
                self._signers.clear()
            self._signers[key] = cached
        return cached

    def _trusted(self, certificate: x509.Certificate, key: bytes, now: float) -> str:
        """The KBO of a certificate checked against the CA and the current revocation list; a success is
        kept for :data:`TRUST_CACHE_SECONDS` or until the revocation list changes (profiled: the CA and
        CRL signature checks are two thirds of a message's verification)."""
        crl = self.crl()
        cached = self._trust_cache.get(key)
        if (
            cached is not None
            and cached[1] is crl
            and now - cached[2] < TRUST_CACHE_SECONDS
            and now <= certificate.not_valid_after_utc.timestamp()
        ):
            return cached[0]
        kbo = verify_certificate(certificate, self.ca_certificate, crl, now=datetime.fromtimestamp(now, UTC))
        if len(self._trust_cache) > 10_000:
            self._trust_cache.clear()
        self._trust_cache[key] = (kbo, crl, now)
        return kbo

    def verify(self, signature: str | None, body: bytes, *, method: str, path: str) -> VerifiedEnvelope:
        """The verified sender of ``body``; :class:`TrustError` (code ``unsigned``, ``bad_signature``,
        ``untrusted``, ``expired``, ``revoked``, ``stale``, ``replayed``, ``wrong_route``) otherwise."""
        return self.verify_by_digest(signature, body_digest(body), method=method, path=path)

    def verify_by_digest(
        self, signature: str | None, digest: bytes, *, method: str, path: str
    ) -> VerifiedEnvelope:
        """:meth:`verify` of a body known by its SHA-256 (a batch file hashed while it streams to disk)."""
        protected, encoded = _split(signature)
        header = parse_header(protected)
        signer = self._certificate(header)
        now = self.clock()
        kbo = self._trusted(signer.certificate, signer.fingerprint, now)
        _check_ecdsa(signer, protected, encoded, digest)
        if header.get("htm") != method.upper() or header.get("htu") != path:
            raise TrustError("wrong_route", "the message was signed for another route")
        issued = header.get("iat")
        if not isinstance(issued, int) or abs(now - issued) > self.window_s:
            raise TrustError("stale", f"the message was not signed within {self.window_s} s of now")
        jti = header.get("jti")
        if not isinstance(jti, str) or not 8 <= len(jti) <= 128:
            raise TrustError("bad_signature", "the signature carries no one-time value (jti)")
        subject = header.get("sub")
        if subject is not None and (not isinstance(subject, str) or not 0 < len(subject) <= 256):
            raise TrustError("bad_signature", "the signature's subject (sub) is not a short string")
        if not self.replay.first_time(f"{kbo}:{jti}", now):
            raise TrustError("replayed", "this signed message was already received (replay)")
        return VerifiedEnvelope(
            kbo,
            signer.certificate.serial_number,
            issued,
            jti,
            signer.fingerprint.hex(),
            subject,
            digest.hex(),
        )
