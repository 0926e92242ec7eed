"""The hub's side of signed envelopes: check the sender's signature on a message, sign the answer.

Why here and not in the pipeline: the signature covers the exact bytes received, so it is checked by the
channel that read them, before anything is parsed into a :class:`~kruispunt.hub.service.Consultation`;
the pipeline only learns which institution the certificate proves, and refuses a message that names
another one. The answer is signed with the hub's own identity (the KSZ's certificate), over the exact bytes
sent back, so the institution can prove what the hub answered.

Modes (``KRUISPUNT_SIGNATURES``): ``verify`` — a signature, when sent, must verify (a bad one is
refused); ``required`` — an unsigned message is refused too; ``off`` — signatures are ignored. The same
mode holds on every channel: REST (:meth:`Signatures.check`), SOAP, asynchronous messages, batches, the
mailbox, the directory and log entries (:meth:`Signatures.caller`). The reads the hub serves the KSZ
alone (a person's consultations and file, the log's figures) require a signature whatever the mode
(:meth:`Signatures.callers`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from kruispunt.core.settings import Settings
from kruispunt.hub import errors
from kruispunt.hub.errors import Reason
from kruispunt.network import KSZ
from kruispunt.trust.ca import Identity, TrustError, load_identity
from kruispunt.trust.envelopes import SIGNATURE_HEADER, EnvelopeVerifier, VerifiedEnvelope, sign
from kruispunt.trust.receiver import SignedCallers, identify_caller, open_verifier

log = logging.getLogger("kruispunt.hub.signatures")

_REASONS: dict[str, Reason] = {
    "unsigned": errors.UNSIGNED,
    "bad_signature": errors.BAD_SIGNATURE,
    "wrong_route": errors.BAD_SIGNATURE,
    "untrusted": errors.UNTRUSTED_SENDER,
    "expired": errors.UNTRUSTED_SENDER,
    "not_yet_valid": errors.UNTRUSTED_SENDER,
    "revoked": errors.UNTRUSTED_SENDER,
    "not_an_institution": errors.UNTRUSTED_SENDER,
    "bad_subject": errors.UNTRUSTED_SENDER,
    "stale": errors.REPLAYED,
    "replayed": errors.REPLAYED,
    "sender_mismatch": errors.SENDER_MISMATCH,
}


@dataclass
class Signatures:
    mode: str
    verifier: EnvelopeVerifier | None = None
    identity: Identity | None = field(default=None, repr=False)

    def check(
        self, headers: Mapping[str, str], body: bytes, *, method: str, path: str
    ) -> tuple[VerifiedEnvelope | None, Reason | None, str | None]:
        """``(verified sender or None, refusal reason or None, diagnostic)`` for one received message."""
        if self.mode == "off" or self.verifier is None:
            return None, None, None
        signature = headers.get(SIGNATURE_HEADER.lower())
        if signature is None and self.mode != "required":
            return None, None, None
        try:
            return self.verifier.verify(signature, body, method=method, path=path), None, None
        except TrustError as exc:
            return None, _REASONS.get(exc.code, errors.BAD_SIGNATURE), exc.message

    def caller(
        self, headers: Mapping[str, str], digest: bytes, *, method: str, path: str, declared: str | None
    ) -> tuple[str | None, Reason | None, str | None]:
        """``(calling institution or None, refusal reason or None, diagnostic)`` of a request on a channel
        that names its caller outside a signed message (batches, asynchronous messages, the mailbox, the
        directory): :func:`~kruispunt.trust.receiver.identify_caller` with the hub's mode, its refusals as
        the hub's reasons."""
        try:
            kbo = identify_caller(
                self.verifier,
                self.mode,
                headers.get(SIGNATURE_HEADER.lower()),
                digest,
                method=method,
                path=path,
                declared=declared,
            )
        except TrustError as exc:
            return None, _REASONS.get(exc.code, errors.BAD_SIGNATURE), exc.message
        return kbo, None, None

    @staticmethod
    def mismatch(verified: VerifiedEnvelope | None, claimed: str | None) -> str | None:
        """The diagnostic when the message names another institution than the one that signed it."""
        if verified is None or claimed is None or verified.kbo == claimed:
            return None
        return f"the message names {claimed} but is signed by {verified.kbo}"

    @property
    def signing(self) -> bool:
        """Whether the hub signs what it sends (it holds an identity and signatures are not off)."""
        return self.identity is not None and self.mode != "off"

    def signed_by_hub(
        self, body: bytes, *, method: str, path: str, claims: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """The hub's signature over what it sends (an answer) as a header, nothing when the hub holds no
        identity. ``claims`` adds header members: the answer to a signed request names the ticket and the
        request's digest, so the pair is evidence of the exchange."""
        if not self.signing or self.identity is None:
            return {}
        return {SIGNATURE_HEADER: sign(body, self.identity, method=method, path=path, claims=claims)}

    def callers(self, allowed: frozenset[str], *, service: str) -> SignedCallers | None:
        """The check of a hub route that serves only ``allowed`` institutions, signed, whatever the mode
        for messages (None when the hub has no CA or signatures are off: the route then answers 503)."""
        if self.verifier is None or self.mode == "off":
            return None
        return SignedCallers(self.verifier, allowed, service)

    def forwarding_signer(self) -> Callable[[bytes, str], dict[str, str]] | None:
        """For the forwarder: signs each request the hub sends a source (None when the hub cannot sign)."""
        if self.identity is None or self.mode == "off":
            return None
        identity = self.identity

        def signed(body: bytes, path: str) -> dict[str, str]:
            return {SIGNATURE_HEADER: sign(body, identity, method="POST", path=path, embed_certificate=False)}

        return signed


def open_signatures(settings: Settings) -> Signatures:
    """The hub's signatures from ``<data_dir>/trust``: the CA's certificate and revocation list (never its
    key) and the KSZ's identity; ``required`` without a CA certificate stops the start-up."""
    folder = settings.data_dir / "trust"
    if settings.signatures == "off":
        return Signatures("off")
    try:
        verifier = open_verifier(folder)
    except TrustError as exc:
        if settings.signatures == "required":
            raise RuntimeError(f"signatures are required but {exc.message}") from exc
        log.warning("no network CA in %s: signatures are not checked", folder)
        return Signatures("off")
    try:
        identity: Identity | None = load_identity(folder, KSZ)
    except TrustError:
        log.warning("the hub holds no certificate of the KSZ (%s): its answers are not signed", KSZ)
        identity = None
    return Signatures(settings.signatures, verifier, identity)
