"""``GET /audit/stats?minutes=60``: the log's operating figures (:mod:`kruispunt.audit.stats`), read-only.

Why a route of its own: the operators' live view needs figures of the whole network (every hub process
writes its own chain), which no single process's ``/health`` counters give. The answer holds counts per
minute, outcome, refusal code, message type and requesting institution — no person, no ticket. Who may call
it: the KSZ's operator portal, signed, naming the operator (``readers``, :mod:`kruispunt.trust.receiver`);
the traffic per institution is not for anyone who reaches the hub.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine
from starlette.responses import Response

from kruispunt.audit import stats
from kruispunt.core.web import JSONResponse
from kruispunt.trust.envelopes import VerifiedEnvelope
from kruispunt.trust.receiver import CallerCheck, checked_callers, signed_route_errors


def make_stats_router(engine_provider: Callable[[], Engine], *, readers: CallerCheck) -> APIRouter:
    """The route over the audit database ``engine_provider()`` (called per request: opened at start-up);
    ``readers``: who may read it (the KSZ, signed, naming the operator)."""
    router = APIRouter(tags=["audit"])
    signed_by_an_operator = Depends(checked_callers(readers))

    @router.get(
        "/audit/stats",
        summary="Operating figures of the last minutes: messages per minute, refusals, traffic",
        responses={
            422: {"description": "minutes outside 1 to 1440"},
            **signed_route_errors(acting_for="operator"),
        },
    )
    async def audit_stats(
        minutes: int = Query(
            60, ge=1, le=stats.MAX_MINUTES, description="The window, counted back from now."
        ),
        _: VerifiedEnvelope = signed_by_an_operator,
    ) -> Response:
        """Counts of the exchanges logged in the window: per minute (UTC), per outcome, per refusal and error
        code, per message type, and per requesting institution (the busiest 50). ``latency`` is null: the
        log records when a message arrived, not how long it took."""

        def read() -> dict[str, Any]:
            with engine_provider().connect() as conn:
                return stats.window_stats(conn, minutes=minutes).as_json()

        return JSONResponse(await run_in_threadpool(read))

    return router
