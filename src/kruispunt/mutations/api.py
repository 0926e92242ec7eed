"""The change-notification service (``kruispunt serve mutations``): the hub's side of the automatic
communication of changes, in a process of its own.

Why its own process: the consultation hub is stateless and runs as several processes; the fan-out writes an
ordered outbox and keeps each recipient's position, which one process owns (and which survives it: a
restart goes on from the database). It reads the hub's persons directory (the ``hub`` database) to find who
knows a person.

* ``POST /mutations/changes`` — a source publishes a batch of changes (or one); each is checked, fanned out
  and answered on its own (``results``); refused ones are logged with their reason.
* ``GET /mutations/feed/{recipient}?after=&limit=&wait_s=`` and ``POST /mutations/feed/{recipient}/ack``
  — pull: the recipient's deliveries in order from a cursor (default: its acknowledged position), long-poll.
* ``PUT /mutations/recipients/{recipient}`` — pull or push (a signed HTTP callback).
* ``GET /mutations/recipients[/{recipient}]`` — delivery state: position, backlog, lag, retries, dead letters.
* ``POST /mutations/recipients/{recipient}/replay`` — deliver again from a cursor.
* ``GET /mutations/dead-letters``, ``POST /mutations/dead-letters/{id}/resend``.
* ``GET /mutations/persons/{insz}/changes`` — the changes about a person (operators).
* ``GET /mutations/asyncapi.json`` — the AsyncAPI document of the change channels.

Who calls: the institution whose signed envelope (``X-Kruispunt-Signature``,
:mod:`kruispunt.trust.receiver`) verifies, and which the ``X-Kruispunt-Institution`` header (a KBO number)
must name; a source publishes only its own changes, a recipient reads and configures only its own feed.
The header alone is believed only where signatures are not required (``KRUISPUNT_SIGNATURES=verify``);
with ``required`` an unsigned call is refused. The operators' reads — every recipient's state, the dead
letters, the changes about a person — are served only to the KSZ (its portal), signed, naming the operator.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from kruispunt.audit.schemas import AuditRecord
from kruispunt.audit.service import AuditWriter
from kruispunt.core.db import component_url, make_engine
from kruispunt.core.migrate import upgrade
from kruispunt.core.settings import Settings, get_settings
from kruispunt.core.web import (
    BodyTooLarge,
    JSONResponse,
    create_service_app,
    error_body,
    error_responses,
    read_body_limited,
)
from kruispunt.ids import InvalidIdentifier, validate_enterprise_number, validate_insz
from kruispunt.mutations import SERVICE, service
from kruispunt.mutations.asyncapi import asyncapi_document
from kruispunt.mutations.definitions import Subscriptions, default_subscriptions
from kruispunt.mutations.push import PushWorker
from kruispunt.mutations.schemas import Change
from kruispunt.mutations.transport import Transport, make_transport
from kruispunt.network import KSZ
from kruispunt.network.directory import active_lines
from kruispunt.trust.envelopes import VerifiedEnvelope
from kruispunt.trust.receiver import (
    CallerRefused,
    DeclaredCallers,
    SignedCallers,
    checked_callers,
    declared_callers,
    optional_callers,
    signed_route_errors,
)

LOG_COMPONENT = "mutations_log"
"""The database of the change log (the audit schema, its own database)."""
CHANNEL = "mutations"
MAX_FEED = 5_000
TICKETS = uuid.UUID("6b70a1c0-7d3e-5f00-9a11-6d7574617469")
"""Namespace of the log tickets of changes: the ticket of change ``seq`` is uuid5(TICKETS, "change-<seq>")."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AckIn(_Strict):
    cursor: int = Field(ge=0, le=2**62)


class ReplayIn(_Strict):
    cursor: int = Field(ge=0, le=2**62, description="Deliver again everything after this cursor.")


class RecipientIn(_Strict):
    mode: Literal["pull", "push"]
    callback_url: str | None = Field(default=None, max_length=512, pattern=r"^https?://[^\s]+$")
    secret: str | None = Field(default=None, min_length=16, max_length=128)


def _problem(status: int, code: str, message: str, **details: Any) -> JSONResponse:
    return JSONResponse(error_body(code, message, **details), status_code=status)


def _kbo_header(value: str | None, what: str = "X-Kruispunt-Institution") -> str | JSONResponse:
    if not value:
        return _problem(400, "NO_INSTITUTION", f"say who calls: the {what} header (a KBO number)")
    try:
        return validate_enterprise_number(value)
    except InvalidIdentifier as exc:
        return _problem(400, "INVALID_INSTITUTION", f"{what}: {exc}")


def _state_json(state: service.RecipientState, backlog: int, oldest: dt.datetime | None) -> dict[str, Any]:
    now = service.utc_now()
    return {
        "recipient": state.kbo,
        "mode": state.mode,
        "callbackUrl": state.callback_url,
        "acked": state.acked,
        "ackedAt": state.acked_at.isoformat() if state.acked_at else None,
        "backlog": backlog,
        "lagSeconds": round((now - oldest).total_seconds(), 3) if oldest else 0.0,
        "retries": state.retries,
        "attempts": state.attempts,
        "nextTryAt": state.next_try_at.isoformat() if state.next_try_at else None,
        "lastError": state.last_error,
        "deadLetters": state.dead_letters,
    }


class MutationsService:
    """The running service: its database, the persons directory, the log, the transport, the push loops."""

    def __init__(
        self,
        *,
        engine: Engine,
        directory_engine: Engine,
        log: AuditWriter | None,
        transport: Transport,
        subscriptions: Subscriptions,
        push: bool = True,
    ) -> None:
        self.engine = engine
        self.directory_engine = directory_engine
        self.log = log
        self.transport = transport
        self.subscriptions = subscriptions
        self.pusher = PushWorker(engine, transport) if push else None
        self._write_lock = threading.Lock()
        self._known: set[str] = set()
        self._arrived = asyncio.Event()

    def _lookup(self, inszs: Sequence[str], day: dt.date) -> dict[str, list[tuple[str, int, int]]]:
        with self.directory_engine.connect() as conn:
            return active_lines(conn, inszs=inszs, on=day)

    def receive(self, items: Sequence[Change | service.Refused]) -> list[service.Outcome]:
        with self._write_lock, self.engine.begin() as conn:
            return service.receive(
                conn,
                items=items,
                subscriptions=self.subscriptions,
                directory=self._lookup,
                known_recipients=self._known,
            )

    def arrived(self) -> None:
        """New deliveries committed: wake the transport, the push loops and the long-polling readers."""
        self.transport.wake()
        if self.pusher is not None:
            self.pusher.wake()
        self._arrived.set()
        self._arrived = asyncio.Event()

    async def wait_for_arrival(self, seconds: float) -> None:
        event = self._arrived
        try:
            await asyncio.wait_for(event.wait(), timeout=seconds)
        except TimeoutError:
            return

    def log_outcomes(
        self, outcomes: Sequence[service.Outcome], items: Sequence[Change | service.Refused], requester: str
    ) -> None:
        """One log entry per change received (with its recipients) and per change refused (with why)."""
        if self.log is None:
            return
        now = service.utc_now()
        records: list[AuditRecord] = []
        for outcome in outcomes:
            item = items[outcome.index]
            change = item if not isinstance(item, service.Refused) else None
            if isinstance(outcome, service.Accepted):
                if outcome.duplicate:
                    continue
                record = AuditRecord(
                    ticket=str(uuid.uuid5(TICKETS, f"change-{outcome.seq}")),
                    time=now,
                    channel=CHANNEL,
                    outcome="ACCEPTED",
                    message_type=change.type if change else None,
                    version="1",
                    requester=requester,
                    destinations=outcome.to,
                    person=change.insz if change else None,
                    customer_ticket=outcome.change_id,
                )
            else:
                record = AuditRecord(
                    ticket=str(uuid.uuid4()),
                    time=now,
                    channel=CHANNEL,
                    outcome="REFUSED",
                    message_type=change.type if change else None,
                    version="1",
                    requester=requester,
                    person=change.insz if change else None,
                    reason_code=outcome.code,
                    customer_ticket=change.change_id if change else None,
                )
            records.append(record)
        self.log.append_many_nowait(records).result()


def _results(outcomes: Sequence[service.Outcome]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for o in outcomes:
        if isinstance(o, service.Accepted):
            out.append(
                {
                    "index": o.index,
                    "changeId": o.change_id,
                    "seq": o.seq,
                    "recipients": o.recipients,
                    "duplicate": o.duplicate,
                }
            )
        else:
            error: dict[str, Any] = {"code": o.code, "message": o.message}
            if o.errors:
                error["errors"] = o.errors
            out.append({"index": o.index, "error": error})
    return out


_CALLER_ERRORS = error_responses(
    401,
    403,
    409,
    e401="A signature that does not verify, or none where signatures are required.",
    e403="Another institution's feed, or signed by another institution than the header names.",
    e409="A replayed signed request.",
)

_OPERATOR_ERRORS = signed_route_errors(acting_for="operator")


def make_router(
    svc: MutationsService,
    *,
    max_batch_bytes: int,
    callers: DeclaredCallers,
    operators: SignedCallers | None,
) -> APIRouter:
    """The routes; ``callers`` checks who an institution's call comes from, ``operators`` who may read the
    operators' views (the KSZ, signed; None: no CA, those routes answer 503)."""
    r = APIRouter(prefix="/mutations")
    as_operator = Depends(checked_callers(operators))

    async def signed(request: Request, declared: str, body: bytes | None = None) -> JSONResponse | None:
        """The refusal when the call's signature does not prove ``declared`` sent it (see the module)."""
        try:
            await callers.caller(request, declared, body)
        except CallerRefused as refused:
            return refused.response()
        return None

    @r.post(
        "/changes",
        tags=["changes"],
        summary="Publish changes (a batch `{changes: [...]}` or one change); each answered on its own",
        responses=_CALLER_ERRORS,
        openapi_extra={"requestBody": {"required": True, "content": {"application/json": {}}}},
    )
    async def publish(
        request: Request, x_kruispunt_institution: str | None = Header(default=None)
    ) -> Response:
        source = _kbo_header(x_kruispunt_institution)
        if isinstance(source, JSONResponse):
            return source
        try:
            raw = await read_body_limited(request, max_batch_bytes)
        except BodyTooLarge:
            return _problem(413, "BODY_TOO_LARGE", f"a batch of changes is at most {max_batch_bytes} bytes")
        not_the_sender = await signed(request, source, raw)
        if not_the_sender is not None:
            return not_the_sender
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            return _problem(400, "MALFORMED_JSON", f"the body is not JSON: {exc}")
        if isinstance(body, dict) and "changes" in body:
            items_in = body["changes"]
            if set(body) != {"changes"} or not isinstance(items_in, list):
                return _problem(422, "INVALID_BATCH", 'a batch is {"changes": [change, …]} and nothing else')
        else:
            items_in = [body]
        if not 1 <= len(items_in) <= 10_000:
            return _problem(422, "INVALID_BATCH", "a batch holds 1 to 10,000 changes")
        parsed = service.parse_changes(items_in)
        items: list[Change | service.Refused] = [
            service.Refused(i, "SOURCE_MISMATCH", f"the change's source is not the caller ({source})")
            if not isinstance(c, service.Refused) and c.source != source
            else c
            for i, c in enumerate(parsed)
        ]
        outcomes = await run_in_threadpool(svc.receive, items)
        if any(isinstance(o, service.Accepted) and not o.duplicate for o in outcomes):
            svc.arrived()
        await run_in_threadpool(svc.log_outcomes, outcomes, items, source)
        refused = sum(isinstance(o, service.Refused) for o in outcomes)
        answer = {
            "accepted": len(outcomes) - refused,
            "refused": refused,
            "results": _results(outcomes),
        }
        status = 422 if refused == len(outcomes) else 200
        return Response(orjson.dumps(answer), status_code=status, media_type="application/json")

    async def _reader(request: Request, header: str | None, recipient: str) -> str | JSONResponse:
        caller = _kbo_header(header)
        if isinstance(caller, JSONResponse):
            return caller
        refused = await signed(request, caller)
        if refused is not None:
            return refused
        if caller != recipient:
            return _problem(403, "NOT_YOURS", "an institution reads and acknowledges its own feed only")
        return caller

    @r.get(
        "/feed/{recipient}",
        tags=["feed"],
        summary="The recipient's deliveries, in order, after a cursor",
        responses=_CALLER_ERRORS,
    )
    async def read_feed(
        request: Request,
        recipient: Annotated[str, Path(pattern=r"^\d{10}$")],
        after: Annotated[int | None, Query(ge=0, le=2**62)] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_FEED)] = 500,
        wait_s: Annotated[float, Query(ge=0, le=30)] = 0,
        x_kruispunt_institution: str | None = Header(default=None),
    ) -> Response:
        caller = await _reader(request, x_kruispunt_institution, recipient)
        if isinstance(caller, JSONResponse):
            return caller
        if after is None:
            after = await run_in_threadpool(_acked, svc.engine, recipient)
        batch = await svc.transport.fetch(recipient, after=after, limit=limit)
        if not batch and wait_s > 0:
            await svc.wait_for_arrival(wait_s)
            batch = await svc.transport.fetch(recipient, after=after, limit=limit)
        body = {
            "recipient": recipient,
            "after": after,
            "next": int(batch[-1]["cursor"]) if batch else after,
            "deliveries": batch,
        }
        return Response(orjson.dumps(body), media_type="application/json")

    @r.post(
        "/feed/{recipient}/ack",
        tags=["feed"],
        summary="Everything up to the cursor is applied",
        responses=_CALLER_ERRORS,
    )
    async def acknowledge(
        request: Request,
        recipient: Annotated[str, Path(pattern=r"^\d{10}$")],
        body: AckIn,
        x_kruispunt_institution: str | None = Header(default=None),
    ) -> Response:
        caller = await _reader(request, x_kruispunt_institution, recipient)
        if isinstance(caller, JSONResponse):
            return caller

        def write() -> int:
            with svc.engine.begin() as conn:
                if service.get_recipient(conn, recipient) is None:
                    service.subscribe(conn, kbo=recipient, mode="pull", callback_url=None, secret=None)
                return service.ack(conn, recipient=recipient, cursor=body.cursor)

        return JSONResponse({"recipient": recipient, "acked": await run_in_threadpool(write)})

    @r.put(
        "/recipients/{recipient}",
        tags=["recipients"],
        summary="How the recipient takes its changes",
        responses=_CALLER_ERRORS,
    )
    async def set_recipient(
        request: Request,
        recipient: Annotated[str, Path(pattern=r"^\d{10}$")],
        body: RecipientIn,
        x_kruispunt_institution: str | None = Header(default=None),
    ) -> Response:
        caller = await _reader(request, x_kruispunt_institution, recipient)
        if isinstance(caller, JSONResponse):
            return caller
        if body.mode == "push" and not (body.callback_url and body.secret):
            return _problem(422, "PUSH_NEEDS_CALLBACK", "push needs a callback_url and a secret (≥ 16 chars)")

        def write() -> service.RecipientState:
            with svc.engine.begin() as conn:
                return service.subscribe(
                    conn, kbo=recipient, mode=body.mode, callback_url=body.callback_url, secret=body.secret
                )

        state = await run_in_threadpool(write)
        if svc.pusher is not None:
            svc.pusher.wake()
        return JSONResponse(await _described(svc, state))

    @r.get(
        "/recipients",
        tags=["recipients"],
        summary="Delivery state of every recipient (operators)",
        responses=_OPERATOR_ERRORS,
    )
    async def list_recipients(_: VerifiedEnvelope = as_operator) -> Response:
        states = await run_in_threadpool(_states, svc.engine, None)
        return JSONResponse({"recipients": [await _described(svc, s) for s in states]})

    @r.get(
        "/recipients/{recipient}",
        tags=["recipients"],
        summary="One recipient's delivery state (operators)",
        responses=_OPERATOR_ERRORS,
    )
    async def one_recipient(
        recipient: Annotated[str, Path(pattern=r"^\d{10}$")], _: VerifiedEnvelope = as_operator
    ) -> Response:
        states = await run_in_threadpool(_states, svc.engine, recipient)
        if not states:
            return _problem(404, "UNKNOWN_RECIPIENT", f"{recipient} has never been sent a change")
        return JSONResponse(await _described(svc, states[0]))

    @r.post(
        "/recipients/{recipient}/replay",
        tags=["recipients"],
        summary="Deliver again after a cursor",
        responses=_CALLER_ERRORS,
    )
    async def replay(
        request: Request,
        recipient: Annotated[str, Path(pattern=r"^\d{10}$")],
        body: ReplayIn,
        x_kruispunt_institution: str | None = Header(default=None),
    ) -> Response:
        caller = await _reader(request, x_kruispunt_institution, recipient)
        if isinstance(caller, JSONResponse):
            return caller

        def write() -> service.RecipientState | None:
            with svc.engine.begin() as conn:
                if service.get_recipient(conn, recipient) is None:
                    return None
                service.replay(conn, recipient=recipient, cursor=body.cursor)
                return service.get_recipient(conn, recipient)

        state = await run_in_threadpool(write)
        if state is None:
            return _problem(404, "UNKNOWN_RECIPIENT", f"{recipient} has never been sent a change")
        if svc.pusher is not None:
            svc.pusher.wake()
        return JSONResponse(await _described(svc, state))

    @r.get(
        "/dead-letters",
        tags=["recipients"],
        summary="Deliveries given up on, with the reason (operators)",
        responses=_OPERATOR_ERRORS,
    )
    async def read_dead_letters(
        recipient: Annotated[str | None, Query(pattern=r"^\d{10}$")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        _: VerifiedEnvelope = as_operator,
    ) -> Response:
        def read() -> list[dict[str, Any]]:
            with svc.engine.connect() as conn:
                return service.dead_letters(conn, recipient=recipient, limit=limit)

        return JSONResponse({"deadLetters": await run_in_threadpool(read)})

    @r.post(
        "/dead-letters/{letter_id}/resend",
        tags=["recipients"],
        summary="Send a dead letter again (operators)",
        responses=_OPERATOR_ERRORS,
    )
    async def resend(
        letter_id: Annotated[int, Path(ge=1, le=2**62)], _: VerifiedEnvelope = as_operator
    ) -> Response:
        def write() -> dict[str, Any] | None:
            with svc.engine.begin() as conn:
                return service.resend_dead_letter(conn, letter_id=letter_id)

        letter = await run_in_threadpool(write)
        if letter is None:
            return _problem(404, "UNKNOWN_DEAD_LETTER", f"no dead letter {letter_id}")
        if svc.pusher is not None:
            svc.pusher.wake()
        return JSONResponse(letter)

    @r.get(
        "/persons/{insz}/changes",
        tags=["changes"],
        summary="The changes received about a person (operators)",
        responses=_OPERATOR_ERRORS,
    )
    async def person_changes(
        insz: Annotated[str, Path(max_length=20)], _: VerifiedEnvelope = as_operator
    ) -> Response:
        try:
            number = validate_insz(insz).number
        except InvalidIdentifier as exc:
            return _problem(400, "INVALID_INSZ", str(exc))

        def read() -> list[dict[str, Any]]:
            with svc.engine.connect() as conn:
                return service.changes_of(conn, insz=number)

        return JSONResponse({"insz": number, "changes": await run_in_threadpool(read)})

    @r.get("/subscriptions", tags=["changes"], summary="Who is told which change, under which authorisation")
    async def subscriptions() -> Response:
        return JSONResponse({"subscriptions": [s.model_dump(mode="json") for s in svc.subscriptions.specs]})

    @r.get("/asyncapi.json", tags=["changes"], summary="The AsyncAPI 3.0 document of the change channels")
    async def asyncapi(request: Request) -> Response:
        nats_url = getattr(svc.transport, "url", None)
        return JSONResponse(
            asyncapi_document(
                svc.subscriptions, http_url=str(request.base_url).rstrip("/"), nats_url=nats_url
            )
        )

    return r


def _acked(engine: Engine, recipient: str) -> int:
    with engine.connect() as conn:
        state = service.get_recipient(conn, recipient)
    return state.acked if state else 0


def _states(engine: Engine, only: str | None) -> list[service.RecipientState]:
    with engine.connect() as conn:
        return service.list_recipients(conn, only=only)


async def _described(svc: MutationsService, state: service.RecipientState) -> dict[str, Any]:
    backlog = await svc.transport.backlog(state.kbo, after=state.acked)

    def oldest() -> dt.datetime | None:
        with svc.engine.connect() as conn:
            return service.oldest_pending(conn, recipient=state.kbo, after=state.acked)

    # the cursor is the delivery id on every transport: the outbox dates the oldest one not acknowledged
    return _state_json(state, backlog, await run_in_threadpool(oldest))


def create_mutations_app(
    *,
    url: str,
    directory_url: str,
    log_url: str | None,
    transport: str = "database",
    nats_url: str | None = None,
    nats_stream: str | None = None,
    settings: Settings | None = None,
    push: bool = True,
    subscriptions: Subscriptions | None = None,
    callers: DeclaredCallers | None = None,
    operators: SignedCallers | None = None,
) -> FastAPI:
    """The changes service; ``callers`` and ``operators`` default to the checks over the settings' trust
    folder (``<data_dir>/trust``) and signature mode."""
    settings = settings or get_settings()
    trust = settings.data_dir / "trust"
    callers = callers or declared_callers(trust, settings.signatures)
    if operators is None:
        operators = optional_callers(trust, {KSZ}, service="the changes service's operator views")
    upgrade(url, SERVICE)
    engine = make_engine(url)
    directory_engine = make_engine(directory_url)
    log_engine: Engine | None = None
    writer: AuditWriter | None = None
    if log_url is not None:
        upgrade(log_url, "audit")
        log_engine = make_engine(log_url)
        writer = AuditWriter(log_engine, chain=0)
    svc = MutationsService(
        engine=engine,
        directory_engine=directory_engine,
        log=writer,
        transport=make_transport(transport, engine, nats_url=nats_url, stream=nats_stream),
        subscriptions=subscriptions or default_subscriptions(),
        push=push,
    )

    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        if writer is not None:
            writer.start()
        await svc.transport.start()
        if svc.pusher is not None:
            await svc.pusher.start()
        try:
            yield
        finally:
            if svc.pusher is not None:
                await svc.pusher.stop()
            await svc.transport.close()
            if writer is not None:
                writer.close()
            engine.dispose()
            directory_engine.dispose()
            if log_engine is not None:
                log_engine.dispose()

    async def health() -> dict[str, Any]:
        def facts() -> dict[str, Any]:
            with engine.connect() as conn:
                return {"component": SERVICE, "transport": svc.transport.name, **service.counts(conn)}

        return await run_in_threadpool(facts)

    app = create_service_app(
        title=SERVICE,
        description=__doc__ or "",
        max_body_bytes=settings.max_body_bytes,
        health=health,
        lifespan=lifespan,
        body_limit_exempt=("/mutations/changes",),
    )
    app.state.mutations = svc
    app.include_router(
        make_router(
            svc, max_batch_bytes=settings.mutations_max_batch_bytes, callers=callers, operators=operators
        )
    )
    return app


def create_app(settings: Settings | None = None) -> FastAPI:
    """``kruispunt serve mutations``: configured from the settings."""
    settings = settings or get_settings()
    return create_mutations_app(
        url=component_url(settings.db_url, settings.data_dir, SERVICE),
        directory_url=component_url(settings.db_url, settings.data_dir, "hub"),
        log_url=component_url(settings.db_url, settings.data_dir, LOG_COMPONENT),
        transport=settings.mutations_transport,
        nats_url=settings.nats_url,
        nats_stream=settings.nats_stream,
        settings=settings,
    )
