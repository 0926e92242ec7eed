"""HTTP service of the National Register (docs/architecture.md, "Hub → source contract").

``POST /consult/identify_person``, ``/consult/family_composition``, ``/consult/address_history``,
``/consult/social_inquiry`` (its part: person and household),
``POST /persons/verify``, ``GET /health``. Run with ``uvicorn --factory`` over :func:`create_app`.
"""

from __future__ import annotations

from fastapi import FastAPI

from kruispunt.sources.common import ConsultReply, ConsultRequest
from kruispunt.sources.national_register import service
from kruispunt.sources.national_register.schemas import (
    AddressHistoryData,
    EmptyRequest,
    FamilyCompositionData,
    SocialInquiryData,
)
from kruispunt.sources.web import (
    add_batch_consult_route,
    add_identify_person_route,
    add_unknown_message_type_route,
    add_verify_route,
    consult_person,
    consult_routes_answer,
    open_source_app,
)

MESSAGE_TYPES = ["identify_person", "family_composition", "address_history", "social_inquiry"]


def create_app(url: str) -> FastAPI:
    """The National Register service on the database at ``url`` (migrated at start-up)."""
    app, engine = open_source_app(
        url=url,
        component="national_register",
        description="Authentic source: persons of the population registers, households and address history.",
        prepare=service.ensure_indexes,
        meta=service.get_meta,
    )

    add_identify_person_route(
        app, engine, service.identify_person, summary="identify_person v1: by INSZ or by phonetic search"
    )

    @app.post(
        "/consult/family_composition",
        tags=["consult"],
        summary="family_composition v1: the household of the person",
    )
    def family_composition(body: ConsultRequest[EmptyRequest]) -> ConsultReply[FamilyCompositionData]:
        return consult_person(engine, body, "family_composition", service.family_composition)

    @app.post(
        "/consult/address_history",
        tags=["consult"],
        summary="address_history v1: every main residence of the person",
    )
    def address_history(body: ConsultRequest[EmptyRequest]) -> ConsultReply[AddressHistoryData]:
        return consult_person(engine, body, "address_history", service.address_history_data)

    @app.post(
        "/consult/social_inquiry",
        tags=["consult"],
        summary="social_inquiry v1, National Register part: the person and their household",
    )
    def social_inquiry(body: ConsultRequest[EmptyRequest]) -> ConsultReply[SocialInquiryData]:
        return consult_person(engine, body, "social_inquiry", service.social_inquiry)

    add_verify_route(app, engine, service.verify_proof)
    add_unknown_message_type_route(app, MESSAGE_TYPES)
    # the hub's batches: many envelopes per call, each answered by the single route's handler above
    add_batch_consult_route(app, consult_routes_answer(app))
    return app
