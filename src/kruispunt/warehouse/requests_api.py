"""HTTP routes of the research requests (:mod:`kruispunt.warehouse.requests`): filing, review, committee
decision, extraction, the one download, the history.

Who calls: the KSZ's portal, for a logged-in user. Every request is signed with the KSZ's key
(:mod:`kruispunt.trust.receiver`) and names, under that signature, the user and the role the portal gave
them: ``sub`` = ``researcher:<subject>`` (files, downloads, reads their own requests) or
``reviewer:<subject>`` (the CBSS reviewer, who also records the committee's decision and starts the
extraction). No header is believed: unsigned 401, another institution 403, a replay 409, a researcher on a
reviewer's route 403 ``WRONG_ROLE``; without a network CA the routes answer 503. The router is mounted by
the warehouse's app; errors are answered as :func:`kruispunt.core.web.error_body` JSON.

The coded tier needs the trusted third party: ``recoder(project)`` returns the function that turns the
warehouse's person codes into that project's codes; :func:`http_recoder` builds it over the TTP's HTTP API
(:mod:`kruispunt.coding.api`), creating the project there on first use.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, Field
from sqlalchemy import Engine
from starlette.responses import Response

from kruispunt.coding.api import codes_of
from kruispunt.core.web import JSONResponse, error_body, error_responses
from kruispunt.trust.receiver import SignedCallers, checked_callers
from kruispunt.warehouse import requests
from kruispunt.warehouse.schemas import PROJECT

Recoder = Callable[[str], Callable[[list[str]], list[str]]]
"""project → (warehouse codes → that project's codes, in order)."""

RECODE_BATCH = 20_000
"""Codes per call to the TTP (about 0.5 MB: under the services' default body limit)."""

_STATUS: dict[str, int] = {
    "NOT_FOUND": 404,
    "WRONG_STATE": 409,
    "ALREADY_DELIVERED": 409,
    "SELF_REVIEW": 403,
    "APPROVAL_EXPIRED": 410,
    "EXTRACT_MISSING": 410,
    "NO_TTP": 503,
    "TTP_FAILED": 502,
    "NO_SNAPSHOT": 409,
}

RESEARCHER = "researcher"
REVIEWER = "reviewer"


@dataclass(frozen=True)
class Acting:
    """Whom a request is made for, from the signed envelope's ``sub``: the role the portal gave the user
    (:data:`RESEARCHER` or :data:`REVIEWER`) and their subject."""

    role: str
    name: str


def acting(callers: SignedCallers | None, *roles: str) -> Callable[[Request], Awaitable[Acting]]:
    """A FastAPI dependency: the user a KSZ-signed request acts for, who must hold one of ``roles``."""
    signed = checked_callers(callers)

    async def check(request: Request) -> Acting:
        verified = await signed(request)
        role, sep, name = (verified.subject or "").partition(":")
        if not sep or role not in (RESEARCHER, REVIEWER) or not 0 < len(name) <= 64:
            raise HTTPException(
                401, error_body("BAD_SUBJECT", "the signed subject must be researcher:<id> or reviewer:<id>")
            )
        if role not in roles:
            raise HTTPException(
                403, error_body("WRONG_ROLE", f"this step is for a {' or '.join(roles)}, not a {role}")
            )
        return Acting(role, name)

    return check


_ID = PathParam(ge=1, le=2**62, description="the request's number")
_PERSON = Field(min_length=1, max_length=64)


class RequestIn(BaseModel):
    organisation: str = Field(min_length=1, max_length=200)
    purpose: str = Field(min_length=1, max_length=10_000)
    population: dict[str, Any] = Field(
        default_factory=dict, description='e.g. {"region": ["BRU"], "age_min": 18}'
    )
    variables: list[str] = Field(description="columns of the person-quarter snapshot")
    quarters: list[str] = Field(description='e.g. ["2024Q4"]')
    tier: str = Field(description="anonymous or coded")


class ReviewIn(BaseModel):
    accepted: bool
    notes: str = Field(default="", max_length=10_000)


class CommitteeIn(BaseModel):
    notes: str = Field(default="", max_length=10_000)


class DecisionIn(BaseModel):
    approved: bool
    deliberation: str = Field(min_length=1, max_length=32, description="the committee's deliberation number")
    conditions: str = Field(default="", max_length=10_000)
    expires: dt.date = Field(description="last day the extract may be delivered and kept")


def _refusal(exc: requests.RequestError) -> Response:
    return JSONResponse(error_body(exc.code, str(exc)), status_code=_STATUS.get(exc.code, 422))


def http_recoder(client: httpx.Client, *, from_project: str = PROJECT) -> Recoder:
    """A recoder over the TTP's HTTP API (``client`` has the TTP's base URL)."""

    def for_project(project: str) -> Callable[[list[str]], list[str]]:
        def recode(codes: list[str]) -> list[str]:
            try:
                created = client.post("/projects", json={"project": project, "purpose": "research request"})
                if created.status_code not in (201, 409):
                    raise requests.RequestError(
                        "TTP_FAILED", f"the TTP refused project {project}: {created.text}"
                    )
                result: list[str] = []
                for i in range(0, len(codes), RECODE_BATCH):
                    chunk = codes[i : i + RECODE_BATCH]
                    answer = client.post(
                        f"/projects/{project}/recode", json={"from_project": from_project, "codes": chunk}
                    )
                    if answer.status_code != 200:
                        raise requests.RequestError(
                            "TTP_FAILED", f"the TTP refused to recode: {answer.text[:500]}"
                        )
                    got = codes_of(answer)
                    if got is None or len(got) != len(chunk):
                        raise requests.RequestError("TTP_FAILED", "the TTP sent a bad list of codes")
                    result.extend(str(c) for c in got)
            except httpx.HTTPError as exc:
                raise requests.RequestError("TTP_FAILED", f"the TTP cannot be reached: {exc}") from exc
            return result

        return recode

    return for_project


def create_requests_router(
    *,
    engine: Engine,
    snapshot_dir: Path,
    extracts_dir: Path,
    callers: SignedCallers | None,
    recoder: Recoder | None = None,
    k: int = requests.K_ANONYMITY,
    today: Callable[[], dt.date] = dt.date.today,
) -> APIRouter:
    """Routes under ``/research/requests`` on the warehouse database ``engine``; ``callers``: the check of
    the KSZ's signature (None: no CA, every route answers 503)."""
    router = APIRouter(
        prefix="/research",
        tags=["research requests"],
        responses=error_responses(
            401,
            403,
            409,
            503,
            e401="Not signed, badly signed, or naming no researcher or reviewer.",
            e403="Not signed by the KSZ, or a role that may not take this step.",
            e409="A replayed request, or a step the request's state does not allow.",
            e503="No network CA to check the caller, or the TTP is not configured.",
        ),
    )
    as_researcher = Depends(acting(callers, RESEARCHER))
    as_reviewer = Depends(acting(callers, REVIEWER))
    as_either = Depends(acting(callers, RESEARCHER, REVIEWER))

    def step(work: Callable[[Any], Any], status: int = 200) -> Response:
        """``work`` in one transaction, a refusal as its error JSON; a Response is answered as it is."""
        try:
            with engine.begin() as conn:
                result = work(conn)
        except requests.RequestError as exc:
            return _refusal(exc)
        if isinstance(result, Response):
            return result
        if isinstance(result, requests.ResearchRequest):
            result = result.as_json()
        return JSONResponse(result, status_code=status)

    @router.post("/requests", status_code=201, summary="File a research request")
    def file(body: RequestIn, who: Acting = as_researcher) -> Response:
        return step(
            lambda conn: requests.file_request(
                conn,
                researcher=who.name,
                organisation=body.organisation,
                purpose=body.purpose,
                population=body.population,
                variables=body.variables,
                quarters=body.quarters,
                tier=body.tier,
                available_quarters=requests.snapshot_quarters(snapshot_dir),
            ),
            201,
        )

    @router.get("/requests", summary="Requests, newest first: the researcher's own, or all for a reviewer")
    def listing(
        state: str | None = Query(default=None, pattern="^[a-z_]{1,20}$"),
        limit: int = Query(default=200, ge=1, le=1000),
        who: Acting = as_either,
    ) -> Response:
        researcher = None if who.role == REVIEWER else who.name
        return step(
            lambda conn: {
                "requests": [
                    r.as_json()
                    for r in requests.list_requests(conn, researcher=researcher, state=state, limit=limit)
                ]
            }
        )

    @router.get("/requests/{request_id}", summary="A request (its researcher, or a reviewer)")
    def read(request_id: int = _ID, who: Acting = as_either) -> Response:
        def work(conn: Any) -> requests.ResearchRequest:
            found = requests.get_request(conn, request_id=request_id)
            if who.role != REVIEWER and found.researcher != who.name:
                raise requests.RequestError("NOT_FOUND", f"no research request {request_id} filed by you")
            return found

        return step(work)

    @router.get(
        "/requests/{request_id}/history", summary="Every step of a request (its researcher, or a reviewer)"
    )
    def history(request_id: int = _ID, who: Acting = as_either) -> Response:
        researcher = None if who.role == REVIEWER else who.name
        return step(
            lambda conn: {
                "request": request_id,
                "steps": requests.history(conn, request_id=request_id, researcher=researcher),
            }
        )

    @router.post("/requests/{request_id}/review", summary="The CBSS review: accept or reject")
    def review(body: ReviewIn, request_id: int = _ID, who: Acting = as_reviewer) -> Response:
        return step(
            lambda conn: requests.review(
                conn, request_id=request_id, reviewer=who.name, accepted=body.accepted, notes=body.notes
            )
        )

    @router.post("/requests/{request_id}/committee", summary="Pass a reviewed request to the committee")
    def committee(body: CommitteeIn, request_id: int = _ID, who: Acting = as_reviewer) -> Response:
        return step(
            lambda conn: requests.submit_to_committee(
                conn, request_id=request_id, reviewer=who.name, notes=body.notes
            )
        )

    @router.post("/requests/{request_id}/decision", summary="Record the committee's deliberation")
    def decision(body: DecisionIn, request_id: int = _ID, who: Acting = as_reviewer) -> Response:
        return step(
            lambda conn: requests.decide(
                conn,
                request_id=request_id,
                approved=body.approved,
                deliberation=body.deliberation,
                conditions=body.conditions,
                expires=body.expires,
                decided_by=who.name,
                today=today(),
            )
        )

    @router.post("/requests/{request_id}/extract", summary="Produce the extract of an authorised request")
    def produce(request_id: int = _ID, who: Acting = as_reviewer) -> Response:
        """The file is written inside the transaction; if the commit fails, it is removed again."""
        with requests.extract_file_removed_on_failure() as written:

            def work(conn: Any) -> dict[str, Any]:
                project = requests.get_request(conn, request_id=request_id).project
                path = requests.produce_extract(
                    conn,
                    request_id=request_id,
                    snapshot_dir=snapshot_dir,
                    extracts_dir=extracts_dir,
                    recode=recoder(project) if recoder else None,
                    today=today(),
                    operator=who.name,
                    k=k,
                )
                written.append(path)
                return {
                    "request": request_id,
                    "state": "extracted",
                    "file": requests.extract_name(request_id),
                }

            return step(work)

    @router.get(
        "/requests/{request_id}/extract",
        summary="Download the extract (once)",
        response_class=Response,
        responses={200: {"content": {"application/vnd.apache.parquet": {}}}},
    )
    def download(request_id: int = _ID, who: Acting = as_researcher) -> Response:
        """The Parquet file, to the researcher who filed the request; a second download is refused. The file
        is read inside the delivery's transaction: a failed read delivers nothing."""

        def work(conn: Any) -> Response:
            path = requests.deliver(conn, request_id=request_id, researcher=who.name, today=today())
            return Response(
                path.read_bytes(),
                media_type="application/vnd.apache.parquet",
                headers={
                    "Content-Disposition": f'attachment; filename="{requests.extract_name(request_id)}"'
                },
            )

        return step(work)

    @router.post("/expire", summary="Destroy the extracts past their expiry")
    def expire(_: Acting = as_reviewer) -> Response:
        return step(lambda conn: {"destroyed": requests.expire(conn, today=today())})

    return router
