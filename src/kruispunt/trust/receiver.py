"""Signed calls between kruispunt's own services: the caller signs each request with its institution's key,
the service checks the signature and who signed before it does anything.

Why: a service such as the trusted third party (which turns INSZ into codes and back) cannot believe a
header that says who is calling; anyone who reaches its port could write one. The hub's envelopes
(:mod:`kruispunt.trust.envelopes`) already prove the sender, so the same envelope proves a caller here.
The service decides which institutions may call it (:class:`SignedCallers`); the caller signs with
:class:`EnvelopeAuth`, an ``httpx`` authentication, so every request of its client is signed, and may name
the person it acts for (``sub``).

Two kinds of route:

* **signed only** — the TTP, and what the KSZ's portal reads for one person or operator (a career, who
  consulted one's data, a person's file, the research requests, the operators' views):
  :func:`checked_callers` / :func:`verify_caller` with a :class:`SignedCallers`; no CA means 503, never
  open; :func:`only_the_person` refuses a request about another person than the one it names.
* **declared or signed** — where an institution also names itself (a header, the body: the hub's channels,
  the changes service): :func:`identify_caller` believes a declaration alone only when signatures are not
  required, and refuses a signature of another institution than the one declared.

The pieces every receiver needs — the CA's revocation list reread when it changes, the issued certificates
by thumbprint, a verifier over the trust folder — live here, so the hub and the services check the same way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Generator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx
from cryptography import x509
from fastapi import HTTPException, Request

from kruispunt.core.web import JSONResponse, error_body, error_responses
from kruispunt.trust.ca import CA_CERT, CRL_FILE, ISSUED_DIR, Identity, TrustError, load_identity
from kruispunt.trust.envelopes import (
    SIGNATURE_HEADER,
    EnvelopeVerifier,
    VerifiedEnvelope,
    body_digest,
    sign,
    thumbprint,
)

log = logging.getLogger("kruispunt.trust.receiver")

REFUSALS: Final[dict[str, tuple[int, str]]] = {
    "unsigned": (401, "UNSIGNED"),
    "bad_signature": (401, "BAD_SIGNATURE"),
    "wrong_route": (401, "BAD_SIGNATURE"),
    "untrusted": (403, "UNTRUSTED_SENDER"),
    "expired": (403, "UNTRUSTED_SENDER"),
    "not_yet_valid": (403, "UNTRUSTED_SENDER"),
    "revoked": (403, "UNTRUSTED_SENDER"),
    "not_an_institution": (403, "UNTRUSTED_SENDER"),
    "bad_subject": (403, "UNTRUSTED_SENDER"),
    "stale": (409, "REPLAYED"),
    "replayed": (409, "REPLAYED"),
    "sender_mismatch": (403, "SENDER_MISMATCH"),
}
"""HTTP status and error code of each :class:`TrustError` code, for the services built on
:mod:`kruispunt.core.web` (the hub answers the same refusals as CBSS faults)."""


class RevocationList:
    """The CA's revocation list, reread when its file changes (a revocation takes effect at once)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._mtime: float | None = None
        self._crl: x509.CertificateRevocationList | None = None

    def __call__(self) -> x509.CertificateRevocationList | None:
        try:
            mtime = self.path.stat().st_mtime
        except OSError:
            return None
        if mtime != self._mtime:
            self._crl = x509.load_pem_x509_crl(self.path.read_bytes())
            self._mtime = mtime
        return self._crl


class Certificates:
    """The institutions' certificates in the trust folder, by thumbprint; the folder is read again (at most
    once a second) when a thumbprint is not known, so a newly issued certificate is found."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._by_thumbprint: dict[str, x509.Certificate] = {}
        self._read_at = 0.0

    def __call__(self, named: str) -> x509.Certificate | None:
        found = self._by_thumbprint.get(named)
        if found is None and time.monotonic() - self._read_at >= 1.0:
            self._read_at = time.monotonic()
            certificates = {}
            for path in self.folder.glob("*.cert.pem"):
                try:
                    certificate = x509.load_pem_x509_certificate(path.read_bytes())
                except (OSError, ValueError):
                    log.warning("certificate %s cannot be read; ignored", path)
                    continue
                certificates[thumbprint(certificate)] = certificate
            self._by_thumbprint = certificates
            found = certificates.get(named)
        return found


def open_verifier(folder: Path) -> EnvelopeVerifier:
    """A verifier over the trust folder: the CA's certificate and revocation list (never its key) and the
    issued certificates; :class:`TrustError` ``no_ca`` when the CA's certificate cannot be read."""
    try:
        ca_certificate = x509.load_pem_x509_certificate((folder / CA_CERT).read_bytes())
    except (OSError, ValueError) as exc:
        raise TrustError("no_ca", f"the network CA cannot be read from {folder}: {exc}") from exc
    return EnvelopeVerifier(
        ca_certificate, RevocationList(folder / CRL_FILE), known=Certificates(folder / ISSUED_DIR)
    )


def own_identity(folder: Path, kbo: str) -> Identity | None:
    """The identity a service signs with (its institution's key and certificate), None when the trust
    folder holds none for ``kbo`` (its calls then go unsigned, and a service that requires signatures
    refuses them)."""
    try:
        return load_identity(folder, kbo)
    except (TrustError, OSError, ValueError) as exc:
        log.warning("no identity of %s in %s: calls are not signed (%s)", kbo, folder, exc)
        return None


class CallerRefused(Exception):
    """A request whose caller is refused: its HTTP status and the shared error body."""

    def __init__(self, status: int, code: str, message: str, **details: object) -> None:
        super().__init__(message)
        self.status = status
        self.body = error_body(code, message, **details)

    def response(self) -> JSONResponse:
        """The refusal as an answer (for a route that logs it before answering)."""
        return JSONResponse(self.body, status_code=self.status)

    def http(self) -> HTTPException:
        """The refusal as FastAPI's exception (for a dependency)."""
        return HTTPException(self.status, self.body)


@dataclass(frozen=True)
class SignedCallers:
    """Which institutions may call a service, checked on every request from its signed envelope.

    Use as a FastAPI dependency (``Depends(callers)``): the route then runs only for a request whose
    ``X-Kruispunt-Signature`` verifies (against the network CA, the clock window, the replay guard, the
    method and path) and whose certificate names one of ``allowed``; otherwise the refusal is a JSON error
    (:data:`REFUSALS`; ``CALLER_NOT_ALLOWED`` 403 for a valid institution that may not call)."""

    verifier: EnvelopeVerifier
    allowed: frozenset[str]
    service: str = field(default="this service")

    async def check(self, request: Request) -> VerifiedEnvelope:
        """The verified caller of ``request``; :class:`CallerRefused` otherwise."""
        body = await request.body()
        try:
            verified = self.verifier.verify(
                request.headers.get(SIGNATURE_HEADER), body, method=request.method, path=request.url.path
            )
        except TrustError as exc:
            status, code = REFUSALS.get(exc.code, (401, "BAD_SIGNATURE"))
            raise CallerRefused(status, code, exc.message) from None
        if verified.kbo not in self.allowed:
            raise CallerRefused(
                403,
                "CALLER_NOT_ALLOWED",
                f"institution {verified.kbo} may not call {self.service}",
                allowed=sorted(self.allowed),
            )
        return verified

    async def __call__(self, request: Request) -> VerifiedEnvelope:
        try:
            return await self.check(request)
        except CallerRefused as refused:
            raise refused.http() from None


def identify_caller(
    verifier: EnvelopeVerifier | None,
    mode: str,
    signature: str | None,
    digest: bytes,
    *,
    method: str,
    path: str,
    declared: str | None,
) -> str | None:
    """The institution that calls a route where callers may also *declare* who they are (a header, the
    body): the one whose signature over the body (``digest``) verifies, which must be ``declared`` when that
    is given; without a signature, ``declared`` — unless ``mode`` is ``required``. :class:`TrustError` with
    the reason otherwise (``unsigned``, ``sender_mismatch``, or the signature's own)."""
    if verifier is None or mode == "off":
        return declared
    if signature is None:
        if mode == "required":
            raise TrustError("unsigned", f"the request must be signed ({SIGNATURE_HEADER})")
        return declared
    verified = verifier.verify_by_digest(signature, digest, method=method, path=path)
    if declared is not None and declared != verified.kbo:
        raise TrustError("sender_mismatch", f"the request names {declared} but is signed by {verified.kbo}")
    return verified.kbo


@dataclass(frozen=True)
class DeclaredCallers:
    """:func:`identify_caller` for a service built on :mod:`kruispunt.core.web` (the changes service: a
    source publishing, a recipient reading its feed), with the network's signature ``mode``."""

    verifier: EnvelopeVerifier | None
    mode: str = "verify"

    async def caller(self, request: Request, declared: str | None, body: bytes | None = None) -> str | None:
        """The calling institution of ``request`` (``body``: as already read under the route's own limit);
        :class:`CallerRefused` otherwise."""
        if body is None:
            body = await request.body()
        try:
            return identify_caller(
                self.verifier,
                self.mode,
                request.headers.get(SIGNATURE_HEADER),
                body_digest(body),
                method=request.method,
                path=request.url.path,
                declared=declared,
            )
        except TrustError as exc:
            status, code = REFUSALS.get(exc.code, (401, "BAD_SIGNATURE"))
            raise CallerRefused(status, code, exc.message) from None


def declared_callers(folder: Path, mode: str) -> DeclaredCallers:
    """The callers' check over the trust folder (no CA: declared callers are believed, logged)."""
    if mode == "off":
        return DeclaredCallers(None, "off")
    try:
        return DeclaredCallers(open_verifier(folder), mode)
    except TrustError as exc:
        log.warning("%s: callers' signatures are not checked", exc.message)
        return DeclaredCallers(None, "off")


def signed_callers(folder: Path, allowed: Iterable[str], *, service: str) -> SignedCallers:
    """The caller check of a service over the trust folder (:class:`TrustError` when it holds no CA)."""
    return SignedCallers(open_verifier(folder), frozenset(allowed), service)


def optional_callers(folder: Path, allowed: Iterable[str], *, service: str) -> SignedCallers | None:
    """The caller check of a service that can run without it (None, logged, when the trust folder holds no
    CA): its protected routes then answer 503 ``NO_CALLER_CHECK`` (:func:`checked_callers`), never open."""
    try:
        return signed_callers(folder, allowed, service=service)
    except TrustError as exc:
        log.warning("%s: %s; its signed routes answer 503", service, exc.message)
        return None


CallerCheck = SignedCallers | None | Callable[[], SignedCallers | None]
"""A route's caller check, or a function giving it (when it is opened at start-up, after the routes are
made: the hub's)."""


async def verify_caller(
    callers: CallerCheck, request: Request, *, acting_for_person: bool = True
) -> VerifiedEnvelope:
    """The verified caller of a route that must be signed; :class:`CallerRefused` otherwise.

    ``acting_for_person``: the envelope must also name the person the caller acts for (``sub``; 401
    ``NO_SUBJECT`` otherwise), whom the route then serves and logs. No caller check configured (no CA):
    503 ``NO_CALLER_CHECK``, so a route never runs unauthenticated by accident."""
    check = callers if isinstance(callers, SignedCallers) or callers is None else callers()
    if check is None:
        raise CallerRefused(503, "NO_CALLER_CHECK", "this service holds no network CA to check its callers")
    verified = await check.check(request)
    if acting_for_person and not verified.subject:
        raise CallerRefused(401, "NO_SUBJECT", "the signed envelope must name the person the caller acts for")
    return verified


def checked_callers(
    callers: CallerCheck, *, acting_for_person: bool = True
) -> Callable[[Request], Awaitable[VerifiedEnvelope]]:
    """:func:`verify_caller` as a FastAPI dependency (``Depends(checked_callers(...))``)."""

    async def caller(request: Request) -> VerifiedEnvelope:
        try:
            return await verify_caller(callers, request, acting_for_person=acting_for_person)
        except CallerRefused as refused:
            raise refused.http() from None

    return caller


def signed_route_errors(*, acting_for: str, e403: str = "Not signed by the KSZ.") -> dict[int | str, Any]:
    """The OpenAPI refusals of a route behind :func:`checked_callers` / :func:`verify_caller`, for a caller
    acting for ``acting_for`` (a person, an operator …); ``e403`` says who else is refused."""
    return error_responses(
        401,
        403,
        409,
        503,
        e401=f"Not signed, badly signed, or naming no {acting_for}.",
        e403=e403,
        e409="A replayed request.",
        e503="The service holds no network CA to check the caller.",
    )


def only_the_person(verified: VerifiedEnvelope, insz: str, what: str) -> None:
    """Refuse (403 ``ONLY_THE_PERSON``) a request that names another person than the one asked about:
    ``what`` (a career, who consulted one's data …) is shown to that person only."""
    if verified.subject != insz:
        raise CallerRefused(
            403, "ONLY_THE_PERSON", f"{what} is shown to that person only: the request names another person"
        )


class EnvelopeAuth(httpx.Auth):
    """Signs every request of an ``httpx`` client with ``identity`` (the body as sent, the method and the
    path), naming ``subject`` — the person the caller acts for — when given."""

    requires_request_body = True

    def __init__(self, identity: Identity, *, subject: str | None = None) -> None:
        self.identity = identity
        self.subject = subject

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers[SIGNATURE_HEADER] = sign(
            request.content, self.identity, method=request.method, path=request.url.path, subject=self.subject
        )
        yield request
