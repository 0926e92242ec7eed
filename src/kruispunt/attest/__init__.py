"""Electronic attestations: issued and signed (ES256 JWS) by their source, verifiable offline by anyone
holding the network's published keys. See :mod:`kruispunt.attest.service` for the verification rules."""

from kruispunt.attest.errors import AttestationError, ErrorCode
from kruispunt.attest.keys import (
    ALGORITHM,
    KeySet,
    SigningKey,
    issuer_of_kid,
    load_or_create_signing_key,
    make_kid,
    public_jwks,
)
from kruispunt.attest.schemas import Attestation, Validity, VerifiedAttestation
from kruispunt.attest.service import TOKEN_TYPE, claims_bytes, issue, list_for_subject, verify

__all__ = [
    "ALGORITHM",
    "TOKEN_TYPE",
    "Attestation",
    "AttestationError",
    "ErrorCode",
    "KeySet",
    "SigningKey",
    "Validity",
    "VerifiedAttestation",
    "claims_bytes",
    "issue",
    "issuer_of_kid",
    "list_for_subject",
    "load_or_create_signing_key",
    "make_kid",
    "public_jwks",
    "verify",
]
