"""``GET /audit/stats?minutes=60``: the log's operating figures (:mod:`kruispunt.audit.stats`), read-only.

Why a route of its own: the operators' live view needs figures of the whole network (every hub process
writes its own chain), which no single process's ``/health`` counters give. The answer holds counts per
minute, outcome, refusal code, message type and requesting institution — no person, no ticket. Who may call
it (the network's operators, through the portal) is decided by the app that mounts it, like the other
audit routes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine
from starlette.responses import Response

from kruispunt.audit import stats
from kruispunt.core.web import JSONResponse


def make_stats_router(engine_provider: Callable[[], Engine]) -> APIRouter:
    """The route over the audit database ``engine_provider()`` (called per request: opened at start-up)."""
    router = APIRouter(tags=["audit"])

    @router.get(
        "/audit/stats",
        summary="Operating figures of the last minutes: messages per minute, refusals, traffic",
        responses={422: {"description": "minutes outside 1 to 1440"}},
    )
    async def audit_stats(
        minutes: int = Query(
            60, ge=1, le=stats.MAX_MINUTES, description="The window, counted back from now."
        ),
    ) -> Response:
        """Counts of the exchanges logged in the window: per minute (UTC), per outcome, per refusal and error
        code, per message type, and per requesting institution (the busiest 50). ``latency`` is null: the
        log records when a message arrived, not how long it took."""

        def read() -> dict[str, Any]:
            with engine_provider().connect() as conn:
                return stats.window_stats(conn, minutes=minutes).as_json()

        return JSONResponse(await run_in_threadpool(read))

    return router
