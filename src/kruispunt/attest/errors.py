"""The one error the attestation package raises: :class:`AttestationError` with a stable code and a reason."""

from __future__ import annotations

from typing import Literal

ErrorCode = Literal[
    "not_jws",
    "bad_header",
    "unknown_kid",
    "alg_not_allowed",
    "bad_signature",
    "bad_payload",
    "issuer_mismatch",
    "bad_key",
    "bad_jwks",
]


class AttestationError(Exception):
    """An attestation, key or key set was refused. ``code`` is stable (for tests and JSON output);
    ``reason`` is the human sentence."""

    def __init__(self, reason: str, *, code: ErrorCode) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code: ErrorCode = code
