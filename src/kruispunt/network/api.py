"""HTTP routes of the network package, mounted by the hub: persons directory (ManageAccess), reference data.

Thin: validation by the schemas, logic in ``directory``; database work runs in the thread pool. REGISTER and
UNREGISTER first check the proof that the institution knows the person (``verify_proof``, which the hub wires
to the authentic source holding that INSZ); a mismatch is refused with 403 and the source's reason.

``POST /directory/person-file`` is the one read that names every institution holding a file on a person: it
serves the KSZ alone (its citizen portal shows a person their own file), and only a request the KSZ signed
naming that person (``person_file_readers``, :mod:`kruispunt.trust.receiver`) — a body that says "KSZ" is
not believed. Any other institution asking is refused with 403, so an institution still learns about other
institutions' lines only through LIST, which does not name them.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from kruispunt.core.web import JSONResponse, error_body, error_responses
from kruispunt.ids import normalise_insz
from kruispunt.network import KSZ, directory
from kruispunt.network.catalogue import Catalogue
from kruispunt.network.deliberations import DeliberationIndex
from kruispunt.network.directory import DirectoryError, PersonLine
from kruispunt.network.registry import Institution, Registry
from kruispunt.network.schemas import (
    CapacityOut,
    InstitutionOut,
    Insz,
    Kbo,
    LineOut,
    ListRequest,
    ListResponse,
    MessageTypeOut,
    Period,
    ProofRequest,
    ProofResult,
    ProviderOut,
    RegisterRequest,
    RegisterResponse,
    SectorOut,
    UnregisterRequest,
    UnregisterResponse,
    _Wire,
)
from kruispunt.trust.receiver import (
    CallerCheck,
    CallerRefused,
    only_the_person,
    signed_route_errors,
    verify_caller,
)

log = logging.getLogger("kruispunt.network.api")

VerifyProof = Callable[[ProofRequest], Awaitable[ProofResult]]

_SIGNATURE_ERRORS = error_responses(
    401,
    409,
    e401="The signature does not verify, or signatures are required and there is none.",
    e409="A replayed signed request.",
)

SenderCheck = Callable[[Request, str], Awaitable[Response | None]]
"""(request, the institution its body names) → the refusal when the request's signature does not prove
that institution sent it (or must be there and is not), else None."""


class PersonFileRequest(_Wire):
    """Body of ``POST /directory/person-file``: the acting institution (the KSZ) and the person."""

    institution: Kbo = Field(description="the acting institution; only the KSZ is served")
    insz: Insz


class FileInstitution(BaseModel):
    kbo: str
    name: str | None
    sector: int
    institution_type: int


class CapacityLabel(BaseModel):
    nl: str | None
    fr: str | None
    de: str | None


class PersonFileLine(BaseModel):
    """One inscription with the institution named and the capacity's official labels."""

    model_config = ConfigDict(validate_by_name=True, serialize_by_alias=True)

    institution: FileInstitution
    capacity: int
    capacity_label: CapacityLabel
    phase: int | None
    period: Period
    register_: Literal["PRIMARY", "SECONDARY"] = Field(alias="register")
    last_change: dt.datetime


class PersonFileResponse(BaseModel):
    action: Literal["PERSON_FILE"] = "PERSON_FILE"
    insz: str
    lines: list[PersonFileLine]


@dataclass(frozen=True, slots=True)
class DirectoryExchange:
    """One directory operation as the log needs it: who, about whom, and how it ended."""

    action: str
    institution: str
    insz: str
    capacity: int | None
    status: int
    error_code: str | None


class ProofUnavailable(Exception):
    """Raised by a ``verify_proof`` implementation when the source cannot answer (down, timeout)."""


_STATUS = {
    "INVALID_INSZ": 422,
    "UNKNOWN_CAPACITY": 422,
    "INVALID_PERIOD": 422,
    "NO_INSCRIPTION": 404,
    "UNKNOWN_INSTITUTION": 403,
}


def _error(status: int, code: str, message: str, **details: Any) -> Response:
    return JSONResponse(error_body(code, message, **details), status_code=status)


def _out(line: PersonLine, acting: str) -> LineOut:
    return LineOut(
        institution=line.institution if line.institution == acting else None,
        sector=line.sector,
        institution_type=line.institution_type,
        capacity=line.capacity,
        phase=line.phase,
        period=Period(start=line.start, end=line.end),
        register_=line.register,
        last_change=line.last_change,
    )


def make_router(
    *,
    engine: Engine | Callable[[], Engine],
    registry_provider: Callable[[], Registry],
    verify_proof: VerifyProof,
    catalogue_provider: Callable[[], Catalogue] | None = None,
    deliberations_provider: Callable[[], DeliberationIndex] | None = None,
    on_exchange: Callable[[DirectoryExchange], Awaitable[None]] | None = None,
    person_file_readers: CallerCheck = None,
    check_sender: SenderCheck | None = None,
) -> APIRouter:
    """The network routes.

    ``check_sender``: the hub's check of who sends a REGISTER / UNREGISTER / LIST (its signature, as on
    every channel); its refusal is answered and logged (None: the body's institution is believed).

    ``person_file_readers``: the check of the KSZ's signature on ``/directory/person-file`` (None: no CA,
    that route answers 503).

    ``engine``: the hub database, or a function returning it (when the engine is created at start-up, after
    the routes). ``on_exchange`` is told of every REGISTER / UNREGISTER / LIST, allowed or refused, so the
    hub can log it like any other exchange. ``catalogue_provider`` defaults to the packaged catalogue;
    without a ``deliberations_provider`` they are loaded once from ``settings.deliberations_dir``.
    """
    router = APIRouter()

    async def reported(
        action: str,
        body: RegisterRequest | UnregisterRequest | ListRequest | PersonFileRequest,
        result: Any,
    ) -> Any:
        """Tell ``on_exchange`` (the hub's log) what was asked and how it ended, then pass the result on."""
        if on_exchange is not None:
            error_code = None
            status = 200
            if isinstance(result, Response):
                status = result.status_code
                try:
                    error_code = str(orjson.loads(bytes(result.body))["error"]["code"])
                except (orjson.JSONDecodeError, KeyError, TypeError):
                    error_code = "ERROR"
            await on_exchange(
                DirectoryExchange(
                    action=action,
                    institution=body.institution,
                    insz=body.insz,
                    capacity=getattr(body, "capacity", None),
                    status=status,
                    error_code=error_code,
                )
            )
        return result

    def db() -> Engine:
        return engine if isinstance(engine, Engine) else engine()

    catalogue_of = catalogue_provider or Catalogue.load_default
    loaded: dict[str, DeliberationIndex] = {}

    def deliberations_of() -> DeliberationIndex:
        if deliberations_provider is not None:
            return deliberations_provider()
        if "index" not in loaded:
            from kruispunt.core.settings import get_settings
            from kruispunt.network.deliberations import load_deliberations

            loaded["index"] = load_deliberations(
                get_settings().deliberations_dir, registry=registry_provider(), catalogue=catalogue_of()
            )
        return loaded["index"]

    def acting(kbo: str) -> Institution | Response:
        inst = registry_provider().institution(kbo)
        if inst is None:
            return _error(403, "UNKNOWN_INSTITUTION", f"institution {kbo} is not a member of the network")
        return inst

    async def sending(request: Request, kbo: str) -> Institution | Response:
        """The acting institution, when the request's signature (if the hub checks it) proves it sent it."""
        inst = acting(kbo)
        if isinstance(inst, Response) or check_sender is None:
            return inst
        refused = await check_sender(request, inst.kbo)
        return refused if refused is not None else inst

    async def check_proof(insz: str, body: RegisterRequest | UnregisterRequest) -> Response | None:
        try:
            result = await verify_proof(ProofRequest.of(insz, body.proof))
        except ProofUnavailable as exc:
            return _error(503, "PROOF_SOURCE_UNAVAILABLE", f"the proof cannot be checked now: {exc}")
        except Exception:
            log.exception("verify_proof failed")
            return _error(
                502, "PROOF_SOURCE_ERROR", "the source holding the person did not answer the proof check"
            )
        if not result.match:
            return _error(
                403,
                "PROOF_MISMATCH",
                result.reason or "the proof does not match the person",
                reason=result.reason,
            )
        return None

    @router.post(
        "/directory/register",
        response_model=RegisterResponse,
        tags=["directory"],
        summary="Integrate a person (ManageAccess REGISTER)",
        responses={
            **_SIGNATURE_ERRORS,
            403: {"description": "unknown institution, proof mismatch, or signed by another institution"},
            422: {"description": "bad input"},
        },
    )
    async def register_route(request: Request, body: RegisterRequest) -> Any:
        return await reported("REGISTER", body, await _register(request, body))

    async def _register(request: Request, body: RegisterRequest) -> Any:
        inst = await sending(request, body.institution)
        if isinstance(inst, Response):
            return inst
        registry = registry_provider()
        insz = normalise_insz(body.insz)
        if insz is None:
            return _error(422, "INVALID_INSZ", f"{body.insz} is not a valid INSZ")
        if registry.capacity(inst.sector, body.capacity) is None:
            return _error(
                422, "UNKNOWN_CAPACITY", f"capacity {body.capacity} is not defined for sector {inst.sector}"
            )
        refused = await check_proof(insz, body)
        if refused is not None:
            return refused

        def work() -> directory.RegisterResult:
            with db().begin() as conn:
                return directory.register(
                    conn,
                    insz=insz,
                    institution=inst,
                    capacity=body.capacity,
                    start=body.period.start,
                    end=body.period.end,
                    phase=body.phase,
                    registry=registry,
                )

        try:
            result = await run_in_threadpool(work)
        except DirectoryError as exc:
            return _error(_STATUS.get(exc.code, 422), exc.code, exc.message)
        return RegisterResponse(
            insz=insz,
            created=result.created,
            line=_out(result.line, inst.kbo),
            overlapping=[_out(line, inst.kbo) for line in result.overlapping],
        )

    @router.post(
        "/directory/unregister",
        response_model=UnregisterResponse,
        tags=["directory"],
        summary="End an integration (ManageAccess UNREGISTER)",
        responses={
            **_SIGNATURE_ERRORS,
            403: {"description": "unknown institution, proof mismatch, or signed by another institution"},
            404: {"description": "no active inscription"},
        },
    )
    async def unregister_route(request: Request, body: UnregisterRequest) -> Any:
        return await reported("UNREGISTER", body, await _unregister(request, body))

    async def _unregister(request: Request, body: UnregisterRequest) -> Any:
        inst = await sending(request, body.institution)
        if isinstance(inst, Response):
            return inst
        insz = normalise_insz(body.insz)
        if insz is None:
            return _error(422, "INVALID_INSZ", f"{body.insz} is not a valid INSZ")
        refused = await check_proof(insz, body)
        if refused is not None:
            return refused

        def work() -> list[PersonLine]:
            with db().begin() as conn:
                return directory.unregister(
                    conn,
                    insz=insz,
                    institution=inst,
                    capacity=body.capacity,
                    start=body.period.start,
                    end=body.period.end,
                )

        try:
            closed = await run_in_threadpool(work)
        except DirectoryError as exc:
            return _error(_STATUS.get(exc.code, 422), exc.code, exc.message)
        return UnregisterResponse(insz=insz, closed=[_out(line, inst.kbo) for line in closed])

    @router.post(
        "/directory/list",
        response_model=ListResponse,
        tags=["directory"],
        summary="A person's inscriptions (ManageAccess LIST)",
        responses={
            **_SIGNATURE_ERRORS,
            **error_responses(403, e403="unknown institution, or signed by another institution"),
        },
    )
    async def list_route(request: Request, body: ListRequest) -> Any:
        return await reported("LIST", body, await _list(request, body))

    async def _list(request: Request, body: ListRequest) -> Any:
        inst = await sending(request, body.institution)
        if isinstance(inst, Response):
            return inst
        insz = normalise_insz(body.insz)
        if insz is None:
            return _error(422, "INVALID_INSZ", f"{body.insz} is not a valid INSZ")

        def work() -> list[PersonLine]:
            with db().connect() as conn:
                return directory.list_lines(
                    conn, insz=insz, sector=body.sector, register=body.query_register, on=body.on
                )

        lines = await run_in_threadpool(work)
        return ListResponse(
            insz=insz, register_=body.query_register, lines=[_out(line, inst.kbo) for line in lines]
        )

    @router.post(
        "/directory/person-file",
        response_model=PersonFileResponse,
        tags=["directory"],
        summary="Every inscription of a person, institutions named (the KSZ's citizen portal only)",
        responses=signed_route_errors(
            acting_for="person",
            e403="The acting institution is not the KSZ, or the request names another person.",
        ),
    )
    async def person_file_route(request: Request, body: PersonFileRequest) -> Any:
        """For the citizen's "my file": which institutions hold a file on them, in which capacity, when.

        Signed by the KSZ (its portal), naming the person in the envelope; every other institution is
        refused, and every call, refused or not, is logged like a LIST.
        """
        return await reported("PERSON_FILE", body, await _person_file(request, body))

    async def _person_file(request: Request, body: PersonFileRequest) -> Any:
        inst = acting(body.institution)
        if isinstance(inst, Response):
            return inst
        if inst.kbo != KSZ:
            return _error(
                403,
                "NOT_THE_KSZ",
                "only the KSZ reads the whole file of a person (for that person); LIST gives your own lines",
            )
        insz = normalise_insz(body.insz)
        if insz is None:
            return _error(422, "INVALID_INSZ", f"{body.insz} is not a valid INSZ")
        try:
            only_the_person(await verify_caller(person_file_readers, request), insz, "a person's whole file")
        except CallerRefused as refused:
            return refused.response()
        registry = registry_provider()

        def work() -> list[PersonLine]:
            with db().connect() as conn:
                return directory.list_lines(conn, insz=insz)

        lines = []
        for line in await run_in_threadpool(work):
            holder = registry.institution(line.institution)
            capacity = registry.capacity(line.sector, line.capacity)
            lines.append(
                PersonFileLine(
                    institution=FileInstitution(
                        kbo=line.institution,
                        name=holder.name if holder is not None else None,
                        sector=line.sector,
                        institution_type=line.institution_type,
                    ),
                    capacity=line.capacity,
                    capacity_label=CapacityLabel(
                        nl=capacity.label_nl if capacity else None,
                        fr=capacity.label_fr if capacity else None,
                        de=capacity.label_de if capacity else None,
                    ),
                    phase=line.phase,
                    period=Period(start=line.start, end=line.end),
                    register_=line.register,
                    last_change=line.last_change,
                )
            )
        return PersonFileResponse(insz=insz, lines=lines)

    # -- read-only reference data ----------------------------------------------------------------------------

    @router.get(
        "/network/sectors",
        response_model=list[SectorOut],
        tags=["network"],
        summary="The official sector list (sector code, institution type)",
    )
    async def sectors_route() -> Any:
        return [
            SectorOut(
                code=s.code,
                institution_type=s.institution_type,
                short_name=s.short_name,
                short_name_fr=s.short_name_fr,
                name_nl=s.name_nl,
                name_fr=s.name_fr,
            )
            for s in registry_provider().sectors()
        ]

    @router.get(
        "/network/capacities",
        response_model=list[CapacityOut],
        tags=["network"],
        summary="Capacity codes, all or those valid in one sector",
    )
    async def capacities_route(sector: int | None = Query(default=None, ge=0, le=999)) -> Any:
        return [
            CapacityOut(
                sector=c.sector, code=c.code, label_fr=c.label_fr, label_nl=c.label_nl, label_de=c.label_de
            )
            for c in registry_provider().capacities(sector)
        ]

    @router.get(
        "/network/institutions",
        response_model=list[InstitutionOut],
        tags=["network"],
        summary="The institutions of the network",
    )
    async def institutions_route() -> Any:
        return [
            InstitutionOut(
                kbo=i.kbo,
                name=i.name,
                sector=i.sector,
                institution_type=i.institution_type,
                service=i.service,
            )
            for i in registry_provider().institutions()
        ]

    @router.get(
        "/network/message-types",
        response_model=list[MessageTypeOut],
        tags=["network"],
        summary="The message catalogue",
    )
    async def message_types_route() -> Any:
        return [
            MessageTypeOut(
                name=m.name,
                version=m.version,
                title=m.title,
                description=m.description,
                person=m.person,
                providers=[ProviderOut(institution=p.institution, knows=p.knows) for p in m.providers],
                request_schema=dict(m.request_schema),
                reply_fields=list(m.reply_fields),
                soap={"service_id": m.soap.service_id, "version": m.soap.version} if m.soap else None,
            )
            for m in catalogue_of().all()
        ]

    @router.get("/network/deliberations", tags=["network"], summary="The deliberations in force or not")
    async def deliberations_route() -> Any:
        return [d.to_dict() for d in deliberations_of().all()]

    @router.get("/network/deliberations/{deliberation_id:path}", tags=["network"], summary="One deliberation")
    async def deliberation_route(deliberation_id: str) -> Any:
        found = deliberations_of().get(deliberation_id)
        if found is None:
            return _error(404, "UNKNOWN_DELIBERATION", f"no deliberation {deliberation_id}")
        return found.to_dict()

    return router
