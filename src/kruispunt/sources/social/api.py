"""HTTP services of the social sources (thin routes over :mod:`.service` and :mod:`.managing`).

Three shapes, chosen by the service's ``role`` in ``data/sources.yaml`` (:func:`create_app`):

* a **primary source** (rsz, rva, han, fpd, fedris, child_benefit): ``POST /consult/{message_type}`` for each
  message type it serves, ``POST /consult-batch/{message_type}`` (``add_batch_consult_route`` of
  :mod:`kruispunt.sources.web`), ``POST /files``, ``POST /files/{id}/close``, ``PUT /files/{kind}/{key}``
  (open or amend the file named by the sender's key), ``POST /files/{kind}/{key}/cancel``,
  ``GET /.well-known/jwks.json``, ``GET /health``;
* the **members host** of a secondary network (mutualities, ocmws): the same routes under
  ``/members/{kbo}/…`` (``consult``, ``consult-batch``, ``files``), each member with its own database and its
  own signing key, plus ``GET /members``
  and ``GET /.well-known/jwks.json`` (every member's key);
* a **managing institution** (nic, pod_mi): ``POST /consult/{message_type}`` forwarded to the members that
  know the person, ``POST /consult-batch/{message_type}`` (each item forwarded on its own),
  ``POST /members/lines`` (a member's span on a person), ``GET /.well-known/jwks.json`` (its members'
  published keys), ``GET /health``.

Batch use: every message type of a primary source or member is answered by
:meth:`kruispunt.sources.social.service.SocialSource.answer` ``(conn_or_engine, envelope)``;
:func:`consult_one` ``(app, envelope, member=None)`` calls it on an app's own database
(``app.state.consult_one`` is the same, bound). A managing institution answers with the coroutine
``app.state.network.answer(envelope)``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from fastapi import FastAPI, HTTPException, Request
from fastapi import Response as FastAPIResponse
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sqlalchemy import Connection, Engine
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from kruispunt.core.db import component_url, make_engine
from kruispunt.core.migrate import upgrade
from kruispunt.core.settings import Settings, get_settings
from kruispunt.core.web import JSONResponse, create_service_app, error_responses
from kruispunt.sources import extracts
from kruispunt.sources.changes import ChangePublisher
from kruispunt.sources.common import ConsultReply, ConsultRequest, error_detail
from kruispunt.sources.social import service
from kruispunt.sources.social.changes import publisher as change_publisher
from kruispunt.sources.social.clients import HubDirectory, ManagingDirectory
from kruispunt.sources.social.definitions import SourceDef, definition, load_definitions
from kruispunt.sources.social.managing import ExtractUnavailable, ManagingNetwork
from kruispunt.sources.social.models import file_table, member_line_table
from kruispunt.sources.social.schemas import (
    CancelIn,
    CloseIn,
    FileIn,
    FileReply,
    KeyedFileIn,
    KeyedFileReply,
    MemberSpanIn,
    MemberSpanOut,
)
from kruispunt.sources.social.service import FileError, SocialSource, request_model
from kruispunt.sources.social.signing import published_jwks
from kruispunt.sources.web import (
    ENVELOPE,
    add_batch_consult_route,
    add_unknown_message_type_route,
    answer_items,
    batch_items,
    check_envelope,
    invalid,
    item_error,
    unknown_message_type,
)
from kruispunt.warehouse.extract import ExtractError, quarter_bounds

FILE_ERRORS = error_responses(404, 409, 503, e503="the hub or the managing institution could not be reached")
"""What opening, closing, amending or cancelling a file can be refused with (:class:`service.FileError`)."""

Reply = ConsultReply[dict[str, Any]]
COMPONENT = "social"


def open_database(url: str) -> Engine:
    """Migrate a social database, open its engine, restore indexes an interrupted bulk load left out."""
    upgrade(url, COMPONENT)
    engine = make_engine(url)
    with engine.begin() as conn:
        for table in (file_table, member_line_table):
            for index in table.indexes:
                index.create(conn, checkfirst=True)
    return engine


def _unknown_member(kbo: str, members: Mapping[str, Any]) -> HTTPException:
    return HTTPException(
        status_code=404,
        detail=error_detail("UNKNOWN_MEMBER", f"no member {kbo} here", members=sorted(members)),
    )


T = TypeVar("T")


def _published(publisher: ChangePublisher | None, write: Callable[..., T]) -> Callable[..., T]:
    """``write`` (a file change), then wake the publisher: the change it queued goes out at once."""

    def run(*args: Any, **kwargs: Any) -> T:
        result = write(*args, **kwargs)
        if publisher is not None:
            publisher.wake()
        return result

    return run


def _app(
    d: SourceDef,
    *,
    description: str,
    health: Callable[[], dict[str, Any]],
    startup: Callable[[], Any] | None = None,
    shutdown: Callable[[], Any] | None = None,
) -> FastAPI:
    async def read_health() -> dict[str, Any]:
        return await run_in_threadpool(health)

    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        if startup is not None:
            await startup()
        try:
            yield
        finally:
            if shutdown is not None:
                await shutdown()

    return create_service_app(
        title=d.name,
        description=description,
        max_body_bytes=get_settings().max_body_bytes,
        health=read_health,
        lifespan=lifespan,
    )


def _health(
    d: SourceDef, engine: Engine, facts: Callable[[Connection], dict[str, Any]]
) -> Callable[[], dict[str, Any]]:
    """The health of a service on one database: its name, its database, ``facts`` and what it was seeded
    with."""

    def health() -> dict[str, Any]:
        with engine.connect() as conn:
            return {
                "component": d.name,
                "database": engine.dialect.name,
                **facts(conn),
                "seed": service.get_meta(conn),
            }

    return health


def _consult_endpoint(source: SocialSource, message_type: str, engine: Engine) -> Callable[..., Any]:
    """``POST /consult/{message_type}`` with the handler's typed body (so the OpenAPI document shows it)."""
    model = request_model(source.definition.message_types[message_type])

    def consult(body: Any) -> Any:
        check_envelope(body, message_type)
        return source.answer(engine, body)

    consult.__annotations__ = {"body": ConsultRequest[model], "return": Reply}  # type: ignore[valid-type]
    return consult


def _summary(d: SourceDef, message_type: str) -> str:
    handler = d.message_types[message_type]
    return f"{message_type} v1 ({type(handler).__name__.removesuffix('Handler').lower()})"


def consult_one(
    app: FastAPI, envelope: ConsultRequest[Any], *, member: str | None = None
) -> ConsultReply[dict[str, Any]]:
    """Answer one envelope with the app's own source and database (a members host: ``member``'s)."""
    answer: Callable[..., Reply] = app.state.consult_one
    return answer(envelope, member=member) if member is not None else answer(envelope)


# ---------------------------------------------------------------------------------------------- primary


def create_source_app(
    d: SourceDef,
    *,
    url: str,
    keys_dir: Path | None,
    hub_url: str | None,
    timeout_s: float = 10.0,
    source: SocialSource | None = None,
    hub: HubDirectory | None = None,
    mutations_url: str | None = None,
) -> FastAPI:
    """A primary social source on the database at ``url`` (migrated at start-up); with ``mutations_url``
    it publishes its changes of status there."""
    if d.role != "primary":
        raise ValueError(f"{d.name} is not a primary source")
    engine = open_database(url)
    source = source or SocialSource.of(d, keys_dir=keys_dir)
    source.keys.load_all()
    hub = hub or HubDirectory(hub_url, timeout_s=timeout_s)
    source.hub = hub

    health = _health(d, engine, lambda _: {"institutions": list(d.institutions)})
    publisher = change_publisher([engine], mutations_url) if mutations_url else None

    async def startup() -> None:
        if publisher is not None:
            publisher.start()

    async def shutdown() -> None:
        if publisher is not None:
            publisher.stop()
        hub.close()
        engine.dispose()

    app = _app(d, description=d.title, health=health, startup=startup, shutdown=shutdown)
    app.state.engine = engine
    app.state.source = source
    app.state.consult_one = lambda envelope: source.answer(engine, envelope)
    for message_type in sorted(d.message_types):
        app.add_api_route(
            f"/consult/{message_type}",
            _consult_endpoint(source, message_type, engine),
            methods=["POST"],
            tags=["consult"],
            summary=_summary(d, message_type),
        )

    files_extract = extracts.social_files(engine, file_table)
    datasets = {"files": files_extract}
    if d.name == "rsz":
        datasets["employers"] = extracts.employers_of(files_extract)
    extracts.add_extract_routes(app, datasets)

    @app.post(
        "/files",
        tags=["files"],
        summary="Open a file and integrate the person",
        status_code=201,
        responses=FILE_ERRORS,
    )
    def open_file(body: FileIn) -> FileReply:
        try:
            return _published(publisher, service.open_file)(engine, definition=d, body=body, hub=hub)
        except FileError as exc:
            raise exc.http() from exc

    @app.post(
        "/files/{file_id}/close",
        tags=["files"],
        summary="Close a file and end the integration",
        responses=FILE_ERRORS,
    )
    def close_file(file_id: int, body: CloseIn) -> FileReply:
        try:
            return _published(publisher, service.close_file)(engine, file_id=file_id, body=body, hub=hub)
        except FileError as exc:
            raise exc.http() from exc

    @app.put(
        "/files/{kind}/{key}",
        tags=["files"],
        summary="Open (201) or amend (200) the file named by a key; the same content again changes nothing",
        responses={**FILE_ERRORS, 201: {"description": "opened"}},
    )
    def put_file(kind: str, key: str, body: KeyedFileIn, response: FastAPIResponse) -> KeyedFileReply:
        try:
            reply = _published(publisher, service.put_file)(
                engine, definition=d, kind=kind, key=key, body=body, hub=hub
            )
        except FileError as exc:
            raise exc.http() from exc
        response.status_code = 201 if reply.change == "created" else 200
        return reply

    @app.post(
        "/files/{kind}/{key}/cancel",
        tags=["files"],
        summary="Remove the file named by a key (a repeated cancel gets the same answer)",
        responses=FILE_ERRORS,
    )
    def cancel_file(kind: str, key: str, body: CancelIn) -> KeyedFileReply:
        try:
            return _published(publisher, service.cancel_file)(
                engine, definition=d, kind=kind, key=key, body=body, hub=hub
            )
        except FileError as exc:
            raise exc.http() from exc

    @app.get("/.well-known/jwks.json", tags=["attestations"], summary="Public keys of this source's issuers")
    def jwks() -> dict[str, Any]:
        return source.keys.jwks()

    add_unknown_message_type_route(app, source.served())
    add_batch_consult_route(app, app.state.consult_one)
    return app


# ----------------------------------------------------------------------------------------- members host


def create_members_app(
    d: SourceDef,
    *,
    urls: Mapping[str, str],
    keys_dir: Path | None,
    hub_url: str | None,
    managing_url: str | None,
    timeout_s: float = 10.0,
    sources: Mapping[str, SocialSource] | None = None,
    hub: HubDirectory | None = None,
    managing: ManagingDirectory | None = None,
    mutations_url: str | None = None,
) -> FastAPI:
    """The members of a secondary network in one process, each on its own database (``urls`` by KBO); with
    ``mutations_url`` each member publishes its changes of status there."""
    if d.role != "members":
        raise ValueError(f"{d.name} is not a members service")
    missing = set(d.institutions) - set(urls)
    if missing:
        raise ValueError(f"no database URL for members {sorted(missing)}")
    engines = {kbo: open_database(urls[kbo]) for kbo in d.institutions}
    members = {
        kbo: (sources or {}).get(kbo) or SocialSource.of(d, keys_dir=keys_dir, institutions=[kbo])
        for kbo in d.institutions
    }
    for member in members.values():
        member.keys.load_all()
    hub = hub or HubDirectory(hub_url, timeout_s=timeout_s)
    managing = managing or ManagingDirectory(managing_url, timeout_s=timeout_s)
    for member in members.values():
        member.hub, member.managing = hub, managing

    def engine_for(kbo: str | None) -> Engine:
        if kbo not in engines:
            raise _unknown_member(str(kbo), engines)
        return engines[kbo]

    def health() -> dict[str, Any]:
        out: dict[str, Any] = {}
        for kbo, engine in engines.items():
            with engine.connect() as conn:
                out[kbo] = {"component": d.component(kbo), "seed": service.get_meta(conn)}
        first = next(iter(engines.values()))
        return {"component": d.name, "database": first.dialect.name, "members": out}

    publisher = change_publisher(list(engines.values()), mutations_url) if mutations_url else None

    async def startup() -> None:
        if publisher is not None:
            publisher.start()

    async def shutdown() -> None:
        if publisher is not None:
            publisher.stop()
        hub.close()
        managing.close()
        for engine in engines.values():
            engine.dispose()

    app = _app(
        d,
        description=f"{d.title}. Called by its managing institution ({d.managed_by}).",
        health=health,
        startup=startup,
        shutdown=shutdown,
    )
    app.state.engines = engines
    app.state.sources = members

    def answer(envelope: ConsultRequest[Any], *, member: str) -> Reply:
        return members[member].answer(engine_for(member), envelope, holder=member)

    app.state.consult_one = answer
    for message_type in sorted(d.message_types):
        for_member: Callable[..., Any] = _member_consult(members, engine_for, message_type)
        app.add_api_route(
            f"/members/{{kbo}}/consult/{message_type}",
            for_member,
            methods=["POST"],
            tags=["consult"],
            summary=_summary(d, message_type),
        )

    @app.post(
        "/members/{kbo}/warehouse/extract/files",
        tags=["warehouse"],
        summary="A member's quarterly files extract for the data warehouse (Arrow IPC stream)",
        response_class=Response,
    )
    async def member_extract(kbo: str, body: extracts.ExtractIn) -> Response:
        try:
            table = await run_in_threadpool(extracts.social_files(engine_for(kbo), file_table), body.quarter)
        except ExtractError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None
        return Response(extracts.arrow_bytes(table), media_type=extracts.ARROW_STREAM)

    @app.get("/members", tags=["members"], summary="The members served here")
    def list_members() -> dict[str, Any]:
        return {"members": list(d.institutions), "managed_by": d.managed_by}

    @app.post(
        "/members/{kbo}/files",
        tags=["files"],
        summary="Open a file at a member",
        status_code=201,
        responses=FILE_ERRORS,
    )
    def open_file(kbo: str, body: FileIn) -> FileReply:
        engine = engine_for(kbo)
        try:
            return _published(publisher, service.open_file)(
                engine, definition=d, body=body, hub=hub, managing=managing, member=kbo
            )
        except FileError as exc:
            raise exc.http() from exc

    @app.post(
        "/members/{kbo}/files/{file_id}/close",
        tags=["files"],
        summary="Close a file at a member",
        responses=FILE_ERRORS,
    )
    def close_file(kbo: str, file_id: int, body: CloseIn) -> FileReply:
        engine = engine_for(kbo)
        try:
            return _published(publisher, service.close_file)(
                engine, file_id=file_id, body=body, hub=hub, managing=managing, member=kbo
            )
        except FileError as exc:
            raise exc.http() from exc

    @app.put(
        "/members/{kbo}/files/{kind}/{key}",
        tags=["files"],
        summary="Open (201) or amend (200) a member's file named by a key",
        responses={**FILE_ERRORS, 201: {"description": "opened"}},
    )
    def put_file(
        kbo: str, kind: str, key: str, body: KeyedFileIn, response: FastAPIResponse
    ) -> KeyedFileReply:
        engine = engine_for(kbo)
        try:
            reply = _published(publisher, service.put_file)(
                engine, definition=d, kind=kind, key=key, body=body, hub=hub, managing=managing, member=kbo
            )
        except FileError as exc:
            raise exc.http() from exc
        response.status_code = 201 if reply.change == "created" else 200
        return reply

    @app.post(
        "/members/{kbo}/files/{kind}/{key}/cancel",
        tags=["files"],
        summary="Remove a member's file named by a key",
        responses=FILE_ERRORS,
    )
    def cancel_file(kbo: str, kind: str, key: str, body: CancelIn) -> KeyedFileReply:
        engine = engine_for(kbo)
        try:
            return _published(publisher, service.cancel_file)(
                engine, definition=d, kind=kind, key=key, body=body, hub=hub, managing=managing, member=kbo
            )
        except FileError as exc:
            raise exc.http() from exc

    @app.get("/members/{kbo}/.well-known/jwks.json", tags=["attestations"], summary="One member's key")
    def member_jwks(kbo: str) -> dict[str, Any]:
        engine_for(kbo)
        return members[kbo].keys.jwks()

    @app.get("/.well-known/jwks.json", tags=["attestations"], summary="Every member's public key")
    def jwks() -> dict[str, Any]:
        keys = [k for m in members.values() for k in m.keys.jwks()["keys"]]
        return {"keys": sorted(keys, key=lambda k: str(k["kid"]))}

    served = sorted(d.message_types)

    @app.post(
        "/members/{kbo}/consult-batch/{message_type}",
        tags=["consult"],
        summary="Many consultations of one message type for one member in one call",
    )
    async def consult_batch(kbo: str, message_type: str, request: Request) -> Response:
        engine_for(kbo)
        items = await batch_items(request)

        def one(envelope: ConsultRequest[dict[str, Any]]) -> Reply:
            return answer(envelope, member=kbo)

        answers = await run_in_threadpool(answer_items, one, message_type, items)
        return JSONResponse({"items": answers})

    @app.post("/members/{kbo}/consult/{message_type}", tags=["consult"], include_in_schema=False)
    async def member_unknown_message_type(kbo: str, message_type: str) -> None:
        engine_for(kbo)
        raise unknown_message_type(message_type, served)

    return app


def _member_consult(
    members: Mapping[str, SocialSource], engine_for: Callable[[str | None], Engine], message_type: str
) -> Callable[..., Any]:
    any_source = next(iter(members.values()))
    model = request_model(any_source.definition.message_types[message_type])

    def consult(kbo: str, body: Any) -> Any:
        engine = engine_for(kbo)
        check_envelope(body, message_type)
        return members[kbo].answer(engine, body, holder=kbo)

    consult.__annotations__ = {"kbo": str, "body": ConsultRequest[model], "return": Reply}  # type: ignore[valid-type]
    return consult


# ---------------------------------------------------------------------------------------------- managing


def create_managing_app(
    d: SourceDef,
    *,
    url: str,
    members_url: str | None,
    keys_dir: Path | None,
    timeout_s: float = 5.0,
) -> FastAPI:
    """A managing institution on its own database (the member directory), forwarding to ``members_url``."""
    if d.role != "managing" or d.members is None:
        raise ValueError(f"{d.name} is not a managing institution")
    members = load_definitions()[d.members]
    engine = open_database(url)
    network = ManagingNetwork(d, members, engine=engine, members_url=members_url, timeout_s=timeout_s)

    health = _health(
        d,
        engine,
        lambda conn: {
            "members": list(members.institutions),
            "member_lines": service.count_member_lines(conn),
        },
    )

    async def shutdown() -> None:
        await network.close()
        engine.dispose()

    app = _app(
        d,
        description=f"{d.title}: forwards to the members ({d.members}) that know the person.",
        health=health,
        startup=network.start,
        shutdown=shutdown,
    )
    app.state.engine = engine
    app.state.network = network
    for message_type in sorted(d.message_types):
        app.add_api_route(
            f"/consult/{message_type}",
            _managing_consult(network, message_type),
            methods=["POST"],
            tags=["consult"],
            summary=f"{_summary(d, message_type)}, forwarded to the members",
        )

    @app.post(
        "/warehouse/extract/files",
        tags=["warehouse"],
        summary="The members' quarterly files extract for the data warehouse (Arrow IPC stream)",
        response_class=Response,
    )
    async def network_extract(body: extracts.ExtractIn) -> Response:
        try:
            quarter_bounds(body.quarter)  # a bad quarter is the caller's error, not a member's failure
        except ExtractError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None
        try:
            table = await network.extract_files(body.quarter)
        except ExtractUnavailable as exc:
            raise HTTPException(status_code=502, detail=str(exc)) from None
        return Response(extracts.arrow_bytes(table), media_type=extracts.ARROW_STREAM)

    @app.post("/members/lines", tags=["members"], summary="A member's span on a person (null: none)")
    def member_lines(body: MemberSpanIn) -> MemberSpanOut:
        if body.member not in members.institutions:
            raise _unknown_member(body.member, dict.fromkeys(members.institutions))
        span = None if body.span is None else (body.span.start, body.span.end)
        with engine.begin() as conn:
            service.set_member_span(conn, insz=body.insz, member=body.member, span=span)
        return MemberSpanOut(member=body.member, insz=body.insz, span=body.span)

    @app.get("/.well-known/jwks.json", tags=["attestations"], summary="The public keys of the members")
    def jwks() -> dict[str, Any]:
        return published_jwks(keys_dir, members.institutions)

    add_unknown_message_type_route(app, sorted(d.message_types))

    @app.post(
        "/consult-batch/{message_type}",
        tags=["consult"],
        summary="Many consultations of one message type in one call, each forwarded to its members",
    )
    async def consult_batch(message_type: str, request: Request) -> Response:
        items = await batch_items(request)
        limit = asyncio.Semaphore(32)

        async def one(item: Any) -> dict[str, Any]:
            async with limit:
                try:
                    envelope = ENVELOPE.validate_python(item)
                    if envelope.message_type != message_type:
                        raise invalid(("message_type",), f"must be {message_type!r}, the path's message type")
                    result = await network.answer(envelope)
                    return result.reply.model_dump(mode="json")
                except (HTTPException, RequestValidationError, ValidationError) as exc:
                    return item_error(exc)

        return JSONResponse({"items": list(await asyncio.gather(*(one(item) for item in items)))})

    return app


def _managing_consult(network: ManagingNetwork, message_type: str) -> Callable[..., Any]:
    model = request_model(network.definition.message_types[message_type])

    async def consult(body: Any) -> Any:
        check_envelope(body, message_type)
        result = await network.answer(body)
        headers = {"x-kruispunt-partial": ",".join(sorted(result.failed))} if result.failed else None
        return JSONResponse(result.reply.model_dump(mode="json"), headers=headers)

    consult.__annotations__ = {"body": ConsultRequest[model], "return": Reply}  # type: ignore[valid-type]
    return consult


# ------------------------------------------------------------------------------------------- by service


def create_app(service_name: str, settings: Settings | None = None) -> FastAPI:
    """The app of one social service, configured from the settings (``kruispunt serve NAME``)."""
    settings = settings or get_settings()
    d = definition(service_name)
    keys_dir = settings.data_dir / "keys"
    timeout = settings.provider_timeout_s
    if d.role == "primary":
        return create_source_app(
            d,
            url=component_url(settings.db_url, settings.data_dir, d.component()),
            keys_dir=keys_dir,
            hub_url=settings.hub_url,
            timeout_s=2 * timeout,
            mutations_url=settings.mutations_url,
        )
    if d.role == "members":
        return create_members_app(
            d,
            urls={
                kbo: component_url(settings.db_url, settings.data_dir, d.component(kbo))
                for kbo in d.institutions
            },
            keys_dir=keys_dir,
            hub_url=settings.hub_url,
            managing_url=settings.endpoints.get(d.managed_by or ""),
            timeout_s=2 * timeout,
            mutations_url=settings.mutations_url,
        )
    # a member that does not answer is left out before the hub itself gives up on the managing institution
    return create_managing_app(
        d,
        url=component_url(settings.db_url, settings.data_dir, d.component()),
        members_url=settings.endpoints.get(d.members or ""),
        keys_dir=keys_dir,
        timeout_s=0.6 * timeout,
    )
