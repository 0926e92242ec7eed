"""HTTP plumbing and routes shared by the source services (each register's ``api.py`` adds its own routes).

Every source: migrates its database and opens its engine when the app is created, answers ``GET /health``
(core), refuses an unknown message type with 404 and a bad body with 422 (JSON errors from
:mod:`kruispunt.core.web`), and closes its engine at shutdown. Both registers answer ``identify_person`` and
``POST /persons/verify`` through the routes added here.
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlalchemy import Connection, Engine, Table
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from kruispunt.core.db import make_engine
from kruispunt.core.migrate import upgrade
from kruispunt.core.settings import get_settings
from kruispunt.core.web import JSONResponse, create_service_app, error_body
from kruispunt.sources.changes import ChangePublisher
from kruispunt.sources.common import (
    ConsultReply,
    ConsultRequest,
    DataT,
    IdentifyPersonData,
    IdentifyPersonRequest,
    PersonOut,
    RecordedReply,
    VerifyReply,
    VerifyRequest,
    WriteRefused,
    error_detail,
    is_valid_insz,
)

SERVED_VERSIONS = ("1",)

log = logging.getLogger("kruispunt.sources")


def open_source_app(
    *,
    url: str,
    component: str,
    description: str,
    prepare: Callable[[Connection], None],
    meta: Callable[[Connection], dict[str, str]],
    outbox: Table | None = None,
    mutations_url: str | None = None,
) -> tuple[FastAPI, Engine]:
    """Migrate the component's database, open its engine and build the app (health, errors, body limit);
    with an ``outbox`` and a ``mutations_url`` the changes the register records are published there (a
    publisher thread for the app's lifetime, ``app.state.publisher``)."""
    upgrade(url, component)
    engine = make_engine(url)
    publisher = (
        ChangePublisher([engine], mutations_url, table=outbox)
        if outbox is not None and mutations_url
        else None
    )
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
        if publisher is not None:
            publisher.start()
        try:
            async with inner(application) as state:
                yield state
        finally:
            if publisher is not None:
                publisher.stop()
            engine.dispose()

    app.router.lifespan_context = lifespan
    app.state.engine = engine
    app.state.publisher = publisher
    return app, engine


def path_insz(insz: str) -> str:
    """The INSZ of a path, or a 422 in FastAPI's shape."""
    if not is_valid_insz(insz):
        raise RequestValidationError(
            [
                {
                    "loc": ("path", "insz"),
                    "msg": "not a valid INSZ (11 digits, national-register or bis number with valid check "
                    "digits)",
                    "type": "value_error",
                }
            ]
        )
    return insz


def record(app: FastAPI, write: Callable[[Connection], list[str]]) -> RecordedReply:
    """Run a register's write in one transaction — its rows and the changes it queues are kept together or
    not at all — then wake the publisher so the changes go out at once."""
    engine: Engine = app.state.engine
    try:
        with engine.begin() as conn:
            change_ids = write(conn)
    except WriteRefused as exc:
        raise exc.http() from exc
    publisher: ChangePublisher | None = app.state.publisher
    if publisher is not None and change_ids:
        publisher.wake()
    return RecordedReply(changes=change_ids)


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


def unknown_message_type(message_type: str, served: list[str]) -> HTTPException:
    """The 404 for a message type this source does not serve (``served``: the ones it does)."""
    return HTTPException(
        status_code=404,
        detail=error_detail(
            "UNKNOWN_MESSAGE_TYPE", f"this source does not serve {message_type!r}", served=served
        ),
    )


def add_unknown_message_type_route(app: FastAPI, served: list[str]) -> None:
    """``POST /consult/{other}`` → 404 (register after the served message types' own routes)."""

    @app.post("/consult/{message_type}", tags=["consult"], include_in_schema=False)
    async def unknown_message_type_route(message_type: str) -> None:
        raise unknown_message_type(message_type, served)


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


# -- bulk consultation (the hub's batches) --------------------------------------------------------------

Answer = Callable[[ConsultRequest[dict[str, Any]]], ConsultReply[Any]]
"""One consultation answered synchronously (database work included): what the bulk route runs per item."""

ENVELOPE: TypeAdapter[ConsultRequest[dict[str, Any]]] = TypeAdapter(ConsultRequest[dict[str, Any]])
"""One envelope of a bulk call (its ``request`` still a plain dict)."""

MAX_BATCH_ITEMS = 10_000
"""How many envelopes one bulk call may carry (by default)."""


def consult_routes_answer(app: FastAPI) -> Answer:
    """An :data:`Answer` that runs the app's own ``POST /consult/{message_type}`` handlers.

    So a source's bulk route answers exactly like its single routes (same checks, same queries, same
    data): the envelope's ``request`` is validated against the body type of the handler of its message type,
    and that handler is called. The handlers are looked up at the first call, so every single route the app
    has by then counts, whenever it was added. A message type without a handler → 404, as on the single
    route; the handler's own errors (HTTPException, validation) pass through unchanged.
    """
    handlers: dict[str, tuple[Callable[..., Any], type[BaseModel], TypeAdapter[Any]]] = {}

    def load() -> None:
        for route in app.routes:
            if not (isinstance(route, APIRoute) and "POST" in (route.methods or ())):
                continue
            name = route.path.removeprefix("/consult/")
            if name == route.path or "{" in name or "/" in name:
                continue
            params = list(inspect.signature(route.endpoint, eval_str=True).parameters.values())
            model = params[0].annotation if len(params) == 1 else None
            if not (
                isinstance(model, type) and issubclass(model, BaseModel) and "request" in model.model_fields
            ):
                continue
            body_type: Any = model.model_fields["request"].annotation
            handlers[name] = (route.endpoint, model, TypeAdapter(body_type))

    def answer(envelope: ConsultRequest[dict[str, Any]]) -> ConsultReply[Any]:
        if not handlers:
            load()
        found = handlers.get(envelope.message_type)
        if found is None:
            raise unknown_message_type(envelope.message_type, sorted(handlers))
        handler, model, body_adapter = found
        try:
            body = body_adapter.validate_python(envelope.request)
        except ValidationError as exc:
            raise RequestValidationError(
                [{**e, "loc": ("body", "request", *e.get("loc", ()))} for e in exc.errors()]
            ) from None
        # the envelope itself was validated already: only its request is retyped
        typed = model.model_construct(
            _fields_set=envelope.model_fields_set, **{**dict(envelope), "request": body}
        )
        reply = handler(typed)
        assert isinstance(reply, ConsultReply)
        return reply

    return answer


def item_error(exc: Exception) -> dict[str, Any]:
    """An item's error in the bulk reply: the status and JSON error the single route would have answered."""
    if isinstance(exc, HTTPException):
        detail = exc.detail
        if isinstance(detail, dict) and isinstance(detail.get("error"), dict):
            return {"error": {"status": exc.status_code, **detail["error"]}}
        return {
            "error": {"status": exc.status_code, "code": f"HTTP_{exc.status_code}", "message": str(detail)}
        }
    if isinstance(exc, RequestValidationError | ValidationError):
        problems = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": e.get("type")}
            for e in exc.errors()
        ]
        body = error_body("INVALID_REQUEST", "the request does not match the schema", errors=problems)
        return {"error": {"status": 422, **body["error"]}}
    log.exception("unexpected error in a bulk consultation item", exc_info=exc)
    return {
        "error": {
            "status": 500,
            "code": "INTERNAL",
            "message": "unexpected internal error; it has been logged",
        }
    }


def answer_items(answer: Answer, message_type: str, items: list[Any]) -> list[dict[str, Any]]:
    """Answer each envelope of a bulk call with ``answer``; an item's failure is that item's error only."""
    out: list[dict[str, Any]] = []
    for item in items:
        try:
            envelope = ENVELOPE.validate_python(item)
            if envelope.message_type != message_type:
                raise invalid(("message_type",), f"must be {message_type!r}, the message type of the path")
            out.append(answer(envelope).model_dump(mode="json"))
        except Exception as exc:  # per item: one bad envelope must not fail the others
            out.append(item_error(exc))
    return out


async def batch_items(request: Request, max_items: int = MAX_BATCH_ITEMS) -> list[Any]:
    """The ``items`` of a bulk body (``{"items": [envelope, …]}``, at most ``max_items``), or a 422."""
    try:
        doc = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise invalid((), "the body is not valid JSON") from None
    items = doc.get("items") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise invalid(("items",), "give the envelopes as a list in items")
    if len(items) > max_items:
        raise invalid(("items",), f"at most {max_items} envelopes per call")
    return items


def add_batch_consult_route(app: FastAPI, answer: Answer, *, max_items: int = MAX_BATCH_ITEMS) -> None:
    """``POST /consult-batch/{message_type}``: many hub → source envelopes in one call (the hub's batches).

    Body ``{"items": [ConsultRequest, ...]}`` (at most ``max_items``; the service's body limit applies);
    reply ``{"items": [...]}`` in the same order, each item either a ``ConsultReply`` (``{"status", "data"}``)
    or ``{"error": {"status", "code", "message", ...}}`` with the HTTP status and error the single route
    ``POST /consult/{message_type}`` would have answered for that envelope. All items run in one worker
    thread, one after the other (``answer`` does the database work synchronously), and one bulk call at a
    time: several threads each alternating short driver calls (which release the GIL) with Python work
    convoy on the GIL — each waits up to the switch interval (5 ms) to get it back after every query — and
    run far slower together than one after the other. The hub falls back to the single route when a source
    has no bulk route (404/405).
    """
    one_at_a_time = threading.Lock()

    def run(message_type: str, items: list[Any]) -> list[dict[str, Any]]:
        with one_at_a_time:
            return answer_items(answer, message_type, items)

    @app.post(
        "/consult-batch/{message_type}",
        tags=["consult"],
        summary="Many consultations of one message type in one call (the hub's batches)",
        response_class=JSONResponse,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["items"],
                            "properties": {"items": {"type": "array", "maxItems": max_items, "items": {}}},
                        }
                    }
                },
            }
        },
    )
    async def consult_batch(message_type: str, request: Request) -> Response:
        items = await batch_items(request, max_items)
        answers = await run_in_threadpool(run, message_type, items)
        return JSONResponse({"items": answers})
