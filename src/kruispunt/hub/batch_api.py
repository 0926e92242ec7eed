"""HTTP routes of batches, asynchronous messages and the mailbox (logic in :mod:`kruispunt.hub.batch`).

**Who is asking.** The institution whose signature (``X-Kruispunt-Signature``, over the body as sent, empty
for a read) verifies: :meth:`kruispunt.hub.signatures.Signatures.caller`. Only the institution that sent a
batch or a message may read it. With ``KRUISPUNT_SIGNATURES=required`` every call must be signed; with
``verify`` an unsigned call may still *declare* its CBE number (the ``X-Kruispunt-Cbe-Number`` header or the
``cbeNumber`` query parameter; for the mailbox: the path), which anyone can claim — a deployment that
leaves ``verify`` on must not expose these routes beyond the network's institutions. A signed call that
declares another institution is refused (403 ``SENDER_MISMATCH``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from fastapi import APIRouter, HTTPException, Request
from pydantic import ValidationError
from starlette.responses import FileResponse, Response, StreamingResponse
from starlette.types import Message

from kruispunt.core.settings import Settings
from kruispunt.core.web import BodyTooLarge, JSONResponse, error_body, error_responses, read_body_limited
from kruispunt.hub import errors, rest
from kruispunt.hub.batch import (
    MAX_HEADER_BYTES,
    BatchHeader,
    BatchInfo,
    HeaderError,
    Mailbox,
    MessageInfo,
    count_request_lines,
    header_consultation,
    new_batch_id,
    parse_header,
)
from kruispunt.hub.errors import Refusal
from kruispunt.hub.models import DONE, FAILED
from kruispunt.hub.schemas import ConsultationReply, ConsultationRequest
from kruispunt.hub.service import Consultation, Hub
from kruispunt.ids import is_valid_enterprise_number
from kruispunt.network.registry import UnknownInstitution
from kruispunt.trust.envelopes import body_digest

log = logging.getLogger("kruispunt.hub.batch")

IDENTITY_HEADER = "X-Kruispunt-Cbe-Number"
NDJSON = "application/x-ndjson"

FILE_FORMAT = """\
**Batch file format** (JSON Lines, UTF-8, `application/x-ndjson`). Line 1 is the header, with the field
names of the REST envelope:

    {"customerIdentification": {"cbeNumber": "0212140186"}, "userId": "batch-app",
     "legalContext": "PCSA:SOCIAL_INQUIRY", "messageType": {"name": "identify_person", "version": "1"}}

(`customerIdentification` may name the institution by `sector` + `institution` instead.) Every further line
is one consultation: a bare 11-digit INSZ (request body `{}`, or `{"insz": …}` when the message type's
request has a top-level `insz`, as `identify_person`), or a JSON object
`{"ssin": "…", "request": {…}, "customerTicket": "…"}`. Empty lines are skipped; lines are numbered as in
the file (the header is line 1).

A bad header (not JSON, wrong shape, unknown message type or caller) refuses the whole batch (400). A bad
line (not JSON, invalid INSZ, schema violation, no deliberation, person not integrated, source down…) is a
line of the error report — `{"line", "customerTicket", "ticket", "ssin", "reasonCode", "reason",
"diagnostic"}`, reason codes as on `POST /hub/messages` — and the other lines go on. Every line is an
exchange in the log, as a synchronous message.

Results (`GET /hub/batches/{id}/results`): one JSON line per request line, in file order:
`{"line", "customerTicket", "ticket", "ssin", "status": "DATA_FOUND" | "NO_DATA_FOUND" | "REFUSED",
"deliberation", "data", "dataFilters"?, "warnings"?, "fault"?}`, `data` filtered to the deliberation's fields
exactly as on `POST /hub/messages`.
"""

OWNER_ERRORS = error_responses(401, 403, 404, 409, 410)
"""Who may read a batch or a mailbox item: 401 without an identity or with a bad signature, 403 when it is
another's (or signed by another); 404 unknown, 409 not finished yet or a replayed signature, 410 acknowledged
(deleted)."""

IDENTITY = (
    "The caller signs the request (`X-Kruispunt-Signature`); where signatures are not required it may "
    "instead declare its CBE number in the `X-Kruispunt-Cbe-Number` header or the `cbeNumber` query "
    "parameter. Only the institution that sent it may read it."
)


def _error(status: int, code: str, message: str, **details: Any) -> HTTPException:
    return HTTPException(status_code=status, detail=error_body(code, message, **details))


def declared_identity(request: Request) -> str | None:
    """The CBE number the caller declares (header first, then query), or None."""
    return request.headers.get(IDENTITY_HEADER) or request.query_params.get("cbeNumber") or None


def _well_formed(cbe_number: str) -> str:
    """A CBE number that cannot name any institution is a 400, not an empty mailbox."""
    if not is_valid_enterprise_number(cbe_number):
        raise _error(400, "INVALID_CBE_NUMBER", f"{cbe_number!r} is not a valid CBE (KBO) number")
    return cbe_number


_EMPTY_DIGEST = body_digest(b"")


def _sender(
    request: Request, h: Hub, digest: bytes, declared: str | None
) -> tuple[str | None, Refusal | None]:
    """The calling institution (signed, or declared when signatures allow it) and the refusal, if any."""
    kbo, reason, diagnostic = h.signatures.caller(
        request.headers, digest, method=request.method, path=request.url.path, declared=declared
    )
    return kbo, Refusal(reason, diagnostic or reason.text) if reason is not None else None


def _refused(refusal: Refusal, **details: Any) -> HTTPException:
    reason = refusal.reason
    return _error(reason.http_status, reason.name, refusal.diagnostic, reasonCode=reason.code, **details)


def _caller(request: Request, h: Hub) -> str:
    kbo, refusal = _sender(request, h, _EMPTY_DIGEST, declared_identity(request))
    if refusal is not None:
        raise _refused(refusal)
    if kbo is None:
        raise _error(
            401,
            "IDENTITY_REQUIRED",
            f"declare the calling institution's CBE number in the {IDENTITY_HEADER} header or the cbeNumber "
            "query parameter",
        )
    return _well_formed(kbo)


def _own(owner: str, caller: str, what: str) -> None:
    if owner != caller:
        raise _error(403, "NOT_YOURS", f"only the institution that sent this {what} may read it")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def batch_links(batch_id: str, owner: str) -> dict[str, str]:
    base = f"/hub/batches/{batch_id}"
    return {
        "self": base,
        "results": f"{base}/results",
        "errors": f"{base}/errors",
        "mailbox": f"/hub/mailbox/{owner}",
    }


def batch_status(batch: BatchInfo) -> dict[str, Any]:
    """The status document of a batch: counts, percent, timestamps, rate and an estimate of what is left."""
    end = batch.finished_at or datetime.now(UTC)
    elapsed = (end - batch.started_at).total_seconds() if batch.started_at else 0.0
    rate = batch.lines_done / elapsed if elapsed > 0 else 0.0
    left = batch.lines_total - batch.lines_done
    percent = (
        100.0 * batch.lines_done / batch.lines_total if batch.lines_total else 100.0 * (batch.status == DONE)
    )
    return {
        "batchId": batch.id,
        "status": batch.status,
        "owner": batch.owner,
        "messageType": {"name": batch.message_type, "version": batch.version},
        "counts": {
            "total": batch.lines_total,
            "done": batch.lines_done,
            "dataFound": batch.data_found,
            "noDataFound": batch.no_data_found,
            "refused": batch.refused,
        },
        "percent": round(percent, 2),
        "createdAt": _iso(batch.created_at),
        "startedAt": _iso(batch.started_at),
        "finishedAt": _iso(batch.finished_at),
        "ratePerSecond": round(rate, 1),
        "etaSeconds": round(left / rate, 1) if rate > 0 and batch.status not in (DONE, FAILED) else None,
        "failure": batch.failure,
        "acknowledged": batch.acknowledged_at is not None,
        "links": batch_links(batch.id, batch.owner),
    }


def _message_item(message: MessageInfo) -> dict[str, Any]:
    return {
        "itemId": message.ticket,
        "kind": "message",
        "status": message.status,
        "receivedAt": _iso(message.received_at),
        "finishedAt": _iso(message.finished_at),
        "httpStatus": message.http_status,
        "links": {"answer": f"/hub/mailbox/{message.owner}/{message.ticket}"},
    }


def _batch_item(batch: BatchInfo) -> dict[str, Any]:
    status = batch_status(batch)
    return {
        "itemId": batch.id,
        "kind": "batch",
        "status": batch.status,
        "createdAt": status["createdAt"],
        "finishedAt": status["finishedAt"],
        "counts": status["counts"],
        "failure": batch.failure,
        "links": status["links"],
    }


class _Upload:
    """A batch body streamed to disk: its header line, the offset after it, its size and request lines."""

    def __init__(self) -> None:
        self.header: bytes | None = None
        self.first_offset = 0
        self.size = 0
        self.lines = 0
        self.header_error: HeaderError | None = None
        self.parsed: BatchHeader | None = None
        self.hash = hashlib.sha256()
        """Of every byte received: what the sender's signature covers."""


async def _receive(
    request: Request, part: Path, max_bytes: int, check_header: Callable[[bytes], BatchHeader]
) -> _Upload:
    """Stream the body to ``part``, counting request lines; the header is checked as soon as it is read.

    A bad header stops the writing but not the reading (the body is drained, so the client reads the 400
    instead of a broken connection). Raises :class:`BodyTooLarge` past ``max_bytes``.
    """
    upload = _Upload()
    carry = b""
    long_line = False  # the line being read is long and not blank (its start was dropped from carry)
    with part.open("wb") as fh:
        async for chunk in request.stream():
            upload.size += len(chunk)
            if upload.size > max_bytes:
                raise BodyTooLarge
            upload.hash.update(chunk)
            if upload.header_error is not None:
                continue
            fh.write(chunk)
            pieces = (carry + chunk).split(b"\n")
            carry = pieces.pop()
            if long_line and pieces:
                pieces[0], long_line = b"-", False
            if upload.header is not None and len(carry) > MAX_HEADER_BYTES:
                long_line, carry = long_line or bool(carry.strip()), b""
            if upload.header is None and pieces:
                upload.header = pieces.pop(0)
                upload.first_offset = len(upload.header) + 1
                try:
                    upload.parsed = check_header(upload.header)
                except HeaderError as exc:
                    upload.header_error = exc
                    continue
            upload.lines += count_request_lines(pieces)
            if upload.header is None and len(carry) > MAX_HEADER_BYTES:
                upload.header_error = HeaderError(
                    errors.SCHEMA_VIOLATION, f"line 1 (the header) is longer than {MAX_HEADER_BYTES} bytes"
                )
    if upload.header_error is None:
        if upload.header is None:
            upload.header = carry
            upload.first_offset = len(carry)
            carry = b""
            try:
                upload.parsed = check_header(upload.header)
            except HeaderError as exc:
                upload.header_error = exc
        upload.lines += count_request_lines([b"-" if long_line else carry])
    return upload


def _replay(request: Request, body: bytes) -> Request:
    """The same request again, with its (already read) body, for a handler that reads it itself."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(request.scope, receive)


def make_router(*, hub: Callable[[], Hub], mailbox: Callable[[], Mailbox], settings: Settings) -> APIRouter:
    router = APIRouter()

    # -- batches ---------------------------------------------------------------------------------------

    @router.post(
        "/hub/batches",
        status_code=202,
        tags=["batches"],
        summary="Submit a batch file (JSON Lines); answers at once, the lines run in the background",
        description=(
            FILE_FORMAT
            + "\nThe body is streamed to disk (at most `KRUISPUNT_BATCH_MAX_BYTES`, 200 MB by default). "
            "Answer: 202 with `{batchId, status: QUEUED, lines, links}` and a `Location` to the status. "
            f"If the `{IDENTITY_HEADER}` header is given it must name the header's institution (else 403)."
        ),
        responses={
            400: {"description": "bad header: the whole batch is refused (the refusal is logged)"},
            403: {"description": "the declared caller is not the header's institution"},
            413: {"description": "the file is larger than the limit"},
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {NDJSON: {"schema": {"type": "string", "format": "binary"}}},
            }
        },
    )
    async def submit_batch(request: Request) -> Response:
        h, box = hub(), mailbox()
        received = datetime.now(UTC)
        batch_id = new_batch_id()
        folder = box.store.folder(batch_id)
        await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)

        def check_header(raw: bytes) -> BatchHeader:
            header = parse_header(raw)
            name, version = header.messageType.name, header.messageType.version
            if h.catalogue.get(name, version) is None:
                raise HeaderError(
                    errors.UNKNOWN_MESSAGE_TYPE,
                    f"line 1 (the header): unknown message type {name!r} v{version}",
                )
            ident = header.customerIdentification
            try:
                h.registry.identify(
                    cbe_number=ident.cbeNumber, sector=ident.sector, institution_type=ident.institution
                )
            except UnknownInstitution as exc:
                raise HeaderError(errors.UNKNOWN_CUSTOMER, f"line 1 (the header): {exc.reason}") from None
            return header

        try:
            upload = await _receive(
                request, folder / "input.jsonl.part", settings.batch_max_bytes, check_header
            )
        except BodyTooLarge:
            shutil.rmtree(folder, ignore_errors=True)
            outcome = await h.refuse(
                Consultation(channel="rest"),
                Refusal(errors.BODY_TOO_LARGE, f"batch file larger than {settings.batch_max_bytes} bytes"),
                received=received,
            )
            raise _error(
                413,
                errors.BODY_TOO_LARGE.name,
                f"batch file larger than {settings.batch_max_bytes} bytes",
                reasonCode=errors.BODY_TOO_LARGE.code,
                ticketCBSS=outcome.ticket,
            ) from None
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        if upload.header_error is not None or upload.parsed is None:
            shutil.rmtree(folder, ignore_errors=True)
            problem = upload.header_error or HeaderError(errors.MALFORMED_REQUEST, "the batch file is empty")
            named = _header_best_effort(upload.header)
            outcome = await h.refuse(named, Refusal(problem.reason, problem.diagnostic), received=received)
            raise _error(
                400,
                problem.reason.name,
                problem.diagnostic,
                reasonCode=problem.reason.code,
                ticketCBSS=outcome.ticket,
            )
        header = upload.parsed
        ident = header.customerIdentification
        owner = h.registry.identify(
            cbe_number=ident.cbeNumber, sector=ident.sector, institution_type=ident.institution
        ).kbo
        declared = declared_identity(request)
        if declared is not None and declared != owner:
            shutil.rmtree(folder, ignore_errors=True)
            raise _error(
                403, "NOT_YOURS", f"the header names institution {owner}, not the declared {declared}"
            )
        _, unsigned = _sender(request, h, upload.hash.digest(), owner)
        if unsigned is not None:
            shutil.rmtree(folder, ignore_errors=True)
            outcome = await h.refuse(header_consultation(header), unsigned, received=received)
            raise _refused(unsigned, ticketCBSS=outcome.ticket)
        await asyncio.to_thread((folder / "input.jsonl.part").replace, folder / "input.jsonl")
        batch = await asyncio.to_thread(
            box.store.create_batch,
            batch_id=batch_id,
            owner=owner,
            header=header,
            size_bytes=upload.size,
            lines_total=upload.lines,
            first_offset=upload.first_offset,
        )
        box.worker.wake_batches()
        links = batch_links(batch.id, owner)
        return JSONResponse(
            {"batchId": batch.id, "status": batch.status, "lines": batch.lines_total, "links": links},
            status_code=202,
            headers={"Location": links["self"]},
        )

    async def _batch_of(request: Request, batch_id: str) -> BatchInfo:
        caller = _caller(request, hub())
        batch = await asyncio.to_thread(mailbox().store.batch, batch_id)
        if batch is None:
            raise _error(404, "UNKNOWN_BATCH", f"no batch {batch_id}")
        _own(batch.owner, caller, "batch")
        return batch

    @router.get(
        "/hub/batches/{batch_id}",
        tags=["batches"],
        summary="Status of a batch: QUEUED / RUNNING / DONE / FAILED, counts, percent, rate",
        description=IDENTITY,
        responses=OWNER_ERRORS,
    )
    async def get_batch(batch_id: str, request: Request) -> Response:
        return JSONResponse(batch_status(await _batch_of(request, batch_id)))

    async def _lines(request: Request, batch_id: str, column: str, partial: bool) -> Response:
        batch = await _batch_of(request, batch_id)
        if batch.acknowledged_at is not None:
            raise _error(410, "ACKNOWLEDGED", "the owner acknowledged this batch; its results were deleted")
        store = mailbox().store
        name = "results.jsonl" if column == "result" else "errors.jsonl"
        headers = {"X-Kruispunt-Batch-Status": batch.status}
        if batch.status == DONE:
            path = store.folder(batch.id) / name
            if path.is_file():
                return FileResponse(path, media_type=NDJSON, headers=headers)
        elif not partial:
            raise _error(
                409,
                "BATCH_NOT_DONE",
                f"batch {batch.id} is {batch.status} ({batch.lines_done}/{batch.lines_total} lines); "
                "wait for DONE, or ask ?partial=true for the lines done so far",
                batchStatus=batch.status,
            )
        return StreamingResponse(
            store.iter_lines(batch.pk, "result" if column == "result" else "error"),
            media_type=NDJSON,
            headers=headers,
        )

    @router.get(
        "/hub/batches/{batch_id}/results",
        tags=["batches"],
        summary="Results of a batch (JSON Lines, one per request line, in file order)",
        description=FILE_FORMAT
        + "\n"
        + IDENTITY
        + " 409 until the batch is DONE, unless `partial=true` (the lines committed so far).",
        response_class=Response,
        responses={200: {"content": {NDJSON: {}}}, **OWNER_ERRORS},
    )
    async def get_results(batch_id: str, request: Request, partial: bool = False) -> Response:
        return await _lines(request, batch_id, "result", partial)

    @router.get(
        "/hub/batches/{batch_id}/errors",
        tags=["batches"],
        summary="Error report of a batch (JSON Lines, one per refused line)",
        description=FILE_FORMAT + "\n" + IDENTITY,
        response_class=Response,
        responses={200: {"content": {NDJSON: {}}}, **OWNER_ERRORS},
    )
    async def get_errors(batch_id: str, request: Request, partial: bool = False) -> Response:
        return await _lines(request, batch_id, "error", partial)

    # -- asynchronous single messages ------------------------------------------------------------------

    @router.post(
        "/hub/messages:async",
        tags=["consultation"],
        status_code=202,
        summary="Send a consultation and collect the answer later from the mailbox",
        description=(
            "Same body as `POST /hub/messages`. A body that cannot be read, or whose caller is unknown, is "
            "answered at once exactly as `POST /hub/messages` would (and logged). Otherwise: 202 with "
            "`{ticket, status: QUEUED, links}`; the message runs through the same pipeline and its answer — "
            "the JSON `POST /hub/messages` would have given — lands in the caller's mailbox: "
            "`GET /hub/mailbox/{cbeNumber}/{ticket}`."
        ),
        responses={
            **{
                status: {"model": ConsultationReply, "description": text}
                for status, text in (
                    (200, "answered at once, as POST /hub/messages would (the body could not be read)"),
                    (400, "malformed request, schema violation, invalid INSZ"),
                    (413, "body too large"),
                    (503, "the exchange could not be logged"),
                )
            },
            403: {
                "description": "an unknown caller (a CBSS-style reply), or not the declared one (an error)",
                "content": {
                    "application/json": {
                        "schema": {
                            "anyOf": [
                                {"$ref": "#/components/schemas/ConsultationReply"},
                                {"$ref": "#/components/schemas/ErrorBody"},
                            ]
                        }
                    }
                },
            },
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": ConsultationRequest.model_json_schema()}},
            }
        },
    )
    async def post_async(request: Request) -> Response:
        h, box = hub(), mailbox()
        received = datetime.now(UTC)
        try:
            raw = await read_body_limited(request, settings.max_body_bytes)
        except BodyTooLarge:
            refusal = Refusal(
                errors.BODY_TOO_LARGE, f"request body larger than {settings.max_body_bytes} bytes"
            )
            c = Consultation(channel="rest")
            outcome = await h.refuse(c, refusal, received=received)
            return JSONResponse(rest.render(c, outcome, None), status_code=outcome.http_status)
        try:
            parsed = rest._ADAPTER.validate_json(raw)
            ident = parsed.informationCustomer.customerIdentification
            owner = h.registry.identify(
                cbe_number=ident.cbeNumber, sector=ident.sector, institution_type=ident.institution
            ).kbo
        except (ValidationError, UnknownInstitution):
            # answered now, by the synchronous channel itself: same refusal, same log entry
            return await rest.handle_consultation(_replay(request, raw), h, settings.max_body_bytes)
        declared = declared_identity(request)
        if declared is not None and declared != owner:
            raise _error(
                403, "NOT_YOURS", f"the message names institution {owner}, not the declared {declared}"
            )
        c = rest._to_consultation(parsed)
        _verified, unsigned = rest._signature_refusal(h, request, raw, c)
        if unsigned is not None:  # refused as POST /hub/messages refuses it, and logged
            outcome = await h.refuse(c, unsigned, received=received)
            echo = parsed.informationCustomer.model_dump(mode="json", exclude_none=True)
            return JSONResponse(rest.render(c, outcome, echo), status_code=outcome.http_status)
        ticket = new_batch_id()
        await asyncio.to_thread(
            box.store.create_message, ticket=ticket, owner=owner, request=raw, received=received
        )
        box.worker.wake_messages()
        answer = f"/hub/mailbox/{owner}/{ticket}"
        return JSONResponse(
            {
                "ticket": ticket,
                "status": "QUEUED",
                "links": {"answer": answer, "mailbox": f"/hub/mailbox/{owner}"},
            },
            status_code=202,
            headers={"Location": answer},
        )

    # -- the mailbox -----------------------------------------------------------------------------------

    def _mailbox_owner(request: Request, cbe_number: str) -> str:
        """The mailbox's institution, when the caller is it: signed by it, or (signatures permitting)
        declaring it or only naming it in the path."""
        _well_formed(cbe_number)
        declared = declared_identity(request)
        if declared is not None and declared != cbe_number:
            raise _error(403, "NOT_YOURS", "the declared caller is not the mailbox's institution")
        _, refusal = _sender(request, hub(), _EMPTY_DIGEST, cbe_number)
        if refusal is not None:
            raise _refused(refusal)
        return cbe_number

    @router.get(
        "/hub/mailbox/{cbe_number}",
        tags=["mailbox"],
        summary="What an institution has to collect: finished batches and asynchronous answers",
        description=(
            "Finished (DONE / FAILED) batches and answered asynchronous messages that the institution has "
            "not acknowledged yet, oldest first. The path names the caller (no authentication yet: a later "
            "issue)."
        ),
        responses=OWNER_ERRORS,
    )
    async def get_mailbox(cbe_number: str, request: Request) -> Response:
        owner = _mailbox_owner(request, cbe_number)
        store = mailbox().store
        batches = await asyncio.to_thread(store.batches_of, owner)
        messages = await asyncio.to_thread(store.messages_of, owner)
        items = [_batch_item(b) for b in batches] + [_message_item(m) for m in messages]
        return JSONResponse({"institution": owner, "items": items})

    @router.get(
        "/hub/mailbox/{cbe_number}/{item_id}",
        tags=["mailbox"],
        summary="One mailbox item: an asynchronous answer (by ticket) or a batch's status (by id)",
        description=(
            "An asynchronous message: 200 with the answer `POST /hub/messages` would have given (its HTTP "
            "status in `X-Kruispunt-Answer-Status`), or 202 while it runs. A batch: its status document."
        ),
        responses=OWNER_ERRORS,
    )
    async def get_item(cbe_number: str, item_id: str, request: Request) -> Response:
        owner = _mailbox_owner(request, cbe_number)
        store = mailbox().store
        message = await asyncio.to_thread(store.message, item_id)
        if message is not None:
            _own(message.owner, owner, "message")
            if message.acknowledged_at is not None:
                raise _error(410, "ACKNOWLEDGED", "the owner acknowledged this answer; it was deleted")
            if message.status != DONE or message.answer is None:
                return JSONResponse({"ticket": message.ticket, "status": message.status}, status_code=202)
            return Response(
                message.answer,
                media_type="application/json",
                headers={"X-Kruispunt-Answer-Status": str(message.http_status)},
            )
        batch = await asyncio.to_thread(store.batch, item_id)
        if batch is None:
            raise _error(404, "UNKNOWN_ITEM", f"no message or batch {item_id}")
        _own(batch.owner, owner, "batch")
        return JSONResponse(batch_status(batch))

    @router.delete(
        "/hub/mailbox/{cbe_number}/{item_id}",
        tags=["mailbox"],
        status_code=204,
        summary="Acknowledge a mailbox item: its stored answers (results, files, answer body) are deleted",
        responses={**OWNER_ERRORS, 409: {"description": "the item is not finished yet"}},
    )
    async def acknowledge(cbe_number: str, item_id: str, request: Request) -> Response:
        owner = _mailbox_owner(request, cbe_number)
        store = mailbox().store
        message = await asyncio.to_thread(store.message, item_id)
        if message is not None:
            _own(message.owner, owner, "message")
            if message.status != DONE:
                raise _error(409, "NOT_FINISHED", "the message has not been answered yet")
            await asyncio.to_thread(store.acknowledge_message, item_id)
            return Response(status_code=204)
        batch = await asyncio.to_thread(store.batch, item_id)
        if batch is None:
            raise _error(404, "UNKNOWN_ITEM", f"no message or batch {item_id}")
        _own(batch.owner, owner, "batch")
        if batch.status not in (DONE, FAILED):
            raise _error(409, "NOT_FINISHED", f"batch {batch.id} is {batch.status}")
        await asyncio.to_thread(store.acknowledge_batch, batch)
        return Response(status_code=204)

    return router


def _header_best_effort(raw: bytes | None) -> Consultation:
    """What the log can name of a refused batch: the header's fields when it has the right shape."""
    if raw is None:
        return Consultation(channel="rest")
    try:
        return header_consultation(parse_header(raw))
    except HeaderError:
        pass
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return Consultation(channel="rest")
    envelope = (
        {
            "informationCustomer": {"customerIdentification": doc.get("customerIdentification")},
            **{k: doc.get(k) for k in ("legalContext", "messageType")},
        }
        if isinstance(doc, dict)
        else {}
    )
    return rest._best_effort(orjson.dumps(envelope))
