"""The trusted third party as its own HTTP service: create projects, code INSZ, recode between projects,
record decoding approvals, decode (always logged) and read the decoding log.

Why a separate service: the warehouse must never hold an INSZ nor a project key; it only sends codes of its
own project ``dwh`` and gets back the codes of a research project (``/recode``). The keys stay here: in the
database, or in key files when ``KRUISPUNT_CODING_KEY_DIR`` is set (see :mod:`kruispunt.coding.service`).
Who calls is proven, not claimed: every request must carry an envelope signed by an institution allowed to
call the TTP (:class:`~kruispunt.trust.receiver.SignedCallers`; by default the KSZ, whose hub, warehouse and
reviewers are its only clients), and a decoding must name, in the envelope's ``sub``, the person who asked
(``requested_by``), so the decoding log records someone an institution vouched for. :func:`callers_of`
reads the check from the settings; ``KRUISPUNT_SIGNATURES=off`` runs the TTP open (development only).
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Annotated, Any

import httpx
from fastapi import Depends, FastAPI, Request
from pydantic import BaseModel, Field
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from kruispunt.coding import service
from kruispunt.core.db import make_engine
from kruispunt.core.migrate import upgrade
from kruispunt.core.settings import Settings, get_settings
from kruispunt.core.web import JSONResponse, create_service_app, error_body, error_responses
from kruispunt.network import KSZ
from kruispunt.trust.envelopes import VerifiedEnvelope
from kruispunt.trust.receiver import SignedCallers, signed_callers

log = logging.getLogger("kruispunt.coding.api")

_STATUS: dict[str, int] = {
    "INVALID_PROJECT": 422,
    "INVALID_INSZ": 422,
    "SAME_PROJECT": 422,
    "NO_REASON": 422,
    "UNKNOWN_PROJECT": 404,
    "UNKNOWN_CODE": 404,
    "PROJECT_EXISTS": 409,
    "APPROVAL_EXISTS": 409,
    "NO_APPROVAL": 403,
    "APPROVAL_EXPIRED": 403,
    "APPROVAL_NOT_FOR_PROJECT": 403,
    "KEY_UNAVAILABLE": 503,
    "KEY_FILE_UNSAFE": 503,
}

_Project = Field(min_length=1, max_length=64)


class ProjectIn(BaseModel):
    project: str = _Project
    purpose: str = Field(min_length=1, max_length=2000)


class CodesIn(BaseModel):
    inszs: list[str] = Field(description="INSZ in compact form (11 digits); the codes come back in order")


class CodesOut(BaseModel):
    project: str
    codes: list[str]


class RecodeIn(BaseModel):
    from_project: str = _Project
    codes: list[str] = Field(description="codes of from_project; the same persons' codes come back in order")


class ApprovalIn(BaseModel):
    reference: str = Field(min_length=1, max_length=32, description="the deliberation's reference")
    purpose: str = Field(min_length=1, max_length=2000)
    expires: dt.date = Field(description="last day decoding is allowed")


class DecodeIn(BaseModel):
    code: str = Field(min_length=1, max_length=32)
    reason: str = Field(max_length=2000)
    approval: str | None = Field(default=None, max_length=32)
    requested_by: str = Field(min_length=1, max_length=64)


def codes_of(answer: httpx.Response) -> list[object] | None:
    """For the TTP's clients: the ``codes`` list of a :class:`CodesOut` answer, or None if the answer is not
    such a JSON object (a proxy's error page, a truncated body)."""
    try:
        body = answer.json()
    except ValueError:
        return None
    codes = body.get("codes") if isinstance(body, dict) else None
    return codes if isinstance(codes, list) else None


CODING_ERRORS = error_responses(401, 403, 404, 409, 503)
"""The refusals of :data:`_STATUS` besides 422: no approval in force, unknown project or code, already there,
the key not available; and the caller check's: unsigned or badly signed (401), not allowed (403), replayed
(409)."""


async def _caller(request: Request) -> VerifiedEnvelope | None:
    """The verified caller of a request, by the app's check (None when the TTP runs open)."""
    callers: SignedCallers | None = request.app.state.callers
    return await callers(request) if callers is not None else None


Caller = Annotated[VerifiedEnvelope | None, Depends(_caller)]


def callers_of(settings: Settings) -> SignedCallers | None:
    """The TTP's caller check from the settings: signed by the KSZ, checked against the CA in
    ``<data_dir>/trust`` (a :class:`~kruispunt.trust.ca.TrustError` stops the start-up when there is none);
    None — open to any caller — only with ``KRUISPUNT_SIGNATURES=off``."""
    if settings.signatures == "off":
        log.warning("KRUISPUNT_SIGNATURES=off: the trusted third party accepts unsigned callers")
        return None
    return signed_callers(settings.data_dir / "trust", {KSZ}, service="the trusted third party")


def _refusal(exc: service.CodingError) -> Response:
    return JSONResponse(error_body(exc.code, str(exc)), status_code=_STATUS.get(exc.code, 422))


def create_app(
    *,
    database_url: str,
    callers: SignedCallers | None,
    key_dir: Path | None = None,
    max_body_bytes: int | None = None,
) -> FastAPI:
    """The TTP service on the database at ``database_url`` (migrated at start-up). ``callers``: who may call
    (:func:`callers_of`; None accepts anyone, for development only); ``key_dir``: the key folder (default
    ``KRUISPUNT_CODING_KEY_DIR``); ``max_body_bytes``: larger than the default for bulk coding (default the
    settings' limit)."""
    upgrade(database_url, "coding")
    engine: Engine = make_engine(database_url)

    async def health() -> dict[str, Any]:
        return {"component": "coding", "database": engine.dialect.name, "keys": "files" if folder else "db"}

    folder = key_dir or service.key_dir_setting()
    app = create_service_app(
        title="coding",
        description="Trusted third party: per-project codes of INSZ, recoding, approved and logged decoding.",
        max_body_bytes=max_body_bytes or get_settings().max_body_bytes,
        health=health,
    )
    app.state.engine = engine
    app.state.callers = callers

    @app.post(
        "/projects",
        status_code=201,
        tags=["projects"],
        summary="Create a project with its own key",
        responses=CODING_ERRORS,
    )
    def create_project(body: ProjectIn, _: Caller) -> Response:
        try:
            with engine.begin() as conn:
                service.create_project(conn, project=body.project, purpose=body.purpose, key_dir=folder)
        except service.CodingError as exc:
            return _refusal(exc)
        return JSONResponse({"project": body.project}, status_code=201)

    @app.post(
        "/projects/{project}/codes",
        tags=["coding"],
        summary="The project's codes of INSZ, in order",
        responses=CODING_ERRORS,
    )
    def codes(project: str, body: CodesIn, _: Caller) -> Response:
        """All or nothing: a bad INSZ (or one with separators) is named by its item and nothing is kept.
        Checked and coded column-wise (:func:`~kruispunt.coding.service.code_many`): the hub sends 50 000 a
        call."""
        try:
            with engine.begin() as conn:
                found = service.code_many(conn, project=project, inszs=body.inszs, key_dir=folder)
        except service.CodingError as exc:
            return _refusal(exc)
        return JSONResponse(CodesOut(project=project, codes=found).model_dump())

    @app.post(
        "/projects/{project}/recode",
        tags=["coding"],
        summary="The codes in this project of the persons behind codes of another project",
        responses=CODING_ERRORS,
    )
    def recode(project: str, body: RecodeIn, _: Caller) -> Response:
        try:
            with engine.begin() as conn:
                found = service.recode(
                    conn, from_project=body.from_project, to_project=project, codes=body.codes, key_dir=folder
                )
        except service.CodingError as exc:
            return _refusal(exc)
        return JSONResponse(CodesOut(project=project, codes=found).model_dump())

    @app.post(
        "/projects/{project}/approvals",
        status_code=201,
        tags=["decoding"],
        summary="Record a decision that allows decoding in this project",
        responses=CODING_ERRORS,
    )
    def approve(project: str, body: ApprovalIn, _: Caller) -> Response:
        try:
            with engine.begin() as conn:
                service.approve_decoding(
                    conn,
                    reference=body.reference,
                    project=project,
                    purpose=body.purpose,
                    expires=body.expires,
                )
        except service.CodingError as exc:
            return _refusal(exc)
        return JSONResponse(
            {"reference": body.reference, "project": project, "expires": body.expires.isoformat()},
            status_code=201,
        )

    @app.post(
        "/projects/{project}/decode",
        tags=["decoding"],
        summary="The INSZ behind a code, if approved",
        responses=CODING_ERRORS,
    )
    def decode(project: str, body: DecodeIn, signer: Caller) -> Response:
        """Granted or refused, the request is logged (the log entry is committed either way). With signed
        callers, ``requested_by`` must be the person the envelope names (``sub``)."""
        if signer is not None and signer.subject != body.requested_by:
            return JSONResponse(
                error_body(
                    "REQUESTER_NOT_SIGNED",
                    "requested_by must be the person the signed envelope names (sub)",
                    signed_subject=signer.subject,
                ),
                status_code=403,
            )
        with engine.connect() as conn:
            try:
                insz = service.decode_logged(
                    conn,
                    project=project,
                    code_value=body.code,
                    requested_by=body.requested_by,
                    reason=body.reason,
                    approval=body.approval,
                )
            except service.CodingError as exc:
                conn.commit()
                return _refusal(exc)
            conn.commit()
        return JSONResponse({"project": project, "code": body.code, "insz": insz})

    @app.get(
        "/projects/{project}/decodings",
        tags=["decoding"],
        summary="The decoding log of a project",
        responses=CODING_ERRORS,
    )
    async def decodings(project: str, _: Caller) -> Response:
        def read() -> list[dict[str, object]]:
            with engine.connect() as conn:
                return service.decodings(conn, project=project)

        rows = await run_in_threadpool(read)
        return JSONResponse({"project": project, "decodings": rows})

    return app
