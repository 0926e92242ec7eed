"""HTTP routes of the log: the citizen's "who consulted my data" and one entry by its ticket.

Why thin: the routes only validate input and call :mod:`kruispunt.audit.service`; errors are answered
with :func:`kruispunt.core.web.error_body` directly (not via exceptions), so the answer is the same JSON
whichever app the router is mounted in. Who may call these routes (the citizen themself, an operator) is
decided by the app that mounts the router, not here.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Query
from sqlalchemy import Engine
from starlette.responses import Response

from kruispunt.audit import service
from kruispunt.audit.schemas import AuditEntryView, ConsultationList
from kruispunt.core.web import JSONResponse, error_body
from kruispunt.ids import InvalidIdentifier, validate_insz

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Invalid INSZ or ticket (JSON error body with the reason)."},
    422: {"description": "Invalid query parameter."},
}


def months_before(moment: datetime, months: int) -> datetime:
    """The same time ``months`` calendar months earlier (the day clamped to the month's length)."""
    index = moment.year * 12 + (moment.month - 1) - months
    year, month = divmod(index, 12)
    month += 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def make_router(
    engine_provider_or_engine: Engine | Callable[[], Engine],
    *,
    institution_name: Callable[[str], str | None] | None = None,
) -> APIRouter:
    """Routes ``GET /audit/persons/{insz}/consultations`` and ``GET /audit/entries/{ticket}``.

    ``engine_provider_or_engine``: the audit database engine, or a function returning it (so the router can
    be built before the database is opened). ``institution_name`` maps a KBO number to a display name.
    """
    if isinstance(engine_provider_or_engine, Engine):
        engine = engine_provider_or_engine

        def get_engine() -> Engine:
            return engine

    else:
        get_engine = engine_provider_or_engine

    router = APIRouter(tags=["audit"])

    @router.get(
        "/audit/persons/{insz}/consultations",
        response_model=ConsultationList,
        responses=_ERRORS,
        summary="Who consulted this person's data",
    )
    def person_consultations(
        insz: str,
        months: int = Query(12, ge=1, le=120, description="How many months back, counted from now."),
    ) -> Response:
        """Every exchange in which this person's data was asked of a source over the last ``months`` months,
        newest first: when, who (institution and user), which message, to whom, under which deliberation
        and legal context. Refused requests are not listed: no data left the hub."""
        try:
            number = validate_insz(insz).number
        except InvalidIdentifier as exc:
            return JSONResponse(
                error_body("INVALID_INSZ", f"{insz!r} is not a valid INSZ: {exc.reason}", insz=insz),
                status_code=400,
            )
        now = datetime.now(UTC)
        since = months_before(now, months)
        with get_engine().connect() as conn:
            found = service.consultations(conn, insz=number, since=since, institution_name=institution_name)
        body = ConsultationList(insz=number, since=since, until=None, consultations=found)
        return JSONResponse(body.model_dump(mode="json"))

    @router.get(
        "/audit/entries/{ticket}",
        response_model=AuditEntryView,
        responses={**_ERRORS, 404: {"description": "No entry with this ticket."}},
        summary="One log entry by its hub ticket",
    )
    def entry(ticket: str) -> Response:
        """The stored entry, field for field: its ``chain`` and ``seq``, ``prev_hash`` and ``entry_hash``."""
        normalised = ticket.strip().lower()
        if not service.is_ticket(normalised):
            return JSONResponse(
                error_body("INVALID_TICKET", f"{ticket!r} is not a hub ticket (a UUID)", ticket=ticket),
                status_code=400,
            )
        with get_engine().connect() as conn:
            found = service.entry_by_ticket(conn, normalised)
        if found is None:
            return JSONResponse(
                error_body("NOT_FOUND", f"no audit entry with ticket {normalised}", ticket=normalised),
                status_code=404,
            )
        return JSONResponse(found.model_dump(mode="json"))

    return router
