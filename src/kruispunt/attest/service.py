"""Issue and verify electronic attestations (compact JWS, ES256, payload = canonical JSON of the claims).

Verification order (the first failure is reported, with a stable :attr:`AttestationError.code`):

1. ``not_jws`` — not three canonical base64url segments (unpadded, no stray bits: a single changed character
   can never decode to the same bytes; no surrounding whitespace), or a header that is not a JSON object;
2. ``alg_not_allowed`` — header ``alg`` is not ES256 (``none``, ``HS256``, … are refused before any key is
   looked up); the key used is then pinned to ES256 as well, so the header never picks the algorithm;
3. ``bad_header`` — header members other than exactly ``alg``, ``kid``, ``typ``, or a wrong ``typ``;
4. ``unknown_kid`` — the kid is not in the network's key set;
5. ``bad_signature``;
6. ``bad_payload`` — claims not matching :class:`Attestation`, or not in canonical JSON form;
7. ``issuer_mismatch`` — the claims' issuer is not the KBO number of the signing key's kid.

Validity in time is *not* an error: :func:`verify` returns a :class:`VerifiedAttestation` whose ``validity``
says ``valid`` / ``expired`` / ``not_yet_valid`` on the given date (default: today), so that an offline
verifier can say "signature valid but expired".
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from datetime import date
from typing import Any, Final

from joserfc import jws
from joserfc.errors import BadSignatureError, JoseError
from pydantic import ValidationError

from kruispunt.attest.errors import AttestationError
from kruispunt.attest.keys import ALGORITHM, KeySet, SigningKey, issuer_of_kid
from kruispunt.attest.schemas import Attestation, VerifiedAttestation
from kruispunt.core.canonical import canonical_json
from kruispunt.ids import InvalidIdentifier, validate_insz

TOKEN_TYPE: Final = "kruispunt-attestation+jwt"  # noqa: S105 - a JOSE typ, not a secret
MAX_TOKEN_LENGTH: Final = 64 * 1024
_HEADER_MEMBERS: Final = frozenset({"alg", "kid", "typ"})


def claims_bytes(attestation: Attestation) -> bytes:
    """The signed payload: canonical JSON of the claims."""
    return canonical_json(attestation.model_dump(mode="json"))


def issue(key: SigningKey, attestation: Attestation) -> str:
    """Sign ``attestation`` with the issuing institution's key; return the compact JWS.

    Refused (``issuer_mismatch``) when the attestation's issuer is not the key's institution.
    """
    if attestation.issuer != key.issuer:
        raise AttestationError(
            f"attestation issuer {attestation.issuer} cannot be signed with key {key.kid} "
            f"of institution {key.issuer}",
            code="issuer_mismatch",
        )
    header = {"alg": ALGORITHM, "kid": key.kid, "typ": TOKEN_TYPE}
    return jws.serialize_compact(header, claims_bytes(attestation), key.key, algorithms=[ALGORITHM])


def _b64decode(segment: str, what: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError) as exc:
        raise AttestationError(f"not a JWS: {what} is not base64url", code="not_jws") from exc
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != segment:
        raise AttestationError(f"not a JWS: {what} is not canonical base64url", code="not_jws")
    return raw


def _split(token: str) -> tuple[dict[str, Any], bytes, bytes]:
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
        raise AttestationError("not a JWS: expected a compact JWS string of reasonable size", code="not_jws")
    if not token.isascii():
        raise AttestationError("not a JWS: non-ASCII characters", code="not_jws")
    parts = token.split(".")
    if len(parts) != 3 or not parts[0] or not parts[1]:
        raise AttestationError(
            f"not a JWS: expected 3 dot-separated parts (header.payload.signature), got {len(parts)}",
            code="not_jws",
        )
    header_raw = _b64decode(parts[0], "header")
    try:
        header = json.loads(header_raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise AttestationError("not a JWS: header is not JSON", code="not_jws") from exc
    if not isinstance(header, dict):
        raise AttestationError("not a JWS: header is not a JSON object", code="not_jws")
    payload = _b64decode(parts[1], "payload")
    signature = _b64decode(parts[2], "signature")
    return header, payload, signature


def verify(token: str, keys: KeySet, *, on: date | None = None) -> VerifiedAttestation:
    """Check a token against the network's keys; raise :class:`AttestationError` saying why it is refused.

    The returned result carries ``validity`` on ``on`` (default: today's date) — see the module docstring.
    """
    header, payload, signature = _split(token)
    alg = header.get("alg")
    if alg != ALGORITHM:
        raise AttestationError(f"algorithm {alg!r} not allowed; only {ALGORITHM}", code="alg_not_allowed")
    extra = sorted(set(header) - _HEADER_MEMBERS)
    if extra:
        raise AttestationError(f"unexpected header members: {', '.join(extra)}", code="bad_header")
    if header.get("typ") != TOKEN_TYPE:
        raise AttestationError(f"header typ {header.get('typ')!r} is not {TOKEN_TYPE!r}", code="bad_header")
    kid = header.get("kid")
    if not isinstance(kid, str):
        raise AttestationError("header has no kid", code="bad_header")
    if kid not in keys:
        raise AttestationError(f"unknown kid {kid!r}: not in the network's key set", code="unknown_kid")
    if not signature:
        raise AttestationError(f"bad signature for kid {kid!r}: the signature is empty", code="bad_signature")
    try:
        jws.deserialize_compact(token, keys[kid], algorithms=[ALGORITHM])
    except BadSignatureError as exc:
        raise AttestationError(f"bad signature for kid {kid!r}", code="bad_signature") from exc
    except JoseError as exc:
        raise AttestationError(f"signature check failed: {exc}", code="bad_signature") from exc
    try:
        attestation = Attestation.model_validate_json(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "claims"
        raise AttestationError(
            f"payload does not match the attestation schema: {loc}: {first['msg']}", code="bad_payload"
        ) from exc
    if claims_bytes(attestation) != payload:
        raise AttestationError("payload is not the canonical JSON of its claims", code="bad_payload")
    signer = issuer_of_kid(kid)
    if attestation.issuer != signer:
        raise AttestationError(
            f"issuer {attestation.issuer} in the payload is not {signer}, the owner of key {kid!r}",
            code="issuer_mismatch",
        )
    checked_on = on if on is not None else date.today()
    return VerifiedAttestation(
        attestation=attestation, kid=kid, checked_on=checked_on, validity=attestation.validity_on(checked_on)
    )


def list_for_subject(
    tokens: Iterable[str], insz: str, keys: KeySet, *, on: date | None = None, in_force_only: bool = False
) -> list[VerifiedAttestation]:
    """The verified attestations about one person (``ListOfAttestations``), oldest period first.

    Every token is verified; one that fails raises (a store holding a forged token is an integrity problem
    to surface, not to skip). ``in_force_only`` keeps those valid on ``on``.
    """
    try:
        subject = validate_insz(insz).number
    except InvalidIdentifier as exc:
        raise AttestationError(f"not a valid INSZ: {exc}", code="bad_payload") from exc
    found = [verify(t, keys, on=on) for t in tokens]
    return sorted(
        (v for v in found if v.attestation.subject == subject and (v.in_force or not in_force_only)),
        key=lambda v: (v.attestation.valid_from, v.attestation.issued_at, str(v.attestation.id)),
    )
