"""The operators' area: the live view of the network (``/operator/network``), for the KSZ's operators only.

Why these sources: the log (``GET /audit/stats`` on the hub) holds every exchange of every hub process, so
messages per second, refusals by code and traffic per institution are the whole network's; the hub's
``/health`` counters are one process's since it started, shown as such; the change delivery's lag and dead
letters come from the mutations service; the deliberations from the hub. Each source is asked in parallel
and one that does not answer blanks only its own section. The page does not refresh itself (no script
under the CSP, and a ``meta refresh`` takes control away from screen-reader users): it says when its
figures were read and offers a refresh link.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from kruispunt.portal.areas import AreaContext
from kruispunt.portal.backend import BackendUnavailable, call_backend, unavailable_page
from kruispunt.portal.roles import require_role
from kruispunt.portal.web import current_session, error_page, render, translate_of

LEVEL = 450
WINDOWS: tuple[int, ...] = (5, 15, 60, 240, 1440)
"""The windows offered, in minutes; anything else is refused with a 400 page."""
DEFAULT_WINDOW = 60
MINUTE_ROWS = 60
"""Rows of the per-minute table (the most recent minutes with traffic)."""
DEAD_LETTERS_READ = 1000
"""Dead letters read (the service's maximum; it lists them oldest first)."""
DEAD_LETTERS_SHOWN = 20


@dataclass
class Section:
    """What one source answered: its JSON, or None and why not."""

    data: Any = None
    failed: bool = False


async def _read(request: Request, service: str, path: str, **params: Any) -> Section:
    """A read for the logged-in operator: signed by the KSZ, naming them (the log's figures require it)."""
    session = current_session(request)
    try:
        answer = await call_backend(
            request,
            service,
            "GET",
            path,
            params=params or None,
            timeout=5.0,
            signed=True,
            subject=session.subject if session is not None else None,
        )
        if answer.status_code != 200:
            return Section(failed=True)
        return Section(data=answer.json())
    except (BackendUnavailable, ValueError):
        return Section(failed=True)


async def _timed(request: Request) -> tuple[Section, float | None]:
    """The hub's ``/health`` and how long it took to answer the portal, in milliseconds."""
    started = time.perf_counter()
    found = await _read(request, "hub", "/health")
    return found, None if found.failed else round((time.perf_counter() - started) * 1000, 1)


def _in_force(deliberations: Any, today: dt.date) -> list[dict[str, Any]]:
    if not isinstance(deliberations, list):
        return []
    found = []
    for d in deliberations:
        if not isinstance(d, dict):
            continue
        try:
            start = dt.date.fromisoformat(str(d.get("valid_from")))
            end = dt.date.fromisoformat(str(d["valid_to"])) if d.get("valid_to") else None
        except ValueError:
            continue
        if start <= today and (end is None or today <= end):
            found.append(d)
    return sorted(found, key=lambda d: str(d.get("id")))


def _names(institutions: Any) -> dict[str, str]:
    if not isinstance(institutions, list):
        return {}
    return {
        str(i["kbo"]): str(i.get("name") or "") for i in institutions if isinstance(i, dict) and "kbo" in i
    }


def _list_of(section: Section, key: str) -> list[dict[str, Any]]:
    value = section.data.get(key) if isinstance(section.data, dict) else None
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def create_router(ctx: AreaContext) -> APIRouter:
    router = APIRouter()

    @router.get("/operator/network", include_in_schema=False)
    async def network(request: Request, minutes: str = str(DEFAULT_WINDOW)) -> Response:
        found = require_role(request, LEVEL, ctx.roles.operators, "role_operator")
        if isinstance(found, Response):
            return found
        t = translate_of(request)
        if not minutes.isdigit() or int(minutes) not in WINDOWS:
            allowed = ", ".join(str(w) for w in WINDOWS)
            return error_page(request, 400, "error_title", t("operator_bad_window", allowed=allowed))
        window = int(minutes)
        reads: list[Awaitable[Any]] = [
            _read(request, "hub", "/audit/stats", minutes=window),
            _timed(request),
            _read(request, "mutations", "/mutations/recipients"),
            _read(request, "mutations", "/mutations/dead-letters", limit=DEAD_LETTERS_READ),
            _read(request, "hub", "/network/deliberations"),
            _read(request, "hub", "/network/institutions"),
        ]
        stats, (health, health_ms), recipients, dead, deliberations, institutions = await asyncio.gather(
            *reads
        )
        if all(s.failed for s in (stats, health, recipients, dead, deliberations)):
            return unavailable_page(request, BackendUnavailable("hub", "no source answered"))
        now = dt.datetime.now(dt.UTC)
        figures = stats.data if isinstance(stats.data, dict) else {}
        per_minute = [m for m in figures.get("perMinute", []) if isinstance(m, dict)][-MINUTE_ROWS:]
        waiting = [d for d in _list_of(dead, "deadLetters") if not d.get("resent_at")]
        counters = health.data.get("counters", {}) if isinstance(health.data, dict) else {}
        latency = health.data.get("latency") if isinstance(health.data, dict) else None
        recent = latency.get("last_minute") if isinstance(latency, dict) else None
        return render(
            request,
            "operator_network.html",
            "operator_network_title",
            active="operator",
            session=found,
            read_at=now.strftime("%Y-%m-%d %H:%M:%S UTC"),
            window=window,
            windows=WINDOWS,
            stats=stats,
            figures=figures,
            per_minute=list(reversed(per_minute)),
            names=_names(institutions.data),
            health=health,
            health_ms=health_ms,
            latency=recent if isinstance(recent, dict) and recent.get("count") else None,
            counters=dict(sorted(counters.items())) if isinstance(counters, dict) else {},
            recipients=recipients,
            recipient_rows=sorted(
                _list_of(recipients, "recipients"), key=lambda r: -float(r.get("lagSeconds") or 0)
            ),
            dead=dead,
            dead_waiting=waiting,
            dead_rows=list(reversed(waiting[-DEAD_LETTERS_SHOWN:])),
            dead_read=DEAD_LETTERS_READ,
            deliberations=deliberations,
            in_force=_in_force(deliberations.data, now.date()),
        )

    return router
