"""The REST/JSON channel: parse a consultation, run the pipeline, render the CBSS-style JSON answer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from kruispunt.core.web import BodyTooLarge, read_body_limited
from kruispunt.hub import errors
from kruispunt.hub.errors import Refusal
from kruispunt.hub.schemas import ConsultationRequest, MessageTypeRef, OrganizationIdentification
from kruispunt.hub.service import Consultation, Hub, Outcome
from kruispunt.hub.signatures import Signatures
from kruispunt.trust.envelopes import SIGNATURE_HEADER, VerifiedEnvelope, body_digest

_ADAPTER: TypeAdapter[ConsultationRequest] = TypeAdapter(ConsultationRequest)


def consultation(
    ident: OrganizationIdentification,
    *,
    user_id: str | None,
    legal_context: str,
    message_type: MessageTypeRef,
    customer_ticket: str | None = None,
    ssin: str | None = None,
    body: dict[str, Any] | None = None,
) -> Consultation:
    """The consultation of a JSON envelope's parts (a batch header has all but ticket, person and body)."""
    return Consultation(
        channel="rest",
        customer_ticket=customer_ticket,
        cbe_number=ident.cbeNumber,
        sector=ident.sector,
        institution_type=ident.institution,
        user_id=user_id,
        legal_context=legal_context,
        message_type=message_type.name,
        version=message_type.version,
        ssin=ssin,
        body={} if body is None else body,
    )


def _to_consultation(req: ConsultationRequest) -> Consultation:
    info = req.informationCustomer
    return consultation(
        info.customerIdentification,
        user_id=info.userId,
        legal_context=req.legalContext,
        message_type=req.messageType,
        customer_ticket=info.ticket,
        ssin=req.ssin,
        body=req.request,
    )


def _best_effort(raw: bytes) -> Consultation:
    """What can still be read from an invalid request, so that the refusal is logged with it."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return Consultation(channel="rest")
    if not isinstance(doc, dict):
        return Consultation(channel="rest")

    def text(value: Any, limit: int = 64) -> str | None:
        return value[:limit] if isinstance(value, str) else None

    def number(value: Any) -> int | None:
        return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 999 else None

    def mapping(value: Any) -> dict[str, Any]:
        return value if isinstance(value, dict) else {}

    info = mapping(doc.get("informationCustomer"))
    ident = mapping(info.get("customerIdentification"))
    mt = mapping(doc.get("messageType"))
    return Consultation(
        channel="rest",
        customer_ticket=text(info.get("ticket"), 36),
        cbe_number=text(ident.get("cbeNumber"), 10),
        sector=number(ident.get("sector")),
        institution_type=number(ident.get("institution")),
        user_id=text(info.get("userId")),
        legal_context=text(doc.get("legalContext")),
        message_type=text(mt.get("name")),
        version=text(mt.get("version"), 16),
        ssin=None,
    )


def validation_diagnostic(exc: ValidationError, whole: str = "(body)") -> str:
    """The first five problems, each ``where: what`` (``whole`` where it is the document itself)."""
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ())) or whole
        parts.append(f"{where}: {err.get('msg')}")
    return "; ".join(parts)


def render(c: Consultation, outcome: Outcome, echo: dict[str, Any] | None) -> dict[str, Any]:
    """The JSON answer: request header echoed, CBSS block, then status + data, or the fault."""
    answer: dict[str, Any] = {
        "informationCustomer": echo,
        "informationCBSS": {
            "ticketCBSS": outcome.ticket,
            "timestampReceive": outcome.received.isoformat(),
            "timestampReply": (outcome.replied or outcome.received).isoformat(),
        },
        "legalContext": c.legal_context,
        "messageType": {"name": c.message_type, "version": c.version} if c.message_type else None,
        "ssin": c.ssin,
    }
    if outcome.refusal is not None:
        answer["fault"] = [
            {
                "severity": "FATAL",
                "reasonCode": outcome.refusal.code,
                "reason": outcome.refusal.name,
                "diagnostic": outcome.diagnostic or outcome.refusal.text,
                "authorCode": "KRUISPUNT-HUB",
            }
        ]
        return answer
    status = outcome.status or "NO_RESULT"
    answer["status"] = {
        "value": status,
        "code": "MSG00000",
        "description": "data found" if status == "DATA_FOUND" else "no data found for this person",
    }
    answer["deliberation"] = outcome.deliberation
    answer["data"] = outcome.data
    if outcome.filtered:
        answer["dataFilters"] = {"filteredElement": outcome.filtered}
    if outcome.warnings:
        answer["warnings"] = [
            {
                "severity": "WARNING",
                "reasonCode": r.code,
                "reason": r.name,
                "diagnostic": d,
                "authorCode": "KRUISPUNT-HUB",
            }
            for r, d in outcome.warnings
        ]
    return answer


def _json(body: dict[str, Any], status: int, hub: Hub | None = None, path: str = "/hub/messages") -> Response:
    """The JSON answer; signed by the hub (``X-Kruispunt-Signature``) when it holds an identity."""
    raw = orjson.dumps(body)
    headers = hub.signatures.signed_by_hub(raw, method="POST", path=path) if hub is not None else None
    return Response(raw, status_code=status, media_type="application/json", headers=headers)


def _signature_refusal(
    hub: Hub, request: Request, raw: bytes, c: Consultation
) -> tuple[VerifiedEnvelope | None, Refusal | None]:
    """The verified sender, and why the message's signature is refused (bad, replayed, of another
    institution …) or ``None``."""
    verified, reason, diagnostic = hub.signatures.check(
        request.headers, raw, method="POST", path=request.scope["path"]
    )
    if reason is not None:
        return None, Refusal(reason, diagnostic or reason.text)
    mismatch = Signatures.mismatch(verified, c.cbe_number)
    return verified, Refusal(errors.SENDER_MISMATCH, mismatch) if mismatch is not None else None


def _answer_with_evidence(
    body: dict[str, Any],
    status: int,
    hub: Hub,
    outcome: Outcome,
    request: Request,
    raw: bytes,
    verified: VerifiedEnvelope | None,
) -> Response:
    """The signed answer; its signature names the hub's ticket and the request's digest, and is kept with
    the sender's signature as the exchange's evidence (``kruispunt audit show TICKET``). The digest of a
    verified request is the one its signature covers, so the body is hashed once."""
    if not hub.signatures.signing:
        return _json(body, status, hub)
    answer = orjson.dumps(body)
    request_digest = verified.digest if verified is not None else body_digest(raw).hex()
    headers = hub.signatures.signed_by_hub(
        answer, method="POST", path="/hub/messages", claims={"tkt": outcome.ticket, "req": request_digest}
    )
    hub.audit.add_evidence(
        {
            "ticket": outcome.ticket,
            "request_digest": request_digest,
            "request_signature": request.headers.get(SIGNATURE_HEADER.lower()),
            "reply_digest": body_digest(answer).hex(),
            "reply_signature": headers[SIGNATURE_HEADER],
        }
    )
    return Response(answer, status_code=status, media_type="application/json", headers=headers)


async def handle_consultation(request: Request, hub: Hub, max_body_bytes: int) -> Response:
    """``POST /hub/messages``: every outcome, including bad input, is a CBSS-style JSON answer."""
    received = datetime.now(UTC)
    try:
        raw = await read_body_limited(request, max_body_bytes)
    except BodyTooLarge:
        refusal = Refusal(errors.BODY_TOO_LARGE, f"request body larger than {max_body_bytes} bytes")
        c = Consultation(channel="rest")
        outcome = await hub.refuse(c, refusal, received=received)
        return _json(render(c, outcome, None), outcome.http_status, hub)
    try:
        parsed = _ADAPTER.validate_json(raw)
    except ValidationError as exc:
        malformed = any(e.get("type") == "json_invalid" for e in exc.errors())
        reason = errors.MALFORMED_REQUEST if malformed else errors.SCHEMA_VIOLATION
        diagnostic = "the body is not valid JSON" if malformed else validation_diagnostic(exc)
        c = _best_effort(raw)
        outcome = await hub.refuse(c, Refusal(reason, diagnostic), received=received)
        return _json(render(c, outcome, None), outcome.http_status, hub)
    c = _to_consultation(parsed)
    echo = parsed.informationCustomer.model_dump(mode="json", exclude_none=True)
    verified, unsigned = _signature_refusal(hub, request, raw, c)
    if unsigned is not None:
        outcome = await hub.refuse(c, unsigned, received=received)
        return _json(render(c, outcome, echo), outcome.http_status, hub)
    outcome = await hub.consult(c, received=received)
    answer = _answer_with_evidence(
        render(c, outcome, echo), outcome.http_status, hub, outcome, request, raw, verified
    )
    if outcome.retry_after is not None:
        answer.headers["Retry-After"] = str(outcome.retry_after)
    hub.latency.observe((datetime.now(UTC) - received).total_seconds() * 1000)
    return answer
