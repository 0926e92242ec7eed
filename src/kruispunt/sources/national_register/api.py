"""HTTP service of the National Register (docs/architecture.md, "Hub → source contract").

``POST /consult/identify_person``, ``/consult/family_composition``, ``/consult/address_history``,
``/consult/social_inquiry`` (its part: person and household),
``POST /persons/verify``, ``GET /health``; the register's events: ``POST /persons/{insz}/moves``,
``POST /persons/{insz}/household``, ``POST /persons/{insz}/death`` (each recorded with the changes it makes
for the network, published to ``mutations_url`` when one is given). Run with ``uvicorn --factory`` over
:func:`create_app`.
"""

from __future__ import annotations

from fastapi import FastAPI

from kruispunt.sources import extracts
from kruispunt.sources.common import ConsultReply, ConsultRequest, RecordedReply
from kruispunt.sources.national_register import service
from kruispunt.sources.national_register.models import (
    address_table,
    change_outbox_table,
    member_table,
    person_table,
)
from kruispunt.sources.national_register.schemas import (
    AddressHistoryData,
    DeathIn,
    EmptyRequest,
    FamilyCompositionData,
    HouseholdMoveIn,
    MoveIn,
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
    path_insz,
    record,
)

MESSAGE_TYPES = ["identify_person", "family_composition", "address_history", "social_inquiry"]


def create_app(url: str, *, mutations_url: str | None = None) -> FastAPI:
    """The National Register service on the database at ``url`` (migrated at start-up); with
    ``mutations_url`` the changes it records are published there."""
    app, engine = open_source_app(
        url=url,
        component="national_register",
        description="Authentic source: persons of the population registers, households and address history.",
        prepare=service.ensure_indexes,
        meta=service.get_meta,
        outbox=change_outbox_table,
        mutations_url=mutations_url,
    )
    extracts.add_extract_routes(
        app,
        {"persons": extracts.register_persons(engine, person_table, address_table, member_table)},
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

    @app.post(
        "/persons/{insz}/moves",
        status_code=201,
        tags=["events"],
        summary="Record a move: a new main residence from a date (address.changed)",
    )
    def move(insz: str, body: MoveIn) -> RecordedReply:
        person = path_insz(insz)
        return record(app, lambda conn: service.record_move(conn, insz=person, body=body))

    @app.post(
        "/persons/{insz}/household",
        status_code=201,
        tags=["events"],
        summary="Record a household change: the person joins a household or starts one (household.changed)",
    )
    def household(insz: str, body: HouseholdMoveIn) -> RecordedReply:
        person = path_insz(insz)
        return record(app, lambda conn: service.record_household_change(conn, insz=person, body=body))

    @app.post(
        "/persons/{insz}/death",
        status_code=201,
        tags=["events"],
        summary="Record a death (person.died); the same death again changes nothing",
    )
    def death(insz: str, body: DeathIn) -> RecordedReply:
        person = path_insz(insz)
        return record(app, lambda conn: service.record_death(conn, insz=person, body=body))

    add_verify_route(app, engine, service.verify_proof)
    add_unknown_message_type_route(app, MESSAGE_TYPES)
    # the hub's batches: many envelopes per call, each answered by the single route's handler above
    add_batch_consult_route(app, consult_routes_answer(app))
    return app
