"""HTTP plumbing and routes shared by the source services (each register's ``api.py`` adds its own routes).

Every source: migrates its database and opens its engine when the app is created, answers ``GET /health``
(core), refuses an unknown message type with 404 and a bad body with 422 (JSON errors from
:mod:`kruispunt.core.web`), and closes its engine at shutdown. Both registers answer ``identify_person`` and
``POST /persons/verify`` through the routes added here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.exceptions import RequestValidationError
from sqlalchemy import Connection, Engine
from starlette.concurrency import run_in_threadpool

from kruispunt.core.db import make_engine
from kruispunt.core.migrate import upgrade
from kruispunt.core.settings import get_settings
from kruispunt.core.web import create_service_app
from kruispunt.sources.common import (
    ConsultReply,
    ConsultRequest,
    DataT,
    IdentifyPersonData,
    IdentifyPersonRequest,
    PersonOut,
    VerifyReply,
    VerifyRequest,
    error_detail,
)

SERVED_VERSIONS = ("1",)


def open_source_app(
    *,
    url: str,
    component: str,
    description: str,
    prepare: Callable[[Connection], None],
    meta: Callable[[Connection], dict[str, str]],
) -> tuple[FastAPI, Engine]:
    """Migrate the component's database, open its engine and build the app (health, errors, body limit)."""
    upgrade(url, component)
    engine = make_engine(url)
    with engine.begin() as conn:
        prepare(conn)

    def read_health() -> dict[str, Any]:
        with engine.connect() as conn:
            return {"component": component, "database": engine.dialect.name, "seed": meta(conn)}

    async def health() -> dict[str, Any]:
        return await run_in_threadpool(read_health)

    app = create_service_app(
        title=component, description=description, max_body_bytes=get_settings().max_body_bytes, health=health
    )
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: Any) -> AsyncIterator[Any]:
        try:
            async with inner(application) as state:
                yield state
        finally:
            engine.dispose()

    app.router.lifespan_context = lifespan
    app.state.engine = engine
    return app, engine


def invalid(field: tuple[str, ...], message: str) -> RequestValidationError:
    """A 422 in the same shape as FastAPI's own validation errors."""
    return RequestValidationError([{"loc": ("body", *field), "msg": message, "type": "value_error"}])


def check_envelope(body: ConsultRequest[Any], message_type: str) -> None:
    """The body names the path's message type and a version we serve."""
    if body.message_type != message_type:
        raise invalid(("message_type",), f"must be {message_type!r}, the message type of the path")
    if body.version not in SERVED_VERSIONS:
        raise HTTPException(
            status_code=404,
            detail=error_detail(
                "UNKNOWN_VERSION",
                f"{message_type} version {body.version!r} is not served here",
                served=list(SERVED_VERSIONS),
            ),
        )


def require_person(body: ConsultRequest[Any]) -> str:
    if body.person is None:
        raise invalid(("person",), f"{body.message_type} needs the person (INSZ) in the envelope")
    return body.person


def consult_person(
    engine: Engine, body: ConsultRequest[Any], message_type: str, lookup: Callable[..., DataT | None]
) -> ConsultReply[DataT]:
    """Answer a consultation about the envelope's person with ``lookup(conn, insz=…)`` (None: no data)."""
    check_envelope(body, message_type)
    insz = require_person(body)
    with engine.connect() as conn:
        data = lookup(conn, insz=insz)
    if data is None:
        return ConsultReply(status="NO_DATA_FOUND")
    return ConsultReply(status="DATA_FOUND", data=data)


def add_identify_person_route(
    app: FastAPI, engine: Engine, identify: Callable[..., list[PersonOut]], *, summary: str
) -> None:
    """``POST /consult/identify_person`` over a register's ``identify_person``."""

    @app.post("/consult/identify_person", tags=["consult"], summary=summary)
    def identify_person(body: ConsultRequest[IdentifyPersonRequest]) -> ConsultReply[IdentifyPersonData]:
        check_envelope(body, "identify_person")
        request = body.request
        if request.insz is None and request.last_name is None and body.person is None:
            raise invalid(
                ("request",), "give request.insz, a phonetic search (last_name, birth_date) or person"
            )
        with engine.connect() as conn:
            found = identify(conn, request=request, person=body.person)
        if not found:
            return ConsultReply[IdentifyPersonData](status="NO_DATA_FOUND")
        return ConsultReply[IdentifyPersonData](status="DATA_FOUND", data=IdentifyPersonData(persons=found))


def add_unknown_message_type_route(app: FastAPI, served: list[str]) -> None:
    """``POST /consult/{other}`` → 404 (register after the served message types' own routes)."""

    @app.post("/consult/{message_type}", tags=["consult"], include_in_schema=False)
    async def unknown_message_type(message_type: str) -> None:
        raise HTTPException(
            status_code=404,
            detail=error_detail(
                "UNKNOWN_MESSAGE_TYPE", f"this source does not serve {message_type!r}", served=served
            ),
        )


def add_verify_route(app: FastAPI, engine: Engine, verify: Callable[..., VerifyReply | None]) -> None:
    """``POST /persons/verify`` over a register's ``verify_proof``."""

    @app.post(
        "/persons/verify",
        response_model=VerifyReply,
        tags=["persons"],
        summary="Check a proof that an institution knows the person (ManageAccess ProofOfAuthentication)",
        responses={404: {"description": "This source does not hold the INSZ"}},
    )
    def verify_person(body: VerifyRequest) -> VerifyReply:
        with engine.connect() as conn:
            reply = verify(
                conn,
                insz=body.insz,
                sis_card_number=body.sis_card_number,
                identity_card_number=body.identity_card_number,
                person_data=body.person_data,
            )
        if reply is None:
            raise HTTPException(
                status_code=404,
                detail=error_detail("PERSON_NOT_FOUND", "this source does not hold that INSZ"),
            )
        return reply
