"""The derived-rights service (``kruispunt serve rights``): the KSZ's automatic granting of supplementary
rights (GSS), as a recipient of the network's changes and a server for citizens, granting bodies and
municipalities.

It takes the changes the KSZ is subscribed to (status changes of every person, households, deaths, replaced
numbers — subscriptions 24/102 and 24/103) from its feed at the mutations service, applies each once
(:func:`kruispunt.rights.service.apply_change`: the key is kept with what it changed) and acknowledges.

* ``GET /rights/persons/{insz}`` — a citizen's statuses and rights, each with why (status, source, rule,
  dates, via which household member).
* ``GET /rights/bodies/{kbo}/events?after=&limit=`` — a granting body's feed of granted / changed / ended
  rights, by cursor.
* ``GET /rights/lists/{right}/{quarter}`` — the quarterly list of a right (the social energy tariff split
  per energy supplier).
* ``POST /rights/matching`` — a municipality's file of inhabitants (INSZ, or name and birth date, resolved
  through the hub's ``identify_person`` under deliberation 24/013) with the statuses it asks about.
* ``GET /rights/catalogue`` — the harmonised statuses and the rights, as data.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any

import httpx
from fastapi import FastAPI, Path, Query
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Engine, func, select
from starlette.concurrency import run_in_threadpool

from kruispunt.core.db import component_url, make_engine
from kruispunt.core.migrate import upgrade
from kruispunt.core.settings import Settings, get_settings
from kruispunt.core.web import JSONResponse, create_service_app, error_body
from kruispunt.ids import InvalidIdentifier, validate_enterprise_number, validate_insz
from kruispunt.mutations.schemas import CHANGE_ADAPTER
from kruispunt.network import KSZ
from kruispunt.rights import SERVICE, service
from kruispunt.rights.definitions import Definitions, load_definitions
from kruispunt.rights.errors import RightsError
from kruispunt.rights.models import applied_change_table, entitlement_table

log = logging.getLogger(__name__)

"""The institution the rights engine receives its changes as (the KSZ, under the GSS authorisation)."""
MATCHING_CONTEXT = "KSZ:GSS_MATCHING"


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(_jsonable(v) for v in value)
    return value


def _problem(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(error_body(code, message), status_code=status)


class MatchingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    municipality: str = Field(description="KBO of the municipality (or province) asking.")
    statuses: list[str] = Field(min_length=1, max_length=20)
    period_start: dt.date
    period_end: dt.date
    rows: list[dict[str, Any]] = Field(min_length=1, max_length=100_000)


class ChangeFeed:
    """The rights engine's intake: pull the KSZ's feed, apply each change once, acknowledge."""

    def __init__(self, engine: Engine, url: str, *, recipient: str = KSZ, definitions: Definitions) -> None:
        self.engine = engine
        self.url = url.rstrip("/")
        self.recipient = recipient
        self.definitions = definitions
        self.client = httpx.Client(timeout=40)
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None
        self.applied = 0
        self.last_error: str | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name="kruispunt-rights-feed", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(timeout=45)
        self.client.close()

    def _run(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.poll(wait_s=5.0)
                self.last_error = None
            except (httpx.HTTPError, OSError) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                self.stop_event.wait(1.0)
            except Exception as exc:  # a change the engine cannot apply: logged, retried after a pause
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("the rights engine could not apply a page of changes")
                self.stop_event.wait(5.0)

    def poll(self, *, wait_s: float = 0) -> int:
        headers = {"X-Kruispunt-Institution": self.recipient}
        response = self.client.get(
            f"{self.url}/mutations/feed/{self.recipient}",
            params={"limit": 500, "wait_s": wait_s},
            headers=headers,
        )
        response.raise_for_status()
        deliveries = response.json()["deliveries"]
        if not deliveries:
            return 0
        today = dt.date.today()
        with self.engine.begin() as conn:
            for d in deliveries:
                try:
                    change = CHANGE_ADAPTER.validate_python(d["change"])
                except ValidationError:  # cannot be: the network checked it; never block the feed on it
                    log.error("delivery %s is not a change; passed over", d.get("key"))
                    continue
                service.apply_change(
                    conn,
                    change=change,
                    key=str(d["key"]),
                    seq=int(d["seq"]),
                    today=today,
                    definitions=self.definitions,
                )
        self.client.post(
            f"{self.url}/mutations/feed/{self.recipient}/ack",
            json={"cursor": int(deliveries[-1]["cursor"])},
            headers=headers,
        ).raise_for_status()
        self.applied += len(deliveries)
        return len(deliveries)


class HubResolver:
    """Name + birth date → INSZ through the hub (``identify_person``, deliberation 24/013)."""

    def __init__(self, hub_url: str | None, *, requester: str = KSZ) -> None:
        self.hub_url = hub_url.rstrip("/") if hub_url else None
        self.requester = requester

    def __call__(self, last_name: str, first_name: str | None, birth_date: dt.date) -> str | None:
        if self.hub_url is None:
            raise RightsError("NO_REGISTER", "name matching needs the hub (KRUISPUNT_HUB_URL is not set)")
        request: dict[str, Any] = {"last_name": last_name, "birth_date": birth_date.isoformat()}
        if first_name:
            request["first_name"] = first_name
        body = {
            "informationCustomer": {
                "ticket": f"gss-{uuid.uuid4().hex[:20]}",
                "timestampSent": dt.datetime.now(dt.UTC).isoformat(),
                "customerIdentification": {"cbeNumber": self.requester},
            },
            "legalContext": MATCHING_CONTEXT,
            "messageType": {"name": "identify_person", "version": "1"},
            "request": request,
        }
        answer = httpx.post(f"{self.hub_url}/hub/messages", json=body, timeout=30)
        if answer.status_code >= 500:
            raise RightsError("REGISTER_UNAVAILABLE", f"the hub answered {answer.status_code}")
        persons = (answer.json().get("data") or {}).get("persons") or []
        if not persons:
            return None
        if len(persons) > 1:
            return "ambiguous"
        return str(persons[0]["insz"])


def create_rights_app(
    *,
    url: str,
    mutations_url: str | None,
    hub_url: str | None,
    settings: Settings | None = None,
    consume: bool = True,
) -> FastAPI:
    settings = settings or get_settings()
    upgrade(url, SERVICE)
    engine = make_engine(url)
    definitions = load_definitions()
    feed = ChangeFeed(engine, mutations_url, definitions=definitions) if consume and mutations_url else None
    resolver = HubResolver(hub_url)

    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        if feed is not None:
            feed.start()
        try:
            yield
        finally:
            if feed is not None:
                await run_in_threadpool(feed.stop)
            engine.dispose()

    async def health() -> dict[str, Any]:
        def facts() -> dict[str, Any]:
            with engine.connect() as conn:
                applied = conn.execute(select(func.count()).select_from(applied_change_table)).scalar_one()
                entitled = conn.execute(select(func.count()).select_from(entitlement_table)).scalar_one()
            return {
                "component": SERVICE,
                "changes_applied": int(applied),
                "entitlements": int(entitled),
                "feed": {"url": feed.url, "last_error": feed.last_error} if feed else None,
            }

        return await run_in_threadpool(facts)

    app = create_service_app(
        title=SERVICE,
        description=__doc__ or "",
        max_body_bytes=max(settings.max_body_bytes, 16 << 20),
        health=health,
        lifespan=lifespan,
    )
    app.state.engine = engine
    app.state.feed = feed

    @app.get("/rights/persons/{insz}", tags=["citizens"], summary="A person's statuses and rights, with why")
    async def person(insz: Annotated[str, Path(max_length=20)]) -> JSONResponse:
        try:
            number = validate_insz(insz).number
        except InvalidIdentifier as exc:
            return _problem(400, "INVALID_INSZ", str(exc))

        def read() -> dict[str, Any]:
            with engine.connect() as conn:
                return service.explain(conn, insz=number, definitions=definitions)

        return JSONResponse(_jsonable(await run_in_threadpool(read)))

    @app.get("/rights/bodies/{kbo}/events", tags=["granting bodies"], summary="A granting body's feed")
    async def events(
        kbo: Annotated[str, Path(max_length=16)],
        after: Annotated[int, Query(ge=0, le=2**62)] = 0,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    ) -> JSONResponse:
        try:
            body = validate_enterprise_number(kbo)
        except InvalidIdentifier as exc:
            return _problem(400, "INVALID_KBO", str(exc))

        def read() -> list[service.EventView]:
            with engine.connect() as conn:
                return service.events_for(conn, body_kbo=body, after=after, limit=limit)

        found = await run_in_threadpool(read)
        return JSONResponse(
            {
                "body": body,
                "after": after,
                "next": found[-1].id if found else after,
                "events": _jsonable(found),
            }
        )

    @app.get("/rights/lists/{right}/{quarter}", tags=["granting bodies"], summary="A right's quarterly list")
    async def quarterly(
        right: Annotated[str, Path(max_length=64)], quarter: Annotated[int, Path(ge=19001, le=99994)]
    ) -> JSONResponse:
        def read() -> service.QuarterlyList:
            with engine.connect() as conn:
                return service.quarterly_list(conn, right=right, quarter=quarter, definitions=definitions)

        try:
            found = await run_in_threadpool(read)
        except RightsError as exc:
            return _problem(404 if exc.code == "UNKNOWN_RIGHT" else 422, exc.code, str(exc))
        return JSONResponse(_jsonable(found))

    @app.post(
        "/rights/matching", tags=["municipalities"], summary="Who of these inhabitants has which status"
    )
    async def matching(body: MatchingIn) -> JSONResponse:
        try:
            validate_enterprise_number(body.municipality)
        except InvalidIdentifier as exc:
            return _problem(400, "INVALID_KBO", f"municipality: {exc}")
        if body.period_end < body.period_start:
            return _problem(422, "INVALID_PERIOD", "period_end is before period_start")

        def run() -> list[service.MatchLine]:
            with engine.connect() as conn:
                return service.match_inhabitants(
                    conn,
                    rows=body.rows,
                    statuses=body.statuses,
                    period_start=body.period_start,
                    period_end=body.period_end,
                    resolve=resolver,
                    definitions=definitions,
                )

        try:
            lines: Sequence[service.MatchLine] = await run_in_threadpool(run)
        except RightsError as exc:
            return _problem(
                503 if exc.code in ("NO_REGISTER", "REGISTER_UNAVAILABLE") else 422, exc.code, str(exc)
            )
        except httpx.HTTPError as exc:
            return _problem(503, "REGISTER_UNAVAILABLE", f"the hub could not be reached: {exc}")
        return JSONResponse({"municipality": body.municipality, "lines": _jsonable(list(lines))})

    @app.get("/rights/catalogue", tags=["citizens"], summary="The harmonised statuses and the derived rights")
    async def catalogue() -> JSONResponse:
        return JSONResponse(
            {
                "statuses": {k: _jsonable(v) for k, v in definitions.statuses.items()},
                "rights": {k: _jsonable(v) for k, v in definitions.rights.items()},
            }
        )

    return app


def create_app(settings: Settings | None = None) -> FastAPI:
    """``kruispunt serve rights``: configured from the settings."""
    settings = settings or get_settings()
    return create_rights_app(
        url=component_url(settings.db_url, settings.data_dir, SERVICE),
        mutations_url=settings.mutations_url,
        hub_url=settings.hub_url,
        settings=settings,
    )
