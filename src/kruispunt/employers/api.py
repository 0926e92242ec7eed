"""The employers service (``kruispunt serve employers``): where employers and their social secretariats
declare — Dimona (REST like Dimona v2, and XML files), DmfA (XML files, streamed, and JSON), the
social-risk declarations — and where they manage mandates and read receipts and notifications.

Thin routes: each declaration kind has its router (``dimona_api``, ``dmfa_api``, ``drs_api``) over its
module; this one holds the repertory and mandate routes and assembles the app. Who declares is said by the
``X-Kruispunt-Declarant`` header (a KBO number): the employer itself, or a social secretariat / service
provider holding a mandate from it. (Proving that identity is the network's authentication, not this
service's.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Any, Literal

from fastapi import APIRouter, FastAPI, Header, Query
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from kruispunt.audit.service import AuditWriter
from kruispunt.core.db import component_url, make_engine
from kruispunt.core.migrate import upgrade
from kruispunt.core.settings import Settings, get_settings
from kruispunt.core.web import create_service_app
from kruispunt.employers import SERVICE, career_api, dimona_api, dmfa_api, drs_api, service
from kruispunt.employers.context import EmployersContext
from kruispunt.employers.delivery import DeliveryWorker, outbox_rows
from kruispunt.employers.errors import DeclarationRefused, no_declarant
from kruispunt.employers.schemas import EmployerOut, MandateEndIn, MandateIn, MandateOut
from kruispunt.ids import InvalidIdentifier, validate_enterprise_number
from kruispunt.network import KSZ
from kruispunt.trust.receiver import SignedCallers, optional_callers

LOG_COMPONENT = "employers_log"
"""The database of the declarations log (the audit schema, its own database)."""


def open_database(url: str) -> Engine:
    upgrade(url, SERVICE)
    return make_engine(url)


def open_log(url: str) -> tuple[Engine, AuditWriter]:
    upgrade(url, "audit")
    engine = make_engine(url)
    writer = AuditWriter(engine, chain=0)
    return engine, writer


def declarant_of(value: str | None) -> str:
    """The ``X-Kruispunt-Declarant`` header as a validated KBO number (400 when absent or invalid)."""
    try:
        found = service.valid_declarant(value)
    except DeclarationRefused as exc:
        raise exc.http() from exc
    if found is None:
        raise no_declarant().http()
    return found


def _kbo(value: str, what: str) -> str:
    try:
        return validate_enterprise_number(value)
    except InvalidIdentifier as exc:
        raise DeclarationRefused(400, "INVALID_CBE_NUMBER", f"{what}: {exc}").http() from exc


def mandates_router(ctx: EmployersContext) -> APIRouter:
    """The employer repertory and mandates (who may declare for whom)."""
    r = APIRouter(tags=["mandates"])

    @r.get("/employers/{kbo}", summary="One employer of the repertory")
    def read_employer(kbo: str) -> EmployerOut:
        number = _kbo(kbo, "employer")
        with ctx.engine.connect() as conn:
            found = service.find_employer(conn, kbo=number)
        if found is None:
            raise DeclarationRefused(
                404, "UNKNOWN_EMPLOYER", f"employer {number} is not in the repertory"
            ).http()
        return EmployerOut(**asdict(found))

    @r.post("/mandates", status_code=201, summary="An employer mandates a social secretariat or provider")
    def grant(body: MandateIn, x_kruispunt_declarant: str | None = Header(default=None)) -> MandateOut:
        acting = declarant_of(x_kruispunt_declarant)
        if acting != body.employer:
            ctx.log.refused(
                kind="MANDATE", declarant=acting, employer=body.employer, insz=None, code="NOT_THE_EMPLOYER"
            )
            raise DeclarationRefused(
                403, "NOT_THE_EMPLOYER", "only the employer itself grants a mandate on its behalf"
            ).http()
        try:
            with ctx.engine.begin() as conn:
                m = service.grant_mandate(
                    conn,
                    employer_kbo=body.employer,
                    declarant_kbo=body.declarant,
                    role=body.role,
                    start=body.start,
                    end=body.end,
                )
        except DeclarationRefused as exc:
            raise exc.http() from exc
        ctx.log.record(
            ticket=service.new_ticket(),
            kind="MANDATE",
            declarant=acting,
            employer=body.employer,
            insz=None,
            result="A",
        )
        return MandateOut(**asdict(m))

    @r.post("/mandates/{mandate_id}/end", summary="End a mandate")
    def end(
        mandate_id: int, body: MandateEndIn, x_kruispunt_declarant: str | None = Header(default=None)
    ) -> MandateOut:
        acting = declarant_of(x_kruispunt_declarant)
        try:
            with ctx.engine.begin() as conn:
                mandates = service.mandates_of(conn, employer_kbo=acting)
                if all(m.id != mandate_id for m in mandates):
                    raise DeclarationRefused(
                        404, "UNKNOWN_MANDATE", f"{acting} granted no mandate {mandate_id}"
                    )
                m = service.end_mandate(conn, mandate_id=mandate_id, end=body.end)
        except DeclarationRefused as exc:
            raise exc.http() from exc
        return MandateOut(**asdict(m))

    @r.get("/employers/{kbo}/mandates", summary="The mandates an employer granted")
    def list_mandates(kbo: str) -> dict[str, Any]:
        number = _kbo(kbo, "employer")
        with ctx.engine.connect() as conn:
            found = service.mandates_of(conn, employer_kbo=number)
        return {
            "employer": number,
            "mandates": [MandateOut(**asdict(m)).model_dump(mode="json") for m in found],
        }

    @r.get("/deliveries", tags=["operations"], summary="What is still to reach the network, and what failed")
    def deliveries(
        state: Literal["pending", "done", "dead"] | None = None,
        limit: int = Query(default=100, ge=1, le=1000),
    ) -> dict[str, Any]:
        with ctx.engine.connect() as conn:
            counts = service.delivery_state(conn)
        return {"counts": counts, "deliveries": outbox_rows(ctx, state=state, limit=limit)}

    return r


def create_employers_app(
    *,
    url: str,
    log_url: str | None,
    hub_url: str | None,
    rsz_url: str | None,
    settings: Settings | None = None,
    deliver: bool = True,
    career_callers: SignedCallers | None = None,
) -> FastAPI:
    """The employers service on the database at ``url``, its declarations log at ``log_url`` (None: not
    logged, for unit tests), delivering accepted declarations to the RSZ source and the hub in the
    background (``deliver``). ``career_callers``: who may read a career (default: the KSZ, checked against
    the CA in ``<data_dir>/trust``)."""
    settings = settings or get_settings()
    if career_callers is None:
        career_callers = optional_callers(settings.data_dir / "trust", {KSZ}, service="the career route")
    engine = open_database(url)
    log_engine, writer = open_log(log_url) if log_url else (None, None)
    ctx = EmployersContext(
        engine=engine,
        log=service.DeclarationLog(writer),
        hub_url=hub_url,
        rsz_url=rsz_url,
        spool_dir=str(settings.data_dir / "spool"),
        career_callers=career_callers,
    )
    # nothing to deliver to (a unit test, a bench of the intake alone): no worker retrying in vain
    worker = DeliveryWorker(ctx) if deliver and (hub_url or rsz_url) else None

    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        if writer is not None:
            writer.start()
        if worker is not None:
            worker.start()
        try:
            yield
        finally:
            if worker is not None:
                worker.stop()
            for close in ctx.closers:
                close()
            if writer is not None:
                writer.close()
            engine.dispose()
            if log_engine is not None:
                log_engine.dispose()

    def health_facts() -> dict[str, Any]:
        with engine.connect() as conn:
            return {
                "component": SERVICE,
                "database": engine.dialect.name,
                "employers": service.count_employers(conn),
                "delivery": service.delivery_state(conn),
                "seed": service.get_meta(conn),
            }

    async def health() -> dict[str, Any]:
        return await run_in_threadpool(health_facts)

    app = create_service_app(
        title=SERVICE,
        description=__doc__ or "",
        max_body_bytes=settings.max_body_bytes,
        health=health,
        lifespan=lifespan,
        body_limit_exempt=("/dimona/files", "/dmfa/files"),
    )
    app.state.ctx = ctx
    app.state.delivery = worker
    for make in (mandates_router, dimona_api.router, dmfa_api.router, drs_api.router, career_api.router):
        app.include_router(make(ctx))
    return app


def create_app(settings: Settings | None = None) -> FastAPI:
    """``kruispunt serve employers``: configured from the settings."""
    settings = settings or get_settings()
    return create_employers_app(
        url=component_url(settings.db_url, settings.data_dir, SERVICE),
        log_url=component_url(settings.db_url, settings.data_dir, LOG_COMPONENT),
        hub_url=settings.hub_url,
        rsz_url=settings.endpoints.get("rsz"),
        settings=settings,
    )
