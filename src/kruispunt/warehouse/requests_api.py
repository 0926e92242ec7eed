"""HTTP routes of the research requests (:mod:`kruispunt.warehouse.requests`): filing, review, committee
decision, extraction, the one download, the history.

Who calls: for now the caller says who they are in a header, ``X-Researcher`` (the researcher who files,
downloads and reads the history) or ``X-Reviewer`` (the CBSS reviewer, who also records the committee's
decision and starts the extraction). Issue 8 (portal login) will replace these headers by an authenticated
identity; until then the router must only be mounted behind a gateway that sets them. The router is
mounted by the warehouse's app; errors are answered as :func:`kruispunt.core.web.error_body` JSON.

The coded tier needs the trusted third party: ``recoder(project)`` returns the function that turns the
warehouse's person codes into that project's codes; :func:`http_recoder` builds it over the TTP's HTTP API
(:mod:`kruispunt.coding.api`), creating the project there on first use.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from fastapi import APIRouter, Header, Query
from fastapi import Path as PathParam
from pydantic import BaseModel, Field
from sqlalchemy import Engine
from starlette.responses import Response

from kruispunt.coding.api import codes_of
from kruispunt.core.web import JSONResponse, error_body
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
    "NO_CALLER": 400,
}

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
    recoder: Recoder | None = None,
    k: int = requests.K_ANONYMITY,
    today: Callable[[], dt.date] = dt.date.today,
) -> APIRouter:
    """Routes under ``/research/requests`` on the warehouse database ``engine``."""
    router = APIRouter(prefix="/research", tags=["research requests"])

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
    def file(body: RequestIn, x_researcher: str = Header(min_length=1, max_length=64)) -> Response:
        return step(
            lambda conn: requests.file_request(
                conn,
                researcher=x_researcher,
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
        x_researcher: str | None = Header(default=None, min_length=1, max_length=64),
        x_reviewer: str | None = Header(default=None, min_length=1, max_length=64),
    ) -> Response:
        if x_researcher is None and x_reviewer is None:
            return _refusal(requests.RequestError("NO_CALLER", "say who you are: X-Researcher or X-Reviewer"))
        researcher = None if x_reviewer is not None else x_researcher
        return step(
            lambda conn: {
                "requests": [
                    r.as_json()
                    for r in requests.list_requests(conn, researcher=researcher, state=state, limit=limit)
                ]
            }
        )

    @router.get("/requests/{request_id}", summary="A request (its researcher, or a reviewer)")
    def read(
        request_id: int = _ID,
        x_researcher: str | None = Header(default=None, min_length=1, max_length=64),
        x_reviewer: str | None = Header(default=None, min_length=1, max_length=64),
    ) -> Response:
        def work(conn: Any) -> requests.ResearchRequest:
            found = requests.get_request(conn, request_id=request_id)
            if x_reviewer is None and found.researcher != x_researcher:
                raise requests.RequestError("NOT_FOUND", f"no research request {request_id} filed by you")
            return found

        return step(work)

    @router.get(
        "/requests/{request_id}/history", summary="Every step of a request (its researcher, or a reviewer)"
    )
    def history(
        request_id: int = _ID,
        x_researcher: str | None = Header(default=None, min_length=1, max_length=64),
        x_reviewer: str | None = Header(default=None, min_length=1, max_length=64),
    ) -> Response:
        if x_researcher is None and x_reviewer is None:
            return _refusal(requests.RequestError("NO_CALLER", "say who you are: X-Researcher or X-Reviewer"))
        researcher = None if x_reviewer is not None else x_researcher
        return step(
            lambda conn: {
                "request": request_id,
                "steps": requests.history(conn, request_id=request_id, researcher=researcher),
            }
        )

    @router.post("/requests/{request_id}/review", summary="The CBSS review: accept or reject")
    def review(
        body: ReviewIn, request_id: int = _ID, x_reviewer: str = Header(min_length=1, max_length=64)
    ) -> Response:
        return step(
            lambda conn: requests.review(
                conn, request_id=request_id, reviewer=x_reviewer, accepted=body.accepted, notes=body.notes
            )
        )

    @router.post("/requests/{request_id}/committee", summary="Pass a reviewed request to the committee")
    def committee(
        body: CommitteeIn, request_id: int = _ID, x_reviewer: str = Header(min_length=1, max_length=64)
    ) -> Response:
        return step(
            lambda conn: requests.submit_to_committee(
                conn, request_id=request_id, reviewer=x_reviewer, notes=body.notes
            )
        )

    @router.post("/requests/{request_id}/decision", summary="Record the committee's deliberation")
    def decision(
        body: DecisionIn, request_id: int = _ID, x_reviewer: str = Header(min_length=1, max_length=64)
    ) -> Response:
        return step(
            lambda conn: requests.decide(
                conn,
                request_id=request_id,
                approved=body.approved,
                deliberation=body.deliberation,
                conditions=body.conditions,
                expires=body.expires,
                decided_by=x_reviewer,
                today=today(),
            )
        )

    @router.post("/requests/{request_id}/extract", summary="Produce the extract of an authorised request")
    def produce(request_id: int = _ID, x_reviewer: str = Header(min_length=1, max_length=64)) -> Response:
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
                    operator=x_reviewer,
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
    def download(request_id: int = _ID, x_researcher: str = Header(min_length=1, max_length=64)) -> Response:
        """The Parquet file, to the researcher who filed the request; a second download is refused. The file
        is read inside the delivery's transaction: a failed read delivers nothing."""

        def work(conn: Any) -> Response:
            path = requests.deliver(conn, request_id=request_id, researcher=x_researcher, today=today())
            return Response(
                path.read_bytes(),
                media_type="application/vnd.apache.parquet",
                headers={
                    "Content-Disposition": f'attachment; filename="{requests.extract_name(request_id)}"'
                },
            )

        return step(work)

    @router.post("/expire", summary="Destroy the extracts past their expiry")
    def expire(x_reviewer: str = Header(min_length=1, max_length=64)) -> Response:
        return step(lambda conn: {"destroyed": requests.expire(conn, today=today())})

    return router
