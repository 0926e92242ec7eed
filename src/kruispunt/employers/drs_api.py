"""Routes of the social-risk declarations (thin, over :mod:`.drs`).

* ``POST /drs/{scenario}`` (``WECH001``, ``WECH005``, ``ZIMA001``, ``AOAT001``), JSON
  ``{"employer": KBO or RSZ number, "insz": "…", "risk": {…the scenario's risk data…}}``, the declarant in the
  ``X-Kruispunt-Declarant`` header → 201 + ``Location: /drs/{id}`` with the declaration as stored: result
  ``A`` / ``W`` / ``B``, anomalies, the declaration with its link blocks and wage data, the delivery state.
  Refused as a whole (nothing stored, logged): no or invalid declarant (400), an unknown scenario (404),
  a body that is not JSON or not of the scenario's shape (400 / 422, with every error), no mandate (403).
* ``GET /drs/{id}`` → the same view, for the declarant or the employer.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Header, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from kruispunt.core.web import JSONResponse
from kruispunt.employers import drs, service
from kruispunt.employers.context import EmployersContext
from kruispunt.employers.errors import DeclarationRefused


def _declarant(value: str | None) -> str:
    from kruispunt.employers.api import declarant_of  # api imports this module

    return declarant_of(value)


def router(ctx: EmployersContext) -> APIRouter:
    r = APIRouter(tags=["social-risk declarations"])

    def refuse(exc: DeclarationRefused, *, kind: str, declarant: str | None, body: Any = None) -> Any:
        employer = body.get("employer") if isinstance(body, dict) else None
        insz = body.get("insz") if isinstance(body, dict) else None
        ctx.log.refused(
            kind=kind,
            declarant=declarant,
            employer=str(employer)[:10] if employer else None,
            insz=str(insz)[:11] if insz else None,
            code=exc.code,
        )
        return exc.http()

    def declare(scenario: str, body: Any, declarant: str) -> dict[str, Any]:
        parsed = drs.parse(scenario, body)
        with ctx.engine.begin() as conn:
            declared, linked = drs.declare(conn, parsed, declarant=declarant, today=ctx.today())
        ctx.log.record(
            ticket=declared.ticket,
            kind=parsed.scenario,
            declarant=declarant,
            employer=None if linked.employer is None else linked.employer.kbo,
            insz=linked.insz,
            result=declared.result,
            reason=service.first_blocking(linked.anomalies),
        )
        with ctx.engine.connect() as conn:
            return drs.get_drs(conn, declaration_id=declared.id, reader=declarant)

    @r.post(
        "/drs/{scenario}",
        status_code=201,
        summary="Declare a social risk (WECH001, WECH005, ZIMA001, AOAT001); the RSZ links the employment "
        "and wage data it holds and forwards it",
    )
    async def post_drs(
        scenario: str, request: Request, x_kruispunt_declarant: str | None = Header(default=None)
    ) -> Any:
        kind = scenario.upper() if scenario.upper() in drs.SCENARIOS else scenario[:24]
        try:
            declarant = _declarant(x_kruispunt_declarant)
        except HTTPException:
            ctx.log.refused(kind=kind, declarant=None, employer=None, insz=None, code="NO_DECLARANT")
            raise
        raw = await request.body()
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise refuse(
                DeclarationRefused(400, "INVALID_JSON", "the body is not JSON"),
                kind=kind,
                declarant=declarant,
            ) from None
        try:
            view = await run_in_threadpool(declare, kind, body, declarant)
        except DeclarationRefused as exc:
            raise refuse(exc, kind=kind, declarant=declarant, body=body) from exc
        return JSONResponse(view, status_code=201, headers={"Location": view["links"]["self"]})

    @r.get("/drs/{declaration_id}", summary="A social-risk declaration: result, anomalies, delivery")
    def get_drs(declaration_id: int, x_kruispunt_declarant: str | None = Header(default=None)) -> Any:
        reader = _declarant(x_kruispunt_declarant)
        try:
            with ctx.engine.connect() as conn:
                return drs.get_drs(conn, declaration_id=declaration_id, reader=reader)
        except DeclarationRefused as exc:
            raise exc.http() from exc

    return r
