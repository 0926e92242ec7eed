"""The trusted third party as its own HTTP service: create projects, code INSZ, recode between projects,
record decoding approvals, decode (always logged) and read the decoding log.

Why a separate service: the warehouse must never hold an INSZ nor a project key; it only sends codes of its
own project ``dwh`` and gets back the codes of a research project (``/recode``). The keys stay here: in the
database, or in key files when ``KRUISPUNT_CODING_KEY_DIR`` is set (see :mod:`kruispunt.coding.service`).
Who may call which route (the warehouse, the CBSS reviewer, the TTP's own staff) is decided by the network
in front of it; ``requested_by`` is recorded in the log as given. Run with ``uvicorn --factory`` over
:func:`create_app`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from pydantic import BaseModel, Field
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from kruispunt.coding import service
from kruispunt.core.db import make_engine
from kruispunt.core.migrate import upgrade
from kruispunt.core.settings import get_settings
from kruispunt.core.web import JSONResponse, create_service_app, error_body, error_responses

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


CODING_ERRORS = error_responses(403, 404, 409, 503)
"""The refusals of :data:`_STATUS` besides 422: no approval in force, unknown project or code, already there,
the key not available."""


def _refusal(exc: service.CodingError) -> Response:
    return JSONResponse(error_body(exc.code, str(exc)), status_code=_STATUS.get(exc.code, 422))


def create_app(
    *, database_url: str, key_dir: Path | None = None, max_body_bytes: int | None = None
) -> FastAPI:
    """The TTP service on the database at ``database_url`` (migrated at start-up). ``key_dir``: the key
    folder (default ``KRUISPUNT_CODING_KEY_DIR``); ``max_body_bytes``: larger than the default for bulk
    coding (default the settings' limit)."""
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

    @app.post(
        "/projects",
        status_code=201,
        tags=["projects"],
        summary="Create a project with its own key",
        responses=CODING_ERRORS,
    )
    def create_project(body: ProjectIn) -> Response:
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
    def codes(project: str, body: CodesIn) -> Response:
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
    def recode(project: str, body: RecodeIn) -> Response:
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
    def approve(project: str, body: ApprovalIn) -> Response:
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
    def decode(project: str, body: DecodeIn) -> Response:
        """Granted or refused, the request is logged (the log entry is committed either way)."""
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
    async def decodings(project: str) -> Response:
        def read() -> list[dict[str, object]]:
            with engine.connect() as conn:
                return service.decodings(conn, project=project)

        rows = await run_in_threadpool(read)
        return JSONResponse({"project": project, "decodings": rows})

    return app
