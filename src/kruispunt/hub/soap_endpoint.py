"""The classic CBSS SOAP channel (``sendXML`` carrying an ``SSDNRequest``), on the hub's one pipeline.

Each ``ServiceRequest`` becomes a :class:`~kruispunt.hub.service.Consultation` (IdentifyPerson,
PerformInvestigation) or a reference-directory operation (ManageAccess); the answers are assembled into
one ``SSDNReply`` valid against the official schema. The classic contracts predate legal contexts, so the
legal context is taken from the deliberation that covers the caller and the service.

HTTP statuses: a refused or failed service still gets ``200`` with an ``SSDNReply`` whose ResultSummary
says why (that is how the connector reports); when not even a SOAP envelope could be read, the answer is a
SOAP fault with ``400`` (input never produces a ``500``).

Signatures: the same ``X-Kruispunt-Signature`` envelope as on the REST channel, over the SOAP body as sent
(:mod:`kruispunt.hub.signatures`). A bad, replayed or (when signatures are required) missing signature, or
one by another institution than the request names, refuses every service of the request: an
``SSDNReply`` whose ResultSummary is ERROR with that reason, logged like any refusal.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import Response

from kruispunt.core.web import BodyTooLarge, read_body_limited
from kruispunt.hub import errors, soap
from kruispunt.hub.errors import Reason, Refusal
from kruispunt.hub.service import Consultation, Hub, Outcome
from kruispunt.hub.signatures import Signatures
from kruispunt.network import directory
from kruispunt.network.api import ProofUnavailable
from kruispunt.network.directory import DirectoryError
from kruispunt.network.registry import Institution, UnknownInstitution
from kruispunt.network.schemas import ProofRequest

Result = Literal["OK", "WARNING", "ERROR"]


def _reason(error: soap.SsdnError) -> Reason:
    return Reason(
        code=error.reason_code, name=error.name, http_status=error.http_status, text=error.reason.text
    )


def _detail(
    reason: Reason, diagnostic: str | None, severity: Literal["WARNING", "ERROR"] = "ERROR"
) -> soap.Detail:
    return soap.Detail(severity, reason.code, diagnostic or reason.text, soap.AUTHOR_CODE_LIST)


def _consultation(req: soap.SsdnRequest, **values: Any) -> Consultation:
    return Consultation(
        channel="soap",
        customer_ticket=(req.reference or None) and req.reference[:36],
        cbe_number=req.org_unit,
        sector=None if req.org_unit else req.matrix_id,
        institution_type=None if req.org_unit else req.matrix_sub_id,
        user_id=req.user_id,
        **values,
    )


def _legal_context(hub: Hub, req: soap.SsdnRequest, name: str, version: str, ssin: str | None) -> str:
    """The legal context of a classic request: that of the deliberation in force for this caller and
    service — one that needs no integration for a search without INSZ, one that does otherwise."""
    try:
        requester = hub.registry.identify(
            cbe_number=req.org_unit,
            sector=None if req.org_unit else req.matrix_id,
            institution_type=None if req.org_unit else req.matrix_sub_id,
        )
    except UnknownInstitution:
        return ""
    today = datetime.now(UTC).date()
    candidates = [d for d in hub.deliberations.candidates(requester, name, version) if d.valid_on(today)]
    candidates.sort(key=lambda d: d.requires_integration == (ssin is None))
    for deliberation in candidates:
        if deliberation.legal_contexts:
            return deliberation.legal_contexts[0]
    return ""


async def _identify_person(
    hub: Hub, req: soap.SsdnRequest, service: soap.SsdnServiceRequest, received: datetime
) -> tuple[soap.ServiceReplyPart, Outcome]:
    ssin, body = soap.identify_person_to_internal(service.body)
    mt = hub.catalogue.by_soap(service.service_id, service.version)
    name, version = (mt.name, mt.version) if mt else ("identify_person", "1")
    c = _consultation(
        req,
        legal_context=_legal_context(hub, req, name, version, ssin),
        message_type=name,
        version=version,
        ssin=ssin,
        body=body,
    )
    outcome = await hub.consult(c, received=received)
    if outcome.refusal is not None:
        return _failed(service, outcome.refusal, outcome.diagnostic), outcome
    verification = soap.identify_person_verification(service.body)
    include_extended = True
    if verification is not None:
        try:
            checked = await hub.verify_proof(ProofRequest.model_validate(verification))
            include_extended = checked.match
        except (ProofUnavailable, ValueError):
            include_extended = False
    body_elem = soap.identify_person_reply(outcome.data, include_extended=include_extended)
    details = [_detail(r, d, "WARNING") for r, d in outcome.warnings]
    return soap.ServiceReplyPart(
        service.service_id, service.version, "WARNING" if details else "OK", details, body_elem
    ), outcome


async def _perform_investigation(
    hub: Hub, req: soap.SsdnRequest, service: soap.SsdnServiceRequest, received: datetime
) -> tuple[soap.ServiceReplyPart, Outcome | None]:
    query = soap.perform_investigation_to_internal(service.body)
    results: dict[str, Outcome] = {}
    first: Outcome | None = None
    for name in query.message_types:
        c = _consultation(
            req,
            legal_context=_legal_context(hub, req, name, "1", query.insz),
            message_type=name,
            version="1",
            ssin=query.insz,
            body={},
        )
        outcome = await hub.consult(c, received=received)
        first = first or outcome
        if outcome.refusal is not None:
            return _failed(service, outcome.refusal, outcome.diagnostic), outcome
        results[name] = outcome
    family = results.get("family_composition")
    history = results.get("address_history")
    body_elem = soap.perform_investigation_reply(
        insz=query.insz,
        family_composition=family.data if family else None,
        address_histories={query.insz: history.data} if history and history.data else None,
    )
    details = [
        soap.Detail(
            "WARNING", None, f"data group {group} is not available on this network", soap.AUTHOR_CODE_LIST
        )
        for group in query.unsupported_groups
    ]
    return soap.ServiceReplyPart(
        service.service_id, service.version, "WARNING" if details else "OK", details, body_elem
    ), first


async def _manage_access(
    hub: Hub, req: soap.SsdnRequest, service: soap.SsdnServiceRequest, received: datetime
) -> tuple[soap.ServiceReplyPart, Outcome]:
    """REGISTER / UNREGISTER / LIST on the reference directory, logged like any exchange."""
    internal = soap.manage_access_to_internal(service.body)
    c = _consultation(
        req, message_type=f"directory_{str(internal['action']).lower()}", version="1", ssin=internal["insz"]
    )
    try:
        institution = hub.registry.identify(
            cbe_number=c.cbe_number, sector=c.sector, institution_type=c.institution_type
        )
    except UnknownInstitution as exc:
        outcome = await hub.refuse(c, Refusal(errors.UNKNOWN_CUSTOMER, exc.reason), received=received)
        return _failed(service, errors.UNKNOWN_CUSTOMER, outcome.diagnostic), outcome
    try:
        registrations = await _directory_action(hub, institution, internal)
    except Refusal as refusal:
        outcome = await hub.refuse(c, refusal, received=received, requester=institution)
        return _failed(service, refusal.reason, refusal.diagnostic), outcome
    outcome = await hub.record(
        c, received=received, requester=institution, status="OK", capacity=internal.get("purpose")
    )
    if outcome.refusal is not None:
        return _failed(service, outcome.refusal, outcome.diagnostic), outcome
    body = soap.manage_access_reply(service.body, {"registrations": registrations})
    return soap.ServiceReplyPart(service.service_id, service.version, "OK", (), body), outcome


async def _directory_action(
    hub: Hub, institution: Institution, internal: dict[str, Any]
) -> list[dict[str, Any]]:
    action = internal["action"]
    insz = internal["insz"]
    if action in ("REGISTER", "UNREGISTER"):
        try:
            proof = await hub.verify_proof(ProofRequest.model_validate(internal["proof"]))
        except ProofUnavailable as exc:
            raise Refusal(errors.PROVIDER_UNAVAILABLE, f"the proof cannot be checked now: {exc}") from None
        except ValueError as exc:
            raise Refusal(errors.SCHEMA_VIOLATION, f"invalid proof: {exc}") from None
        if not proof.match:
            raise Refusal(errors.PROOF_MISMATCH, proof.reason or errors.PROOF_MISMATCH.text)

    def work() -> list[directory.PersonLine]:
        with hub.directory_engine.begin() as conn:
            if action == "REGISTER":
                result = directory.register(
                    conn,
                    insz=insz,
                    institution=institution,
                    capacity=internal["purpose"],
                    start=internal["start"],
                    end=internal["end"],
                    registry=hub.registry,
                )
                return [result.line, *result.overlapping]
            if action == "UNREGISTER":
                return directory.unregister(
                    conn,
                    insz=insz,
                    institution=institution,
                    capacity=internal["purpose"],
                    start=internal["start"],
                    end=internal["end"],
                )
            return directory.list_lines(
                conn, insz=insz, sector=internal["sector"], register=internal["query_register"] or "ALL"
            )

    try:
        lines = await asyncio.to_thread(work)
    except DirectoryError as exc:
        raise Refusal(errors.DIRECTORY_REFUSED, f"{exc.code}: {exc.message}") from None
    return [
        {
            "purpose": line.capacity,
            "start": line.start,
            "end": line.end,
            "sector": line.sector,
            "institution_type": line.institution_type,
            "register": line.register,
        }
        for line in lines
    ]


def _failed(
    service: soap.SsdnServiceRequest, reason: Reason, diagnostic: str | None
) -> soap.ServiceReplyPart:
    return soap.ServiceReplyPart(
        service.service_id, service.version, "ERROR", [_detail(reason, diagnostic)], None
    )


_HANDLERS = {
    soap.IDENTIFY_PERSON: _identify_person,
    soap.PERFORM_INVESTIGATION: _perform_investigation,
    soap.MANAGE_ACCESS: _manage_access,
}


def _xml(body: bytes, status: int, soap_version: str = "1.1") -> Response:
    return Response(body, status_code=status, media_type=soap.content_type(soap_version))  # type: ignore[arg-type]


def _refused_reply(
    req: soap.SsdnRequest | None,
    ticket: str,
    received: datetime,
    detail: soap.Detail,
    soap_version: soap.SoapVersion,
) -> Response:
    """The ``SSDNReply`` (HTTP 200, ResultSummary ERROR) of a request refused as a whole."""
    reply = soap.build_ssdn_reply(
        request=req,
        ticket=ticket,
        time_receive=received,
        time_response=datetime.now(UTC),
        result="ERROR",
        details=[detail],
    )
    return _xml(soap.soap_response(reply, soap_version=soap_version), 200, soap_version)


def _signature_refusal(hub: Hub, request: Request, raw: bytes, req: soap.SsdnRequest) -> Refusal | None:
    """Why the request's signature is refused, or None: it must verify (and be there, when required) and
    be the institution the request names (by CBE number, or by sector and institution type)."""
    verified, reason, diagnostic = hub.signatures.check(
        request.headers, raw, method="POST", path=request.scope["path"]
    )
    if reason is not None:
        return Refusal(reason, diagnostic or reason.text)
    claimed = req.org_unit
    if verified is not None and claimed is None:
        try:
            claimed = hub.registry.identify(
                cbe_number=None, sector=req.matrix_id, institution_type=req.matrix_sub_id
            ).kbo
        except UnknownInstitution:
            return None  # the pipeline refuses the unknown customer, with its own reason
    mismatch = Signatures.mismatch(verified, claimed)
    return Refusal(errors.SENDER_MISMATCH, mismatch) if mismatch is not None else None


async def handle_soap(request: Request, hub: Hub, max_body_bytes: int) -> Response:
    """``POST /soap/WebServiceConnector``."""
    received = datetime.now(UTC)
    try:
        raw = await read_body_limited(request, max_body_bytes)
    except BodyTooLarge:
        refusal = Refusal(errors.BODY_TOO_LARGE, f"request body larger than {max_body_bytes} bytes")
        await hub.refuse(Consultation(channel="soap"), refusal, received=received)
        return _xml(
            soap.soap_fault("Client", refusal.diagnostic, reason_code=errors.BODY_TOO_LARGE.code), 413
        )
    try:
        req = soap.parse_soap_request(raw, max_bytes=max_body_bytes)
    except soap.SsdnError as exc:
        outcome = await hub.refuse(
            Consultation(channel="soap"), Refusal(exc.reason, exc.diagnostic), received=received
        )
        if exc.needs_fault:
            code: Literal["Client", "Server"] = "Client" if exc.kind == "client" else "Server"
            return _xml(
                soap.soap_fault(
                    code, exc.diagnostic, soap_version=exc.soap_version, reason_code=exc.reason_code
                ),
                400 if exc.kind == "client" else 503,
                exc.soap_version,
            )
        return _refused_reply(None, outcome.ticket, received, exc.detail(), exc.soap_version)

    unsigned = _signature_refusal(hub, request, raw, req)
    if unsigned is not None:
        outcome = await hub.refuse(_consultation(req), unsigned, received=received)
        detail = _detail(unsigned.reason, unsigned.diagnostic)
        return _refused_reply(req, outcome.ticket, received, detail, req.soap_version)

    parts: list[soap.ServiceReplyPart] = []
    tickets: list[str] = []
    for service in req.service_requests:
        try:
            soap.check_service(service)
            handler = _HANDLERS[service.service_id]
            part, handled = await handler(hub, req, service, received)
            if handled is not None:
                tickets.append(handled.ticket)
        except soap.SsdnError as exc:
            outcome = await hub.refuse(
                _consultation(req, message_type=service.service_id, version=service.version),
                Refusal(exc.reason, exc.diagnostic),
                received=received,
            )
            tickets.append(outcome.ticket)
            part = soap.ServiceReplyPart(service.service_id, service.version, "ERROR", [exc.detail()], None)
        parts.append(part)
    results = {p.result for p in parts}
    overall: Result = "OK" if results == {"OK"} else "ERROR" if results == {"ERROR"} else "WARNING"
    reply = soap.build_ssdn_reply(
        request=req,
        ticket=tickets[0] if tickets else "",
        time_receive=received,
        time_response=datetime.now(UTC),
        result=overall,
        service_replies=parts,
    )
    return _xml(soap.soap_response(reply, soap_version=req.soap_version), 200, req.soap_version)


def wsdl_response(endpoint_url: str) -> Response:
    return Response(soap.wsdl_document(endpoint_url), media_type="text/xml; charset=utf-8")
