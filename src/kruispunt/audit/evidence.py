"""Evidence of one exchange, checkable offline: ``kruispunt audit show TICKET`` writes it,
``kruispunt audit verify-evidence FILE`` checks it with nothing but the file (and, to be sure of whom to
trust, the network CA's certificate and the log's key given separately).

What the file holds and what each part proves:

* ``entry``: the log entry's hashed fields and its ``entry_hash`` — recomputed from the fields;
* ``checkpoint`` + ``inclusion``: a checkpoint signed by the KSZ's log key and the Merkle path that puts
  ``entry_hash`` under it — so the entry is in the signed, append-only log;
* ``request``: the sender's detached signature over the request's SHA-256 and its certificate — the
  institution the entry names signed that request (checked against the network CA);
* ``reply``: the hub's signature over the answer's SHA-256, whose header names the entry's ticket and the
  request's digest — the KSZ answered that request, in that exchange;
* ``trust``: the CA's certificate, the KSZ's certificate and the log's public key (JWK).

Every member is checked and no other member is allowed, so changing any byte of the file makes it fail.
Bodies are not kept (the hub keeps no message contents); whoever holds a body can compare its SHA-256 with
the digest in the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from joserfc import jws
from sqlalchemy import Connection, select

from kruispunt.attest.errors import AttestationError
from kruispunt.attest.keys import KeySet
from kruispunt.audit.checkpoints import (
    CheckpointError,
    check_inclusion,
    latest_checkpoint,
    proofs_for,
    read_token,
)
from kruispunt.audit.merkle import ProofError
from kruispunt.audit.models import audit_entry, audit_evidence
from kruispunt.audit.service import HASHED_FIELDS, entry_hash, iso_utc
from kruispunt.network import KSZ
from kruispunt.trust.ca import CA_CERT, ISSUED_DIR, TrustError
from kruispunt.trust.envelopes import parse_header, thumbprint, verify_digest

EVIDENCE_TYPE: Final = "kruispunt-evidence/1"
_MEMBERS: Final = frozenset(
    {"type", "ticket", "entry", "checkpoint", "inclusion", "request", "reply", "trust"}
)
_SIGNED_MEMBERS: Final = frozenset({"digest", "signature", "certificate"})
_TRUST_MEMBERS: Final = frozenset({"ca_certificate", "log_key"})
_ENTRY_MEMBERS: Final = frozenset({*HASHED_FIELDS, "entry_hash"})


class EvidenceError(ValueError):
    """Evidence cannot be built (unknown ticket, not yet in a checkpoint) or does not verify."""


def _pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _certificate_named(signature: str | None, folder: Path) -> str | None:
    """The PEM of the network certificate a signature names by thumbprint (or carries)."""
    if signature is None:
        return None
    header = parse_header(signature.split(".")[0])
    if "x5c" in header:
        return None
    wanted = header.get("x5t#S256")
    for path in sorted((folder / ISSUED_DIR).glob("*.cert.pem")):
        certificate = x509.load_pem_x509_certificate(path.read_bytes())
        if thumbprint(certificate) == wanted:
            return _pem(certificate)
    raise EvidenceError("the signing certificate is not among the network's certificates")


def build_evidence(conn: Connection, ticket: str, keys: KeySet, trust_folder: Path) -> dict[str, Any]:
    """The evidence file of the exchange ``ticket`` (a JSON-ready dict)."""
    row = conn.execute(
        select(*(audit_entry.c[name] for name in HASHED_FIELDS), audit_entry.c.entry_hash).where(
            audit_entry.c.ticket == ticket
        )
    ).first()
    if row is None:
        raise EvidenceError(f"no exchange with ticket {ticket!r} in the log")
    entry = dict(zip((*HASHED_FIELDS, "entry_hash"), row, strict=True))
    entry["occurred_at"] = iso_utc(entry["occurred_at"])
    kept = conn.execute(select(audit_evidence).where(audit_evidence.c.ticket == ticket)).mappings().first()
    if kept is None:
        raise EvidenceError(f"the hub kept no signed request and answer for {ticket!r}")
    checkpoint = latest_checkpoint(conn, keys)
    proof = proofs_for(conn, checkpoint, [(entry["chain"], entry["seq"])])[0] if checkpoint else None
    if checkpoint is None or proof is None:
        raise EvidenceError(
            "no signed checkpoint covers this exchange yet: wait a minute or run `audit checkpoint`"
        )
    kid = str(parse_token_kid(checkpoint.token))
    ca_certificate = (trust_folder / CA_CERT).read_text()
    return {
        "type": EVIDENCE_TYPE,
        "ticket": ticket,
        "entry": entry,
        "checkpoint": checkpoint.token,
        "inclusion": proof,
        "request": {
            "digest": kept["request_digest"],
            "signature": kept["request_signature"],
            "certificate": _certificate_named(kept["request_signature"], trust_folder),
        },
        "reply": {
            "digest": kept["reply_digest"],
            "signature": kept["reply_signature"],
            "certificate": _certificate_named(kept["reply_signature"], trust_folder),
        },
        "trust": {"ca_certificate": ca_certificate, "log_key": dict(_public_jwk(keys, kid))},
    }


def parse_token_kid(token: str) -> object:
    """The ``kid`` a checkpoint token names (already checked by :func:`read_token`)."""
    return jws.extract_compact(token.encode("ascii")).headers().get("kid")


def _public_jwk(keys: KeySet, kid: str) -> Mapping[str, Any]:
    jwk = keys[kid].as_dict(private=False)
    return {**jwk, "kid": kid}


@dataclass(frozen=True)
class EvidenceReport:
    """What a checked evidence file proves: who asked, who answered, which checkpoint holds it."""

    ticket: str
    requester: str | None
    checkpoint: int


def _exact(value: Any, members: frozenset[str], what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping) or set(value) != members:
        raise EvidenceError(f"{what} must be an object with exactly {sorted(members)}")
    return value


def _certificate(pem: Any, what: str) -> x509.Certificate | None:
    if pem is None:
        return None
    if not isinstance(pem, str):
        raise EvidenceError(f"{what} is not a PEM certificate")
    try:
        return x509.load_pem_x509_certificate(pem.encode("ascii"))
    except (ValueError, UnicodeError) as exc:
        raise EvidenceError(f"{what} cannot be read") from exc


def verify_evidence(
    doc: Any,
    *,
    ca_certificate: x509.Certificate | None = None,
    log_keys: KeySet | None = None,
) -> EvidenceReport:
    """Check an evidence file offline; :class:`EvidenceError` names the first thing that does not hold.

    ``ca_certificate`` and ``log_keys``, when given, are the anchors the checker trusts; the file's own
    copies must then be the same. Without them the file's copies are used (the report is then only as
    good as the CA fingerprint the reader compares)."""
    doc = _exact(doc, _MEMBERS, "the evidence")
    if doc["type"] != EVIDENCE_TYPE:
        raise EvidenceError(f"not evidence of type {EVIDENCE_TYPE}")
    trust = _exact(doc["trust"], _TRUST_MEMBERS, "trust")
    carried_ca = _certificate(trust["ca_certificate"], "the CA certificate")
    if carried_ca is None:
        raise EvidenceError("the evidence carries no CA certificate")
    if ca_certificate is not None and carried_ca != ca_certificate:
        raise EvidenceError("the evidence's CA is not the CA given")
    try:
        carried_keys = KeySet.from_jwks({"keys": [trust["log_key"]]})
    except AttestationError as exc:
        raise EvidenceError(f"the log key cannot be read: {exc}") from exc
    keys = log_keys if log_keys is not None else carried_keys
    if log_keys is not None and set(carried_keys) - set(log_keys):
        raise EvidenceError("the evidence's log key is not one of the keys given")

    entry = _exact(doc["entry"], _ENTRY_MEMBERS, "the entry")
    ticket = doc["ticket"]
    if entry["ticket"] != ticket:
        raise EvidenceError("the entry is of another ticket")
    fields = {name: entry[name] for name in HASHED_FIELDS}
    try:
        recomputed = entry_hash(str(entry["prev_hash"]), fields)
    except (TypeError, ValueError, UnicodeError) as exc:
        raise EvidenceError(f"the entry's fields are garbled: {exc}") from exc
    if recomputed != entry["entry_hash"]:
        raise EvidenceError("the entry's fields do not match its hash (a field was altered)")
    try:
        checkpoint = read_token(doc["checkpoint"], keys)
        proof = _exact(
            doc["inclusion"], frozenset({"checkpoint", "chain", "index", "size", "path"}), "inclusion"
        )
        if proof["checkpoint"] != checkpoint.id or proof["chain"] != entry["chain"]:
            raise EvidenceError("the inclusion proof is for another checkpoint or chain")
        if proof["index"] != entry["seq"] - 1:
            raise EvidenceError("the inclusion proof is for another entry")
        check_inclusion(proof, str(entry["entry_hash"]), checkpoint)
    except (CheckpointError, ProofError, KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, EvidenceError):
            raise
        raise EvidenceError(f"the entry is not proven in the signed log: {exc}") from exc

    request = _exact(doc["request"], _SIGNED_MEMBERS, "request")
    reply = _exact(doc["reply"], _SIGNED_MEMBERS, "reply")
    try:
        if request["signature"] is not None:
            signed = verify_digest(
                str(request["signature"]),
                bytes.fromhex(str(request["digest"])),
                carried_ca,
                certificate=_certificate(request["certificate"], "the sender's certificate"),
            )
            if signed.kbo != entry["requester_kbo"]:
                raise EvidenceError(
                    f"the request is signed by {signed.kbo}, the entry names {entry['requester_kbo']}"
                )
        elif request["certificate"] is not None:
            raise EvidenceError("an unsigned request carries no certificate")
        answered = verify_digest(
            str(reply["signature"]),
            bytes.fromhex(str(reply["digest"])),
            carried_ca,
            certificate=_certificate(reply["certificate"], "the hub's certificate"),
        )
    except TrustError as exc:
        raise EvidenceError(f"a signature does not hold: {exc.message}") from exc
    except ValueError as exc:
        if isinstance(exc, EvidenceError):
            raise
        raise EvidenceError(f"a digest is not hexadecimal: {exc}") from exc
    if answered.kbo != KSZ:
        raise EvidenceError(f"the answer is signed by {answered.kbo}, not by the KSZ")
    if answered.header.get("tkt") != ticket or answered.header.get("req") != request["digest"]:
        raise EvidenceError("the hub's signed answer is for another ticket or another request")
    return EvidenceReport(
        str(ticket), entry["requester_kbo"] if request["signature"] else None, checkpoint.id
    )
