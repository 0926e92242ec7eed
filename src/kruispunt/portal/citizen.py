"""The citizen area's pages that show a person's own data, always for the INSZ of the session.

A citizen never names an INSZ: the page asks the network for the session's subject only, so there is no
parameter through which another person's data could be asked. ``who consulted my data`` needs level 450.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from kruispunt.ids import InvalidIdentifier, validate_insz
from kruispunt.portal.areas import AreaContext
from kruispunt.portal.backend import BackendUnavailable, call_backend, unavailable_page
from kruispunt.portal.web import error_page, render, require_level

WHO_CONSULTED_LEVEL = 450


def create_router(ctx: AreaContext) -> APIRouter:
    router = APIRouter()

    @router.get("/citizen/who-consulted", include_in_schema=False)
    async def who_consulted(request: Request) -> Response:
        found = require_level(request, WHO_CONSULTED_LEVEL)
        if isinstance(found, Response):
            return found
        try:
            insz = validate_insz(found.subject).number
        except InvalidIdentifier:
            return error_page(request, 403, "error_title", "this account is not a citizen's (no INSZ)")
        try:
            answer = await call_backend(
                request, "hub", "GET", f"/audit/persons/{insz}/consultations", params={"months": 12}
            )
        except BackendUnavailable as exc:
            return unavailable_page(request, exc)
        if answer.status_code != 200:
            return error_page(request, 502, "error_title", "the log did not answer as expected")
        consultations: list[dict[str, Any]] = answer.json().get("consultations", [])
        return render(
            request,
            "who_consulted.html",
            title="Who consulted my data",
            active="citizen",
            consultations=consultations,
            session=found,
        )

    return router
