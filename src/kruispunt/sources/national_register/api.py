"""HTTP service of the National Register (docs/architecture.md, "Hub → source contract").

``POST /consult/identify_person``, ``/consult/family_composition``, ``/consult/address_history``,
``POST /persons/verify``, ``GET /health``. Run with ``uvicorn --factory`` over :func:`create_app`.
"""

from __future__ import annotations

from fastapi import FastAPI

from kruispunt.sources.common import ConsultReply, ConsultRequest, IdentifyPersonData, IdentifyPersonRequest
from kruispunt.sources.national_register import service
from kruispunt.sources.national_register.schemas import (
    AddressHistoryData,
    EmptyRequest,
    FamilyCompositionData,
)
from kruispunt.sources.web import (
    add_unknown_message_type_route,
    add_verify_route,
    check_envelope,
    invalid,
    open_source_app,
    require_person,
)

MESSAGE_TYPES = ["identify_person", "family_composition", "address_history"]


def create_app(url: str) -> FastAPI:
    """The National Register service on the database at ``url`` (migrated at start-up)."""
    app, engine = open_source_app(
        url=url,
        component="national_register",
        description="Authentic source: persons of the population registers, households and address history.",
        prepare=service.ensure_indexes,
        meta=service.get_meta,
    )

    @app.post(
        "/consult/identify_person",
        tags=["consult"],
        summary="identify_person v1: by INSZ or by phonetic search",
    )
    def identify_person(body: ConsultRequest[IdentifyPersonRequest]) -> ConsultReply[IdentifyPersonData]:
        check_envelope(body, "identify_person")
        request = body.request
        if request.insz is None and request.last_name is None and body.person is None:
            raise invalid(
                ("request",), "give request.insz, a phonetic search (last_name, birth_date) or person"
            )
        with engine.connect() as conn:
            found = service.identify_person(conn, request=request, person=body.person)
        if not found:
            return ConsultReply[IdentifyPersonData](status="NO_DATA_FOUND")
        return ConsultReply[IdentifyPersonData](status="DATA_FOUND", data=IdentifyPersonData(persons=found))

    @app.post(
        "/consult/family_composition",
        tags=["consult"],
        summary="family_composition v1: the household of the person",
    )
    def family_composition(body: ConsultRequest[EmptyRequest]) -> ConsultReply[FamilyCompositionData]:
        check_envelope(body, "family_composition")
        insz = require_person(body)
        with engine.connect() as conn:
            data = service.family_composition(conn, insz=insz)
        if data is None:
            return ConsultReply[FamilyCompositionData](status="NO_DATA_FOUND")
        return ConsultReply[FamilyCompositionData](status="DATA_FOUND", data=data)

    @app.post(
        "/consult/address_history",
        tags=["consult"],
        summary="address_history v1: every main residence of the person",
    )
    def address_history(body: ConsultRequest[EmptyRequest]) -> ConsultReply[AddressHistoryData]:
        check_envelope(body, "address_history")
        insz = require_person(body)
        with engine.connect() as conn:
            periods = service.address_history(conn, insz=insz)
        if not periods:
            return ConsultReply[AddressHistoryData](status="NO_DATA_FOUND")
        data = AddressHistoryData(addresses=service.address_history_out(periods))
        return ConsultReply[AddressHistoryData](status="DATA_FOUND", data=data)

    add_verify_route(app, engine, service.verify_proof)
    add_unknown_message_type_route(app, MESSAGE_TYPES)
    return app
