"""HTTP routes of the log: the citizen's "who consulted my data" and one entry by its ticket.

Why thin: the routes only validate input and call :mod:`kruispunt.audit.service`; errors are answered
with :func:`kruispunt.core.web.error_body` directly (not via exceptions), so the answer is the same JSON
whichever app the router is mounted in. Who may call these routes (the citizen themself, an operator) is
decided by the app that mounts the router, not here — except for "who consulted my data", which names the
institutions that read a person's data: it is answered only to a request the KSZ signed naming that person
(``readers``, :mod:`kruispunt.trust.receiver`), the KSZ's portal acting for its logged-in citizen.
"""

from __future__ import annotations

import calendar
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine
from starlette.responses import Response

from kruispunt.attest.keys import KeySet
from kruispunt.audit import checkpoints, service
from kruispunt.audit.schemas import AuditEntryView, ConsultationList
from kruispunt.core.web import JSONResponse, error_body, error_responses
from kruispunt.ids import InvalidIdentifier, validate_insz
from kruispunt.network import KSZ
from kruispunt.trust.receiver import (
    CallerCheck,
    CallerRefused,
    only_the_person,
    signed_route_errors,
    verify_caller,
)

log = logging.getLogger("kruispunt.audit")

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Invalid INSZ or ticket (JSON error body with the reason)."},
    422: {"description": "Invalid query parameter."},
}
EntryCaller = Callable[[Request], Awaitable[tuple[str | None, Response | None]]]
"""request → (the calling institution, None when unsigned and allowed; the refusal of its signature)."""

_PERSON_ERRORS: dict[int | str, dict[str, Any]] = {
    **_ERRORS,
    **signed_route_errors(
        acting_for="person", e403="Not signed by the KSZ, or for another person than the one asked about."
    ),
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
    readers: CallerCheck,
    institution_name: Callable[[str], str | None] | None = None,
    checkpoint_keys: Callable[[], KeySet] | None = None,
    entry_caller: EntryCaller | None = None,
) -> APIRouter:
    """Routes ``GET /audit/persons/{insz}/consultations``, ``GET /audit/entries/{ticket}`` and, with
    ``checkpoint_keys`` (the keys that sign checkpoints), the checkpoints and their proofs. ``readers``:
    who may read a person's consultations (the KSZ, signed, naming that person). ``entry_caller``: who asks
    for an entry (the hub's signature check): a caller that is known must be the entry's requester or the
    KSZ (another institution's entry answers 404, as an unknown ticket); an unknown one (unsigned, where
    signatures are not required) holds the ticket, which only the requester was given.

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
        responses=_PERSON_ERRORS,
        summary="Who consulted this person's data (to that person, through the KSZ's portal)",
    )
    async def person_consultations(
        request: Request,
        insz: str,
        months: int = Query(12, ge=1, le=120, description="How many months back, counted from now."),
    ) -> Response:
        """Every exchange in which this person's data was asked of a source over the last ``months`` months,
        newest first: when, who (institution and user), which message, to whom, under which deliberation
        and legal context. Refused requests are not listed: no data left the hub."""
        try:
            caller = await verify_caller(readers, request)
        except CallerRefused as refused:
            return refused.response()
        try:
            number = validate_insz(insz).number
        except InvalidIdentifier as exc:
            return JSONResponse(
                error_body("INVALID_INSZ", f"{insz!r} is not a valid INSZ: {exc.reason}", insz=insz),
                status_code=400,
            )
        try:
            only_the_person(caller, number, "who consulted a person's data")
        except CallerRefused as refused:
            return refused.response()
        return await run_in_threadpool(consultations_of, number, months)

    def consultations_of(number: str, months: int) -> Response:
        now = datetime.now(UTC)
        since = months_before(now, months)
        token = None
        with get_engine().connect() as conn:
            found = service.consultations(conn, insz=number, since=since, institution_name=institution_name)
            latest = checkpoints.latest_checkpoint(conn, checkpoint_keys()) if checkpoint_keys else None
            if latest is not None:
                token = latest.token
                positions = [(c.chain or 0, c.seq or 0) for c in found]
                try:
                    proofs = checkpoints.proofs_for(conn, latest, positions)
                except checkpoints.CheckpointError as exc:  # the log no longer matches what was signed
                    log.error("audit: no proofs for a consultation list: %s", exc)
                    proofs = [None] * len(found)
                found = [c.model_copy(update={"proof": p}) for c, p in zip(found, proofs, strict=True)]
        body = ConsultationList(insz=number, since=since, until=None, consultations=found, checkpoint=token)
        return JSONResponse(body.model_dump(mode="json"))

    @router.get(
        "/audit/entries/{ticket}",
        response_model=AuditEntryView,
        responses={
            **_ERRORS,
            **error_responses(
                401,
                403,
                409,
                e401="A signature that does not verify, or none where signatures are required.",
                e403="The signing certificate is not valid on the network.",
                e409="A replayed signed request.",
            ),
            404: {"description": "No entry with this ticket."},
        },
        summary="One log entry by its hub ticket (to its requester, or the KSZ)",
    )
    async def entry(request: Request, ticket: str) -> Response:
        """The stored entry, field for field: its ``chain`` and ``seq``, ``prev_hash`` and ``entry_hash``."""
        caller = None
        if entry_caller is not None:
            caller, refused = await entry_caller(request)
            if refused is not None:
                return refused
        normalised = ticket.strip().lower()
        if not service.is_ticket(normalised):
            return JSONResponse(
                error_body("INVALID_TICKET", f"{ticket!r} is not a hub ticket (a UUID)", ticket=ticket),
                status_code=400,
            )

        def read() -> AuditEntryView | None:
            with get_engine().connect() as conn:
                return service.entry_by_ticket(conn, normalised)

        found = await run_in_threadpool(read)
        if found is None or (caller is not None and caller not in (found.requester, KSZ)):
            # another institution's entry reads as unknown: a ticket tells nothing about who holds it
            return JSONResponse(
                error_body("NOT_FOUND", f"no audit entry with ticket {normalised}", ticket=normalised),
                status_code=404,
            )
        return JSONResponse(found.model_dump(mode="json"))

    if checkpoint_keys is not None:
        _checkpoint_routes(router, get_engine, checkpoint_keys)
    return router


def _not_found(code: str, message: str) -> JSONResponse:
    return JSONResponse(error_body(code, message), status_code=404)


def _checkpoint_routes(
    router: APIRouter, get_engine: Callable[[], Engine], keys: Callable[[], KeySet]
) -> None:
    """The signed checkpoints and the proofs that tie entries and later checkpoints to them."""

    def find(conn: Any, checkpoint_id: int | None) -> checkpoints.Checkpoint | None:
        if checkpoint_id is None:
            return checkpoints.latest_checkpoint(conn, keys())
        return checkpoints.checkpoint_by_id(conn, checkpoint_id, keys())

    @router.get(
        "/audit/checkpoints/latest",
        summary="The latest signed checkpoint of the log",
        responses=error_responses(404, e404="no checkpoint has been signed yet"),
    )
    def latest() -> Response:
        """Per chain its size and Merkle root, signed (``token``, a compact JWS by the KSZ's key)."""
        with get_engine().connect() as conn:
            found = find(conn, None)
        if found is None:
            return _not_found("NO_CHECKPOINT", "no checkpoint has been signed yet")
        return JSONResponse(checkpoints.checkpoint_view(found))

    @router.get("/audit/checkpoints/{checkpoint_id}", summary="One signed checkpoint")
    def one(checkpoint_id: int = Path(ge=1, le=2**62)) -> Response:
        with get_engine().connect() as conn:
            found = find(conn, checkpoint_id)
        if found is None:
            return _not_found("NO_CHECKPOINT", f"no checkpoint {checkpoint_id}")
        return JSONResponse(checkpoints.checkpoint_view(found))

    @router.get(
        "/audit/checkpoints/{first}/consistency/{second}",
        summary="Proof that a later checkpoint only appended to an earlier one",
    )
    def consistency(first: int = Path(ge=1, le=2**62), second: int = Path(ge=1, le=2**62)) -> Response:
        if first > second:
            return JSONResponse(
                error_body("BAD_ORDER", "the first checkpoint must not be later than the second"),
                status_code=400,
            )
        with get_engine().connect() as conn:
            a, b = find(conn, first), find(conn, second)
            if a is None or b is None:
                return _not_found("NO_CHECKPOINT", f"no checkpoint {first if a is None else second}")
            proof = checkpoints.consistency_proof(conn, a, b)
        return JSONResponse({**proof, "first_token": a.token, "second_token": b.token})

    @router.get("/audit/entries/{ticket}/proof", summary="Proof that an entry is in a signed checkpoint")
    def entry_proof(ticket: str, checkpoint: int | None = Query(None, ge=1, le=2**62)) -> Response:
        """The entry's inclusion proof against ``checkpoint`` (default: the latest) and that checkpoint."""
        normalised = ticket.strip().lower()
        if not service.is_ticket(normalised):
            return JSONResponse(
                error_body("INVALID_TICKET", f"{ticket!r} is not a hub ticket (a UUID)", ticket=ticket),
                status_code=400,
            )
        with get_engine().connect() as conn:
            position = checkpoints.entry_position(conn, normalised)
            if position is None:
                return _not_found("NOT_FOUND", f"no audit entry with ticket {normalised}")
            found = find(conn, checkpoint)
            if found is None:
                return _not_found("NO_CHECKPOINT", "no such checkpoint (none signed yet?)")
            chain, seq, entry_hash = position
            try:
                proof = checkpoints.proofs_for(conn, found, [(chain, seq)])[0]
            except checkpoints.CheckpointError as exc:
                log.error("audit: no proof for %s: %s", normalised, exc)
                return JSONResponse(
                    error_body("LOG_INCONSISTENT", "the log no longer matches its signed checkpoint"),
                    status_code=409,
                )
        if proof is None:
            return _not_found(
                "NOT_YET_CHECKPOINTED",
                f"entry {normalised} is newer than checkpoint {found.id}; ask again after the next one",
            )
        return JSONResponse(
            {"ticket": normalised, "entry_hash": entry_hash, "proof": proof, "checkpoint": found.token}
        )
