"""The citizen area's pages that show a person's own data, always for the INSZ of the session.

A citizen never names an INSZ: the page asks the hub's log for the session's subject only, so there is no
parameter through which another person's data could be asked. ``who consulted my data`` needs level 450.
"""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import APIRouter, Request
from starlette.responses import Response

from kruispunt.ids import InvalidIdentifier, validate_insz
from kruispunt.portal.web import error_page, portal_of, render, require_level

WHO_CONSULTED_LEVEL = 450


def create_citizen_router(*, hub_url: str, timeout_s: float = 5.0) -> APIRouter:
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
        portal = portal_of(request)
        try:
            answer = await _client(portal).get(
                f"{hub_url.rstrip('/')}/audit/persons/{insz}/consultations",
                params={"months": 12},
                timeout=timeout_s,
            )
        except httpx.HTTPError:
            return error_page(request, 503, "error_title", "the log cannot be read now; try again later")
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


def _client(portal: Any) -> httpx.AsyncClient:
    client = getattr(portal, "backend_client", None)
    if client is None:
        client = httpx.AsyncClient()
        portal.backend_client = client
    return client
