"""The researchers' area: research requests to the data warehouse, their review, and the statistics.

Who is who: the portal signs every call to the warehouse with the KSZ's key and names, under that
signature, the session's subject and role (``sub`` = ``researcher:<subject>`` or ``reviewer:<subject>``,
see :mod:`kruispunt.warehouse.requests_api`), so a researcher can neither type nor change it and sees only
the requests filed under their own login (the warehouse answers 404 for anybody else's). Reviewers are the
KSZ's (:class:`~kruispunt.portal.roles.PortalRoles`); they move requests through review, committee, decision
and extraction as ``reviewer:<subject>`` (the warehouse refuses a review of one's own request).

The download of an extract is a POST with the CSRF token: the warehouse delivers an extract once, so it is
an act, not a link a prefetching browser could follow.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from starlette.responses import RedirectResponse, Response

from kruispunt.portal.areas import AreaContext
from kruispunt.portal.backend import BackendUnavailable, call_backend, unavailable_page
from kruispunt.portal.forms import parse_form
from kruispunt.portal.roles import require_role
from kruispunt.portal.sessions import Session
from kruispunt.portal.web import error_page, language_of, portal_of, render, require_level, translate_of
from kruispunt.warehouse.schemas import PERSON_QUARTER

log = logging.getLogger("kruispunt.portal.researcher")

LEVEL = 450
IDENTIFIERS = ("person_id", "household_id")
VARIABLES: tuple[str, ...] = tuple(f.name for f in PERSON_QUARTER if f.name not in IDENTIFIERS)
"""What a request may ask (the warehouse checks it again): the snapshot's columns but its identifiers."""
REGIONS: tuple[str, ...] = ("VLG", "WAL", "BRU", "ABROAD")
TIERS: tuple[str, ...] = ("anonymous", "coded")
STATES: tuple[str, ...] = (
    "submitted",
    "reviewed",
    "rejected",
    "at_committee",
    "authorised",
    "refused",
    "extracted",
    "delivered",
    "destroyed",
)
REVIEW_ACTIONS: dict[str, str] = {
    "review": "submitted",
    "committee": "reviewed",
    "decision": "at_committee",
    "extract": "authorised",
}
"""Reviewer's action → the state a request must be in (the warehouse checks the transition itself)."""
MAX_ID = 2**62

_ID = PathParam(ge=1, le=MAX_ID)


def _message(answer: Any) -> str:
    """The warehouse's reason (its error JSON), or a plain status line."""
    try:
        body = answer.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])
    return f"the warehouse answered {answer.status_code}"


def _refusal(request: Request, answer: Any) -> Response:
    """A 4xx answer of the warehouse as the portal's page of the same kind (a 422 is a 400 here)."""
    status = answer.status_code if answer.status_code in (403, 404, 409, 410) else 400
    t = translate_of(request)
    title = "not_found_title" if status == 404 else "error_title"
    return error_page(request, status, title, t("researcher_refused", reason=_message(answer)))


def _statistics(request: Request, ctx: AreaContext) -> list[tuple[str, str]]:
    """The five statistics applications (catalogue ``statistics-*`` linking to the warehouse's ``/apps``)."""
    base = ctx.service_urls.get("warehouse", "").rstrip("/")
    lang = language_of(request)
    return [
        (s.title.get(lang, s.id), f"{base}{s.link}" if base else s.path)
        for s in portal_of(request).catalogue.services
        if s.id.startswith("statistics-") and s.link and s.link.startswith("/apps/")
    ]


async def _listed(request: Request, acting: Mapping[str, Any]) -> list[dict[str, Any]] | Response:
    """The requests the caller may see (the researcher's own, or all for a reviewer), newest first."""
    answer = await call_backend(request, "warehouse", "GET", "/research/requests", **acting)
    if answer.status_code != 200:
        return _refusal(request, answer)
    body = answer.json()
    found = body.get("requests") if isinstance(body, dict) else None
    return [r for r in found if isinstance(r, dict)] if isinstance(found, list) else []


class Form:
    """A form body's fields, every value of each (the researcher's forms are plain, no files)."""

    def __init__(self, content_type: str, body: bytes) -> None:
        self.fields = parse_form(content_type, body)[0]

    def get(self, name: str, default: str = "") -> str:
        values = self.fields.get(name)
        return values[0] if values else default

    def getlist(self, name: str) -> list[str]:
        return self.fields.get(name, [])


async def _form(request: Request) -> Form:
    return Form(request.headers.get("content-type", ""), await request.body())


def _one_of(form: Form, name: str, allowed: tuple[str, ...]) -> list[str]:
    return [v for v in form.getlist(name) if v in allowed]


def _age(text: str) -> int | str | None:
    """A whole number of years, None when empty, or the text itself when it is not one (refused)."""
    text = text.strip()
    if not text:
        return None
    return int(text) if text.isdigit() and len(text) <= 3 else text


def _request_body(form: Form) -> dict[str, Any] | str:
    """The warehouse's ``RequestIn`` from the form, or the reason it cannot be one."""
    population: dict[str, Any] = {}
    for key in ("age_min", "age_max"):
        age = _age(form.get(key))
        if isinstance(age, str):
            return f"{key}: {age!r} is not a whole number of years"
        if age is not None:
            population[key] = age
    regions = _one_of(form, "region", REGIONS)
    if regions:
        population["region"] = regions
    quarters = [str(q).strip() for q in form.getlist("quarter") if str(q).strip()]
    typed = str(form.get("quarters_typed", "")).replace(",", " ").split()
    return {
        "organisation": str(form.get("organisation", "")).strip(),
        "purpose": str(form.get("purpose", "")).strip(),
        "population": population,
        "variables": _one_of(form, "variable", VARIABLES),
        "quarters": sorted(set(quarters + typed)),
        "tier": str(form.get("tier", "")),
    }


def create_router(ctx: AreaContext) -> APIRouter:
    router = APIRouter()

    def researcher(session: Session) -> dict[str, Any]:
        """How a call is made for this researcher: signed by the KSZ, naming them in that role."""
        return {"signed": True, "subject": f"researcher:{session.subject}"}

    def reviewer(session: Session) -> dict[str, Any]:
        """How a call is made for this reviewer (the session holds the role, :func:`require_role`)."""
        return {"signed": True, "subject": f"reviewer:{session.subject}"}

    def is_reviewer(session: Session) -> bool:
        return session.subject in ctx.roles.reviewers

    async def quarters(request: Request) -> list[str]:
        answer = await call_backend(request, "warehouse", "GET", "/warehouse/loads")
        found = answer.json().get("quarters") if answer.status_code == 200 else None
        return sorted(str(q) for q in found) if isinstance(found, list) else []

    @router.get("/researcher/requests", include_in_schema=False)
    async def list_page(request: Request, open: str | None = None) -> Response:
        found = require_level(request, LEVEL)
        if isinstance(found, Response):
            return found
        if open is not None:
            return _open(request, open, "/researcher/requests")
        try:
            rows = await _listed(request, researcher(found))
            loaded = await quarters(request)
        except (BackendUnavailable, ValueError) as exc:
            return unavailable_page(request, exc if isinstance(exc, BackendUnavailable) else _bad())
        if isinstance(rows, Response):
            return rows
        return render(
            request,
            "researcher_requests.html",
            "researcher_requests_title",
            active="researcher",
            session=found,
            rows=[r for r in rows if r.get("researcher") == found.subject],
            variables=VARIABLES,
            regions=REGIONS,
            tiers=TIERS,
            quarters=loaded,
            statistics=_statistics(request, ctx),
            reviewer=is_reviewer(found),
            states=STATES,
        )

    @router.post("/researcher/requests", include_in_schema=False)
    async def file_request(request: Request) -> Response:
        found = require_level(request, LEVEL)
        if isinstance(found, Response):
            return found
        body = _request_body(await _form(request))
        t = translate_of(request)
        if isinstance(body, str):
            return error_page(request, 400, "error_title", t("researcher_refused", reason=body))
        try:
            answer = await call_backend(
                request, "warehouse", "POST", "/research/requests", json=body, **researcher(found)
            )
        except BackendUnavailable as exc:
            return unavailable_page(request, exc)
        if answer.status_code != 201:
            return _refusal(request, answer)
        request_id = int(answer.json()["id"])
        log.info("portal: research request %d filed", request_id)
        return RedirectResponse(f"/researcher/requests/{request_id}", status_code=303)

    @router.get("/researcher/requests/{request_id}", include_in_schema=False)
    async def one_request(request: Request, request_id: int = _ID) -> Response:
        found = require_level(request, LEVEL)
        if isinstance(found, Response):
            return found
        try:
            answer = await call_backend(
                request, "warehouse", "GET", f"/research/requests/{request_id}", **researcher(found)
            )
            if answer.status_code != 200:
                return _refusal(request, answer)
            steps = await call_backend(
                request,
                "warehouse",
                "GET",
                f"/research/requests/{request_id}/history",
                **researcher(found),
            )
            if steps.status_code != 200:
                return _refusal(request, steps)
        except BackendUnavailable as exc:
            return unavailable_page(request, exc)
        item = answer.json()
        return render(
            request,
            "researcher_request.html",
            title=translate_of(request)("researcher_request_title", id=request_id),
            active="researcher",
            session=found,
            item=item,
            steps=steps.json().get("steps", []),
            can_download=item.get("state") == "extracted",
            states=STATES,
        )

    @router.post("/researcher/requests/{request_id}/download", include_in_schema=False)
    async def download(request: Request, request_id: int = _ID) -> Response:
        found = require_level(request, LEVEL)
        if isinstance(found, Response):
            return found
        try:
            answer = await call_backend(
                request,
                "warehouse",
                "GET",
                f"/research/requests/{request_id}/extract",
                **researcher(found),
                timeout=120.0,
            )
        except BackendUnavailable as exc:
            return unavailable_page(request, exc)
        if answer.status_code != 200:
            return _refusal(request, answer)
        log.info("portal: extract of research request %d delivered", request_id)
        return Response(
            answer.content,
            media_type="application/vnd.apache.parquet",
            headers={"content-disposition": f'attachment; filename="request-{request_id}.parquet"'},
        )

    # ---------------------------------------------------------------------------------------- reviewers

    @router.get("/researcher/review", include_in_schema=False)
    async def review_list(request: Request, state: str = "", open: str | None = None) -> Response:
        found = require_role(request, LEVEL, ctx.roles.reviewers, "role_reviewer")
        if isinstance(found, Response):
            return found
        if open is not None:
            return _open(request, open, "/researcher/review")
        if state and state not in STATES:
            return error_page(request, 400, "error_title", translate_of(request)("bad_request_message"))
        try:
            rows = await _listed(request, reviewer(found))
        except (BackendUnavailable, ValueError) as exc:
            return unavailable_page(request, exc if isinstance(exc, BackendUnavailable) else _bad())
        if isinstance(rows, Response):
            return rows
        return render(
            request,
            "researcher_review.html",
            "researcher_review_title",
            active="researcher",
            session=found,
            rows=[r for r in rows if not state or r.get("state") == state],
            state=state,
            states=STATES,
        )

    @router.get("/researcher/review/{request_id}", include_in_schema=False)
    async def review_one(request: Request, request_id: int = _ID) -> Response:
        found = require_role(request, LEVEL, ctx.roles.reviewers, "role_reviewer")
        if isinstance(found, Response):
            return found
        try:
            answer = await call_backend(
                request,
                "warehouse",
                "GET",
                f"/research/requests/{request_id}",
                **reviewer(found),
            )
        except BackendUnavailable as exc:
            return unavailable_page(request, exc)
        if answer.status_code != 200:
            return _refusal(request, answer)
        item = answer.json()
        return render(
            request,
            "researcher_review_one.html",
            title=translate_of(request)("researcher_request_title", id=request_id),
            active="researcher",
            session=found,
            item=item,
            action=next((a for a, s in REVIEW_ACTIONS.items() if s == item.get("state")), None),
            own=item.get("researcher") == found.subject,
            today=dt.date.today().isoformat(),
            states=STATES,
        )

    @router.post("/researcher/review/{request_id}/{action}", include_in_schema=False)
    async def review_step(request: Request, action: str, request_id: int = _ID) -> Response:
        found = require_role(request, LEVEL, ctx.roles.reviewers, "role_reviewer")
        if isinstance(found, Response):
            return found
        t = translate_of(request)
        if action not in REVIEW_ACTIONS:
            return error_page(request, 404, "not_found_title", t("not_found_message"))
        form = await _form(request)
        notes = str(form.get("notes", "")).strip()
        body: dict[str, Any] | None
        if action == "review":
            verdict = str(form.get("verdict", ""))
            if verdict not in ("accept", "reject"):
                return error_page(
                    request, 400, "error_title", t("researcher_refused", reason="accept or reject?")
                )
            body = {"accepted": verdict == "accept", "notes": notes}
        elif action == "committee":
            body = {"notes": notes}
        elif action == "decision":
            verdict = str(form.get("verdict", ""))
            expires = str(form.get("expires", "")).strip()
            try:
                dt.date.fromisoformat(expires)
            except ValueError:
                reason = f"{expires!r} is not a date (YYYY-MM-DD)"
                return error_page(request, 400, "error_title", t("researcher_refused", reason=reason))
            if verdict not in ("approve", "refuse"):
                return error_page(
                    request, 400, "error_title", t("researcher_refused", reason="approve or refuse?")
                )
            body = {
                "approved": verdict == "approve",
                "deliberation": str(form.get("deliberation", "")).strip(),
                "conditions": str(form.get("conditions", "")).strip(),
                "expires": expires,
            }
        else:
            body = None
        try:
            answer = await call_backend(
                request,
                "warehouse",
                "POST",
                f"/research/requests/{request_id}/{action}",
                json=body,
                **reviewer(found),
                timeout=300.0 if action == "extract" else 10.0,
            )
        except BackendUnavailable as exc:
            return unavailable_page(request, exc)
        if answer.status_code != 200:
            return _refusal(request, answer)
        log.info("portal: research request %d: %s by a reviewer", request_id, action)
        return RedirectResponse(f"/researcher/review/{request_id}", status_code=303)

    return router


def _open(request: Request, number: str, base: str) -> Response:
    """The "open a request by its number" form: to that request's page, or a 400 page."""
    number = number.strip()
    if not number.isdigit() or not 1 <= int(number) <= MAX_ID:
        reason = f"{number[:40]!r} is not a request number"
        return error_page(
            request, 400, "error_title", translate_of(request)("researcher_refused", reason=reason)
        )
    return RedirectResponse(f"{base}/{int(number)}", status_code=303)


def _bad() -> BackendUnavailable:
    return BackendUnavailable("warehouse", "answered something else than JSON")
