"""Refusal reasons of the hub, in CBSS style.

Reason codes follow the 8-digit ``TCSSSXXX`` form of CBSS notifications (zone 00814): T = type (3 error),
C = category (1 user input, 2 business, 3 resource, 4 unexpected, 5 security), SSS = the answering service
(001 = hub, 012 = security service), XXX = sequence. Every refusal carries a code, an HTTP status and a
diagnostic that tells the sender what to fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class Reason:
    code: str
    name: str
    http_status: int
    text: str

    @property
    def kind(self) -> Literal["client", "server"]:
        """Whose fault: the sender's input (4xx) or ours / a source's (5xx)."""
        return "server" if self.http_status >= 500 else "client"


def _r(code: str, name: str, status: int, text: str) -> Reason:
    return Reason(code=code, name=name, http_status=status, text=text)


MALFORMED_REQUEST = _r("31001001", "MALFORMED_REQUEST", 400, "the request is not well-formed JSON or XML")
SCHEMA_VIOLATION = _r("31001002", "SCHEMA_VIOLATION", 400, "the request does not match the schema")
INVALID_SSIN = _r("31001003", "INVALID_SSIN", 400, "the person's INSZ is not valid")
UNKNOWN_MESSAGE_TYPE = _r("31001004", "UNKNOWN_MESSAGE_TYPE", 404, "unknown message type or version")
BODY_TOO_LARGE = _r("31001005", "BODY_TOO_LARGE", 413, "the request body is too large")
PERSON_REQUIRED = _r("31001006", "PERSON_REQUIRED", 400, "this message type needs the person's INSZ")
UNKNOWN_CUSTOMER = _r("35012001", "UNKNOWN_CUSTOMER", 403, "the calling institution is not on the network")
NO_DELIBERATION = _r("35012002", "NO_DELIBERATION", 403, "no deliberation authorises this exchange")
LEGAL_CONTEXT_NOT_ALLOWED = _r(
    "35012003", "LEGAL_CONTEXT_NOT_ALLOWED", 403, "the legal context is not allowed for this exchange"
)
DELIBERATION_EXPIRED = _r("35012004", "DELIBERATION_EXPIRED", 403, "the deliberation is no longer in force")
DELIBERATION_NOT_YET_VALID = _r(
    "35012005", "DELIBERATION_NOT_YET_VALID", 403, "the deliberation is not yet in force"
)
PERSON_NOT_INTEGRATED = _r(
    "35012006",
    "PERSON_NOT_INTEGRATED",
    403,
    "the institution has not integrated this person in the reference directory with an allowed capacity",
)
PROOF_MISMATCH = _r(
    "35012007", "PROOF_MISMATCH", 403, "the proof of authentication does not match the person"
)
UNSIGNED = _r("35012010", "UNSIGNED", 401, "the message must be signed by its sender (X-Kruispunt-Signature)")
BAD_SIGNATURE = _r("35012011", "BAD_SIGNATURE", 401, "the message's signature does not verify")
UNTRUSTED_SENDER = _r(
    "35012012", "UNTRUSTED_SENDER", 403, "the sender's certificate is not valid on the network"
)
REPLAYED = _r("35012013", "REPLAYED", 409, "this signed message was already received, or is too old")
SENDER_MISMATCH = _r(
    "35012014", "SENDER_MISMATCH", 403, "the message is signed by another institution than the one it names"
)
RATE_LIMITED = _r(
    "33012001", "RATE_LIMITED", 429, "the institution sends more messages per second than it may; slow down"
)
QUOTA_EXCEEDED = _r(
    "33012002", "QUOTA_EXCEEDED", 429, "the deliberation's daily quota for this institution is used up"
)
DIRECTORY_REFUSED = _r("32001001", "DIRECTORY_REFUSED", 422, "the reference directory refused the operation")
PROVIDER_UNAVAILABLE = _r(
    "33001001", "PROVIDER_UNAVAILABLE", 502, "the authentic source could not be reached"
)
PROVIDER_TIMEOUT = _r("33001002", "PROVIDER_TIMEOUT", 504, "the authentic source did not answer in time")
PROVIDER_BAD_REPLY = _r("33001003", "PROVIDER_BAD_REPLY", 502, "the authentic source sent an invalid reply")
DIRECTORY_UNAVAILABLE = _r(
    "33001005", "DIRECTORY_UNAVAILABLE", 503, "the reference directory could not be read; try again"
)
LOG_UNAVAILABLE = _r(
    "33001004", "LOG_UNAVAILABLE", 503, "the exchange could not be logged, so no data is returned"
)
INTERNAL = _r("34001001", "INTERNAL", 500, "unexpected internal error")

BY_NAME: dict[str, Reason] = {
    r.name: r
    for r in (
        MALFORMED_REQUEST,
        SCHEMA_VIOLATION,
        INVALID_SSIN,
        UNKNOWN_MESSAGE_TYPE,
        BODY_TOO_LARGE,
        PERSON_REQUIRED,
        UNKNOWN_CUSTOMER,
        NO_DELIBERATION,
        LEGAL_CONTEXT_NOT_ALLOWED,
        DELIBERATION_EXPIRED,
        DELIBERATION_NOT_YET_VALID,
        PERSON_NOT_INTEGRATED,
        PROOF_MISMATCH,
        DIRECTORY_REFUSED,
        PROVIDER_UNAVAILABLE,
        PROVIDER_TIMEOUT,
        PROVIDER_BAD_REPLY,
        DIRECTORY_UNAVAILABLE,
        LOG_UNAVAILABLE,
        INTERNAL,
    )
}


class Refusal(Exception):
    """Raised inside the pipeline; becomes a CBSS-style fault answer (and an audit entry)."""

    def __init__(self, reason: Reason, diagnostic: str | None = None) -> None:
        super().__init__(diagnostic or reason.text)
        self.reason = reason
        self.diagnostic = diagnostic or reason.text
