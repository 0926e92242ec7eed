"""The hub's HTTP service: the consultation channels, the reference directory, the log, the registry.

Routes stay thin: each hands the request to :mod:`kruispunt.hub.rest` or :mod:`kruispunt.hub.soap_endpoint`,
which call the one pipeline in :mod:`kruispunt.hub.service`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from sqlalchemy import Engine
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from kruispunt.attest.keys import KeySet, SigningKey
from kruispunt.audit.api import make_router as make_audit_router
from kruispunt.audit.checkpointer import Checkpointer, log_signing_key
from kruispunt.audit.stats_api import make_stats_router
from kruispunt.core.settings import Settings, get_settings
from kruispunt.core.web import JSONResponse, create_service_app, error_body
from kruispunt.hub import catalogue_api, extracts, rest, soap_endpoint
from kruispunt.hub.batch import Mailbox, running_mailbox
from kruispunt.hub.batch_api import make_router as make_batch_router
from kruispunt.hub.schemas import ConsultationReply, ConsultationRequest
from kruispunt.hub.service import Hub, running_hub
from kruispunt.network import KSZ
from kruispunt.network.api import DirectoryExchange
from kruispunt.network.api import make_router as make_network_router
from kruispunt.network.schemas import ProofRequest, ProofResult
from kruispunt.sources.extracts import ARROW_STREAM, arrow_bytes
from kruispunt.trust.envelopes import body_digest
from kruispunt.trust.receiver import EnvelopeAuth, SignedCallers, own_identity

log = logging.getLogger("kruispunt.hub")

DESCRIPTION = """\
The kruispunt hub routes consultations between the institutions of the social-security network.

Every message goes through one pipeline: validate → identify the caller → authorise (deliberation and
integration of the person in the reference directory) → route to the sources that know the person →
filter the reply to the fields the deliberation allows → log (hash-chained) → answer with a CBSS ticket.
Two channels share it: REST/JSON (`POST /hub/messages`, CBSS new-style header) and the classic CBSS SOAP
connector (`POST /soap/WebServiceConnector`, `sendXML` with an `SSDNRequest`). Batches (`POST /hub/batches`,
JSON Lines) and asynchronous messages (`POST /hub/messages:async`) run through the same pipeline; their
answers wait in the requester's mailbox (`GET /hub/mailbox/{cbeNumber}`).
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    state: dict[str, Any] = {}

    def hub() -> Hub:
        value = state.get("hub")
        if value is None:
            raise RuntimeError("hub not started")
        assert isinstance(value, Hub)
        return value

    async def verify_proof(proof: ProofRequest) -> ProofResult:
        return await hub().verify_proof(proof)

    async def log_directory_exchange(exchange: DirectoryExchange) -> None:
        await hub().log_directory_exchange(exchange)

    def mailbox() -> Mailbox:
        value = state.get("mailbox")
        if value is None:
            raise RuntimeError("hub not started")
        assert isinstance(value, Mailbox)
        return value

    def checkpoint_keys() -> KeySet:
        key = state.get("log_key")
        if key is None:
            raise RuntimeError("hub not started")
        assert isinstance(key, SigningKey)
        return KeySet.of([key])

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with running_hub(settings) as running, running_mailbox(running, settings) as box:
            state["hub"] = running
            state["mailbox"] = box  # batches and asynchronous messages: this process's worker runs them
            key = state["log_key"] = log_signing_key(settings.data_dir / "keys")
            checkpointer = None
            if settings.audit_chain == 0 and settings.checkpoint_interval_s > 0 and running.audit_engine:
                checkpointer = Checkpointer(running.audit_engine, key, settings.checkpoint_interval_s)
                checkpointer.start()
            try:
                yield
            finally:
                if checkpointer is not None:
                    await checkpointer.stop()
                state.pop("mailbox", None)
                state.pop("hub", None)

    async def health() -> dict[str, Any]:
        running = state.get("hub")
        if running is None:
            return {"counters": {}}
        return {"counters": dict(running.counters), "latency": running.latency.summary()}

    app = create_service_app(
        title="kruispunt hub",
        description=DESCRIPTION,
        max_body_bytes=settings.max_body_bytes,
        health=health,
        lifespan=lifespan,
        body_limit_exempt=("/hub/", "/soap/"),
    )

    SOAP_MEDIA = ("text/xml", "application/soap+xml")

    @app.post(
        "/hub/messages",
        tags=["consultation"],
        summary="Send a consultation (CBSS new-style header in JSON)",
        response_model=ConsultationReply,
        responses={
            400: {
                "model": ConsultationReply,
                "description": "malformed request, schema violation, invalid INSZ",
            },
            403: {
                "model": ConsultationReply,
                "description": "unknown caller, no deliberation, not integrated",
            },
            404: {"model": ConsultationReply, "description": "unknown message type or version"},
            413: {"model": ConsultationReply, "description": "body too large"},
            502: {"model": ConsultationReply, "description": "the source failed"},
            503: {"model": ConsultationReply, "description": "the exchange could not be logged"},
            504: {"model": ConsultationReply, "description": "the source did not answer in time"},
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": ConsultationRequest.model_json_schema()}},
            }
        },
    )
    async def post_message(request: Request) -> Response:
        return await rest.handle_consultation(request, hub(), settings.max_body_bytes)

    ksz = own_identity(settings.data_dir / "trust", KSZ)
    coder = extracts.Coder(settings.coding_url, EnvelopeAuth(ksz) if ksz is not None else None)

    @app.post(
        "/hub/extracts",
        tags=["data warehouse"],
        summary="A quarterly extract for the data warehouse, coded at the trusted third party (Arrow IPC)",
        response_class=Response,
        responses={
            200: {"content": {ARROW_STREAM: {}}, "description": "the coded rows (Arrow IPC stream)"},
            403: {"description": "unknown caller, no deliberation"},
            502: {"description": "a source or the trusted third party failed"},
        },
    )
    async def post_extract(body: extracts.ExtractRequest) -> Response:
        result = await extracts.extract(hub(), coder, body)
        outcome = result.outcome
        if result.table is None or outcome.refusal is not None:
            reason = outcome.refusal
            return JSONResponse(
                error_body(
                    reason.code if reason else "REFUSED",
                    outcome.diagnostic or (reason.text if reason else "refused"),
                ),
                status_code=reason.http_status if reason else 500,
                headers={"X-Ticket": outcome.ticket},
            )
        return Response(
            arrow_bytes(result.table), media_type=ARROW_STREAM, headers={"X-Ticket": outcome.ticket}
        )

    @app.post(
        "/soap/WebServiceConnector",
        tags=["consultation"],
        summary="CBSS classic SSDN connector: SOAP sendXML carrying an SSDNRequest",
        response_class=Response,
        responses={
            status: {
                "description": text,
                "content": {media: {"schema": {"type": "string"}} for media in SOAP_MEDIA},
            }
            for status, text in (
                (200, "an SSDNReply (a refused or failed service too: its ResultSummary says why)"),
                (400, "a SOAP fault: no SOAP envelope could be read"),
                (413, "a SOAP fault: body too large"),
                (503, "a SOAP fault: the exchange could not be logged"),
            )
        },
        openapi_extra={
            "requestBody": {"required": True, "content": {"text/xml": {"schema": {"type": "string"}}}}
        },
    )
    async def post_soap(request: Request) -> Response:
        return await soap_endpoint.handle_soap(request, hub(), settings.max_body_bytes)

    @app.get(
        "/soap/WebServiceConnector",
        tags=["consultation"],
        summary="The connector's WSDL (?wsdl)",
        response_class=Response,
    )
    async def get_wsdl(request: Request) -> Response:
        return soap_endpoint.wsdl_response(str(request.url.replace(query="")))

    def ksz_only(service: str) -> Callable[[], SignedCallers | None]:
        """The check of a read the hub serves the KSZ alone, signed (its portal, for a person or operator)."""
        return lambda: hub().signatures.callers(frozenset({KSZ}), service=service)

    app.include_router(
        make_network_router(
            engine=lambda: hub().directory_engine,
            registry_provider=lambda: hub().registry,
            verify_proof=verify_proof,
            catalogue_provider=lambda: hub().catalogue,
            deliberations_provider=lambda: hub().deliberations,
            on_exchange=log_directory_exchange,
            person_file_readers=ksz_only("a person's whole file"),
            check_sender=lambda request, kbo: directory_sender(hub(), request, kbo),
        )
    )
    app.include_router(make_batch_router(hub=hub, mailbox=mailbox, settings=settings))
    app.include_router(
        make_audit_router(
            lambda: _require(hub().audit_engine),
            readers=ksz_only("who consulted a person's data"),
            institution_name=lambda kbo: i.name if (i := hub().registry.institution(kbo)) else None,
            checkpoint_keys=checkpoint_keys,
            entry_caller=lambda request: signed_sender(hub(), request, None),
        )
    )
    app.include_router(
        make_stats_router(lambda: _require(hub().audit_engine), readers=ksz_only("the log's figures"))
    )
    app.include_router(catalogue_api.make_router(hub, keys_dir=settings.data_dir / "keys"))
    app.state.consultation_handler = lambda request: rest.handle_consultation(
        request, hub(), settings.max_body_bytes
    )
    return app


async def signed_sender(hub: Hub, request: Request, named: str | None) -> tuple[str | None, Response | None]:
    """Who sends a request to one of the hub's JSON routes (``Signatures.caller``, as on every channel): the
    signing institution, or ``named`` where signatures are not required; and the refusal (a bad signature,
    none where required, another institution than ``named``)."""
    body = await request.body()
    kbo, reason, diagnostic = hub.signatures.caller(
        request.headers, body_digest(body), method=request.method, path=request.url.path, declared=named
    )
    if reason is None:
        return kbo, None
    refusal = error_body(reason.name, diagnostic or reason.text, reasonCode=reason.code)
    return None, JSONResponse(refusal, status_code=reason.http_status)


async def directory_sender(hub: Hub, request: Request, named: str) -> Response | None:
    """The refusal of a directory request whose signature does not prove the institution its body names."""
    return (await signed_sender(hub, request, named))[1]


class ConsultationFastPath:
    """ASGI front of the hub: ``POST /hub/messages`` goes straight to its handler; everything else
    (lifespan included) to the FastAPI app.

    Why: the consultation route is the one that carries the network's traffic, and FastAPI's middleware,
    routing and dependency layers cost ~15% of the hub's CPU on it (profiled). The FastAPI route of the
    same path stays, for the OpenAPI document and for in-process test clients; both call one handler.
    """

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == "/hub/messages":
            try:
                response = await self.app.state.consultation_handler(Request(scope, receive))
            except Exception:  # our own bug, never the input's: answer like every other route does
                log.exception("unexpected error on /hub/messages")
                response = JSONResponse(
                    error_body("INTERNAL", "unexpected internal error; it has been logged"), status_code=500
                )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def create_asgi_app(settings: Settings | None = None) -> ConsultationFastPath:
    """What a server runs: the hub app behind its consultation fast path."""
    return ConsultationFastPath(create_app(settings))


def _require(value: Engine | None) -> Engine:
    if value is None:
        raise RuntimeError("not started")
    return value
