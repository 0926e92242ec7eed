"""Batches and the mailbox: many consultations from one file, answers collected later.

**The batch file** (JSON Lines, UTF-8). Line 1 is the header — who asks, for what, under which legal
context, with the field names of the REST envelope (:mod:`kruispunt.hub.schemas`)::

    {"customerIdentification": {"cbeNumber": "0212140186"}, "userId": "batch-app",
     "legalContext": "PCSA:SOCIAL_INQUIRY", "messageType": {"name": "identify_person", "version": "1"}}

Every further line is one consultation: a bare 11-digit INSZ (request body ``{}``, or ``{"insz": …}`` when
the message type's request has a top-level ``insz``, as ``identify_person``), or a JSON object
``{"ssin": "…", "request": {…}, "customerTicket": "…"}`` (all three optional). Empty lines are skipped. Lines
are numbered as in the file (the header is line 1).

**Processing.** Every line goes through the same pipeline as ``POST /hub/messages``
(:meth:`kruispunt.hub.service.Hub.consult_many`: same checks, routing, filtering, one log entry per line),
in chunks of ``batch_chunk_lines`` lines, ``batch_concurrency`` chunks at once; each source gets one bulk
call per chunk. A line that cannot be read (not JSON, wrong shape, too long) is refused and logged like a
malformed message. A refused line is an entry of the error report; the others go on.

**Durability.** The batch, its progress and each line's result live in the ``mailbox`` database
(:mod:`kruispunt.hub.models`); the uploaded file in ``<data_dir>/batches/<id>/input.jsonl``. Chunks are
committed in file order, each in one transaction with the new read position, so a line's result is stored
exactly once. A hub process claims a batch with a conditional UPDATE (``claimed_by`` + a lease it renews),
so among several hub workers exactly one runs it; a restarted process (same log chain → same worker id)
takes its batches back at once, another one when the lease has run out. Lines that were in flight when a
process stopped are run again (at-least-once towards the sources and the log: such a line then has two
log entries; its result is stored once). When every line is done, ``results.jsonl`` and ``errors.jsonl``
are written next to the input and the batch is ``DONE``.

**The mailbox** of an institution lists its finished batches and asynchronous answers that it has not
acknowledged yet; acknowledging (``DELETE``) purges the stored answers (results, files, answer bodies).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Engine, and_, delete, insert, or_, select, update

from kruispunt.core.db import component_url, make_engine
from kruispunt.core.settings import Settings
from kruispunt.hub import errors, rest  # rest: the REST channel's parsing, shared with /hub/messages
from kruispunt.hub.errors import Refusal
from kruispunt.hub.models import (
    DONE,
    FAILED,
    QUEUED,
    RUNNING,
    batch_result_table,
    batch_table,
    mailbox_message_table,
)
from kruispunt.hub.schemas import MessageTypeRef, OrganizationIdentification
from kruispunt.hub.service import Consultation, Hub, Outcome
from kruispunt.network.catalogue import MessageType

log = logging.getLogger("kruispunt.hub.batch")

MAX_HEADER_BYTES = 64 * 1024
_INSZ_CHARS = frozenset(b"0123456789")

# -- the file format -------------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BatchHeader(_Strict):
    """Line 1 of a batch file: the envelope every line shares."""

    customerIdentification: OrganizationIdentification
    userId: str | None = Field(default=None, max_length=64)
    legalContext: str = Field(min_length=1, max_length=64)
    messageType: MessageTypeRef


class BatchLine(_Strict):
    """A line of a batch file written as a JSON object (a bare INSZ is ``{"ssin": …}``)."""

    ssin: str | None = Field(default=None, max_length=32)
    request: dict[str, Any] = Field(default_factory=dict)
    customerTicket: str | None = Field(default=None, min_length=1, max_length=36)


class HeaderError(ValueError):
    """The header line cannot be used: the whole batch is refused."""

    def __init__(self, reason: errors.Reason, diagnostic: str) -> None:
        super().__init__(diagnostic)
        self.reason = reason
        self.diagnostic = diagnostic


def parse_header(raw: bytes) -> BatchHeader:
    """The header line, or :class:`HeaderError` (MALFORMED_REQUEST / SCHEMA_VIOLATION) saying why not."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise HeaderError(errors.MALFORMED_REQUEST, "line 1 (the header) is not valid JSON") from None
    if not isinstance(doc, dict):
        raise HeaderError(errors.SCHEMA_VIOLATION, "line 1 (the header) must be a JSON object")
    try:
        return BatchHeader.model_validate(doc)
    except ValidationError as exc:
        diagnostic = rest.validation_diagnostic(exc, "(line)")
        raise HeaderError(errors.SCHEMA_VIOLATION, f"line 1 (the header): {diagnostic}") from None


def header_consultation(header: BatchHeader) -> Consultation:
    """The consultation every line starts from (the line adds ssin, body and customer ticket)."""
    return rest.consultation(
        header.customerIdentification,
        user_id=header.userId,
        legal_context=header.legalContext,
        message_type=header.messageType,
    )


def bare_body_names_insz(message_type: MessageType | None) -> bool:
    """Whether a bare-INSZ line's request body is ``{"insz": …}`` (the message type's request has a
    top-level ``insz``, e.g. ``identify_person``: a search by number) rather than ``{}``."""
    if message_type is None:
        return False
    properties = message_type.request_schema.get("properties")
    return isinstance(properties, dict) and "insz" in properties


def parse_line(
    raw: bytes, base: Consultation, *, insz_in_body: bool = False
) -> tuple[Consultation, Refusal | None]:
    """One non-empty line → its consultation, or the consultation the log can still name and the refusal.

    A bare INSZ (or a JSON string) is ``{"ssin": INSZ}`` with the request body ``{}`` — or ``{"insz": INSZ}``
    when ``insz_in_body`` (see :func:`bare_body_names_insz`).
    """
    text = raw.strip()
    if text and _INSZ_CHARS.issuperset(text):
        insz = text.decode("ascii")
        return _with(base, ssin=insz, body={"insz": insz} if insz_in_body else {}, ticket=None), None
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        return base, Refusal(errors.MALFORMED_REQUEST, "the line is neither an INSZ nor valid JSON")
    if isinstance(doc, str):  # a quoted INSZ
        if len(doc) > 32:
            return base, Refusal(errors.SCHEMA_VIOLATION, "a line is an INSZ or a JSON object")
        return _with(base, ssin=doc, body={"insz": doc} if insz_in_body else {}, ticket=None), None
    if not isinstance(doc, dict):
        return base, Refusal(errors.SCHEMA_VIOLATION, "a line is an INSZ or a JSON object")
    try:
        line = BatchLine.model_validate(doc)
    except ValidationError as exc:
        ticket = doc.get("customerTicket")
        named = _with(base, ssin=None, body={}, ticket=ticket if isinstance(ticket, str) else None)
        return named, Refusal(errors.SCHEMA_VIOLATION, rest.validation_diagnostic(exc, "(line)"))
    return _with(base, ssin=line.ssin, body=line.request, ticket=line.customerTicket), None


def _with(base: Consultation, *, ssin: str | None, body: dict[str, Any], ticket: str | None) -> Consultation:
    return replace(base, customer_ticket=ticket[:36] if ticket else None, ssin=ssin, body=body)


Kind = Literal["DATA_FOUND", "NO_DATA_FOUND", "REFUSED"]


def render_line(line_no: int, c: Consultation, outcome: Outcome) -> tuple[Kind, bytes, bytes | None]:
    """(kind, line of results.jsonl, line of errors.jsonl or None) of one processed line."""
    result: dict[str, Any] = {
        "line": line_no,
        "customerTicket": c.customer_ticket,
        "ticket": outcome.ticket,
        "ssin": c.ssin,
    }
    if outcome.refusal is not None:
        fault = {
            "reasonCode": outcome.refusal.code,
            "reason": outcome.refusal.name,
            "diagnostic": outcome.diagnostic or outcome.refusal.text,
        }
        error = {**result, **fault}
        result["status"] = "REFUSED"
        result["fault"] = fault
        return "REFUSED", orjson.dumps(result), orjson.dumps(error)
    kind: Kind = "DATA_FOUND" if outcome.status == "DATA_FOUND" else "NO_DATA_FOUND"
    result["status"] = kind
    result["deliberation"] = outcome.deliberation
    result["data"] = outcome.data
    if outcome.filtered:
        result["dataFilters"] = outcome.filtered
    if outcome.warnings:
        result["warnings"] = [
            {"reasonCode": r.code, "reason": r.name, "diagnostic": d} for r, d in outcome.warnings
        ]
    return kind, orjson.dumps(result), None


# -- storage ---------------------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


def _ms(seconds_from_now: float = 0.0) -> int:
    return int((time.time() + seconds_from_now) * 1000)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_Info = TypeVar("_Info", "BatchInfo", "MessageInfo")

_COLUMN_OF = {"owner": "owner_kbo", "version": "message_version"}
"""The columns named otherwise than the field they fill (every other field has the name of its column)."""


def _of_row(cls: type[_Info], row: Any) -> _Info:
    """A :class:`BatchInfo` or :class:`MessageInfo` of its table row, times in UTC."""
    values: dict[str, Any] = {}
    for f in fields(cls):
        value = getattr(row, _COLUMN_OF.get(f.name, f.name))
        values[f.name] = _utc(value) if isinstance(value, datetime) else value
    return cls(**values)


@dataclass(frozen=True, slots=True)
class BatchInfo:
    pk: int
    id: str
    owner: str
    status: str
    header: str
    message_type: str
    version: str
    size_bytes: int
    lines_total: int
    lines_done: int
    data_found: int
    no_data_found: int
    refused: int
    next_line: int
    next_offset: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    claimed_by: str | None
    failure: str | None
    acknowledged_at: datetime | None

    @classmethod
    def of(cls, row: Any) -> BatchInfo:
        return _of_row(cls, row)


@dataclass(frozen=True, slots=True)
class MessageInfo:
    ticket: str
    owner: str
    status: str
    request: str | None
    received_at: datetime
    finished_at: datetime | None
    http_status: int | None
    answer: str | None
    acknowledged_at: datetime | None

    @classmethod
    def of(cls, row: Any) -> MessageInfo:
        return _of_row(cls, row)


@dataclass(slots=True)
class ChunkResult:
    """The results of one chunk of lines, ready to commit with the read position after it."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    data_found: int = 0
    no_data_found: int = 0
    refused: int = 0
    next_line: int = 0
    next_offset: int = 0

    def add(self, line_no: int, kind: Kind, result: bytes, error: bytes | None) -> None:
        self.rows.append(
            {
                "line_no": line_no,
                "outcome": kind,
                "result": result.decode(),
                "error": error.decode() if error is not None else None,
            }
        )
        if kind == "DATA_FOUND":
            self.data_found += 1
        elif kind == "NO_DATA_FOUND":
            self.no_data_found += 1
        else:
            self.refused += 1


_b = batch_table.c
_m = mailbox_message_table.c
_r = batch_result_table.c


class MailboxStore:
    """The ``mailbox`` database and the batch folders; synchronous (call it from a worker thread)."""

    def __init__(self, engine: Engine, data_dir: Path) -> None:
        self.engine = engine
        self.root = data_dir / "batches"

    def folder(self, batch_id: str) -> Path:
        return self.root / batch_id

    # batches ------------------------------------------------------------------------------------------

    def create_batch(
        self,
        *,
        batch_id: str,
        owner: str,
        header: BatchHeader,
        size_bytes: int,
        lines_total: int,
        first_offset: int,
    ) -> BatchInfo:
        values = {
            "id": batch_id,
            "owner_kbo": owner,
            "status": QUEUED,
            "header": header.model_dump_json(exclude_none=True),
            "message_type": header.messageType.name,
            "message_version": header.messageType.version,
            "size_bytes": size_bytes,
            "lines_total": lines_total,
            "lines_done": 0,
            "data_found": 0,
            "no_data_found": 0,
            "refused": 0,
            "next_line": 2,
            "next_offset": first_offset,
            "created_at": _now(),
        }
        with self.engine.begin() as conn:
            conn.execute(insert(batch_table).values(**values))
        found = self.batch(batch_id)
        assert found is not None
        return found

    def batch(self, batch_id: str) -> BatchInfo | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(batch_table).where(_b.id == batch_id)).first()
        return BatchInfo.of(row) if row is not None else None

    def _claimable(self, worker: str, now_ms: int) -> Any:
        return and_(
            _b.status.in_((QUEUED, RUNNING)),
            or_(_b.claimed_by.is_(None), _b.claimed_by == worker, _b.lease_until_ms < now_ms),
        )

    def claim_next_batch(self, worker: str, lease_s: float) -> BatchInfo | None:
        """Claim the oldest batch that is queued, already ours, or whose holder's lease ran out."""
        now_ms = _ms()
        with self.engine.connect() as conn:
            candidates = conn.execute(
                select(_b.pk).where(self._claimable(worker, now_ms)).order_by(_b.pk).limit(5)
            ).all()
        for (pk,) in candidates:
            with self.engine.begin() as conn:
                claimed = conn.execute(
                    update(batch_table)
                    .where(_b.pk == pk, self._claimable(worker, now_ms))
                    .values(status=RUNNING, claimed_by=worker, lease_until_ms=_ms(lease_s))
                )
                if claimed.rowcount == 1:
                    conn.execute(
                        update(batch_table)
                        .where(_b.pk == pk, _b.started_at.is_(None))
                        .values(started_at=_now())
                    )
                    row = conn.execute(select(batch_table).where(_b.pk == pk)).one()
                    return BatchInfo.of(row)
        return None

    def renew(self, pk: int, worker: str, lease_s: float) -> bool:
        """Extend our lease; False when the batch is no longer ours (taken over, or not running)."""
        with self.engine.begin() as conn:
            moved = conn.execute(
                update(batch_table)
                .where(_b.pk == pk, _b.claimed_by == worker, _b.status == RUNNING)
                .values(lease_until_ms=_ms(lease_s))
            )
            return moved.rowcount == 1

    def commit_chunk(self, pk: int, worker: str, chunk: ChunkResult, lease_s: float) -> bool:
        """Store a chunk's results and move the read position past it, in one transaction; False (and
        nothing stored) when the batch is no longer ours."""
        done = len(chunk.rows)
        with self.engine.begin() as conn:
            moved = conn.execute(
                update(batch_table)
                .where(_b.pk == pk, _b.claimed_by == worker, _b.status == RUNNING)
                .values(
                    lines_done=_b.lines_done + done,
                    data_found=_b.data_found + chunk.data_found,
                    no_data_found=_b.no_data_found + chunk.no_data_found,
                    refused=_b.refused + chunk.refused,
                    next_line=chunk.next_line,
                    next_offset=chunk.next_offset,
                    lease_until_ms=_ms(lease_s),
                )
            )
            if moved.rowcount != 1:  # not ours any more: nothing was changed, nothing is stored
                return False
            if chunk.rows:
                conn.execute(insert(batch_result_table), [{"batch_pk": pk, **row} for row in chunk.rows])
        return True

    def finish_batch(self, pk: int, worker: str, status: str, failure: str | None = None) -> bool:
        with self.engine.begin() as conn:
            moved = conn.execute(
                update(batch_table)
                .where(_b.pk == pk, _b.claimed_by == worker, _b.status == RUNNING)
                .values(
                    status=status, finished_at=_now(), failure=failure, claimed_by=None, lease_until_ms=None
                )
            )
            return moved.rowcount == 1

    def iter_lines(self, pk: int, column: Literal["result", "error"]) -> Iterator[bytes]:
        """The stored result (or error-report) lines of a batch in file order, each ending with a newline."""
        col = _r.result if column == "result" else _r.error
        query = select(col).where(_r.batch_pk == pk).order_by(_r.line_no)
        if column == "error":
            query = query.where(_r.error.is_not(None))
        with self.engine.connect() as conn:
            rows = conn.execution_options(stream_results=True, yield_per=5000).execute(query)
            for (text,) in rows:
                yield text.encode() + b"\n"

    def export(self, batch: BatchInfo) -> None:
        """Write ``results.jsonl`` and ``errors.jsonl`` from the stored lines (atomically: .part, rename)."""
        folder = self.folder(batch.id)
        folder.mkdir(parents=True, exist_ok=True)
        for column, name in (("result", "results.jsonl"), ("error", "errors.jsonl")):
            part = folder / f"{name}.part"
            with part.open("wb") as fh:
                buffer: list[bytes] = []
                for line in self.iter_lines(batch.pk, column):  # type: ignore[arg-type]
                    buffer.append(line)
                    if len(buffer) >= 4096:
                        fh.write(b"".join(buffer))
                        buffer.clear()
                fh.write(b"".join(buffer))
            part.replace(folder / name)

    def batches_of(self, owner: str, *, finished_only: bool = True) -> list[BatchInfo]:
        query = select(batch_table).where(_b.owner_kbo == owner, _b.acknowledged_at.is_(None))
        if finished_only:
            query = query.where(_b.status.in_((DONE, FAILED)))
        with self.engine.connect() as conn:
            return [BatchInfo.of(r) for r in conn.execute(query.order_by(_b.pk)).all()]

    def acknowledge_batch(self, batch: BatchInfo) -> None:
        """The owner collected it: purge the stored results and the files, keep the counts."""
        with self.engine.begin() as conn:
            conn.execute(delete(batch_result_table).where(_r.batch_pk == batch.pk))
            conn.execute(update(batch_table).where(_b.pk == batch.pk).values(acknowledged_at=_now()))
        shutil.rmtree(self.folder(batch.id), ignore_errors=True)

    # asynchronous messages ---------------------------------------------------------------------------------

    def create_message(self, *, ticket: str, owner: str, request: bytes, received: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(mailbox_message_table).values(
                    ticket=ticket,
                    owner_kbo=owner,
                    status=QUEUED,
                    request=request.decode(),
                    received_at=received,
                )
            )

    def message(self, ticket: str) -> MessageInfo | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(mailbox_message_table).where(_m.ticket == ticket)).first()
        return MessageInfo.of(row) if row is not None else None

    def claim_messages(self, worker: str, lease_s: float, limit: int = 100) -> list[MessageInfo]:
        now_ms = _ms()
        claimable = and_(
            _m.status.in_((QUEUED, RUNNING)),
            or_(_m.claimed_by.is_(None), _m.claimed_by == worker, _m.lease_until_ms < now_ms),
        )
        with self.engine.connect() as conn:
            tickets = (
                conn.execute(select(_m.ticket).where(claimable).order_by(_m.received_at).limit(limit))
                .scalars()
                .all()
            )
        claimed: list[MessageInfo] = []
        for ticket in tickets:
            with self.engine.begin() as conn:
                moved = conn.execute(
                    update(mailbox_message_table)
                    .where(_m.ticket == ticket, claimable)
                    .values(status=RUNNING, claimed_by=worker, lease_until_ms=_ms(lease_s))
                )
                if moved.rowcount == 1:
                    row = conn.execute(select(mailbox_message_table).where(_m.ticket == ticket)).one()
                    claimed.append(MessageInfo.of(row))
        return claimed

    def finish_message(self, ticket: str, worker: str, *, http_status: int, answer: bytes) -> bool:
        with self.engine.begin() as conn:
            moved = conn.execute(
                update(mailbox_message_table)
                .where(_m.ticket == ticket, _m.claimed_by == worker, _m.status == RUNNING)
                .values(
                    status=DONE,
                    http_status=http_status,
                    answer=answer.decode(),
                    request=None,
                    finished_at=_now(),
                    claimed_by=None,
                    lease_until_ms=None,
                )
            )
            return moved.rowcount == 1

    def messages_of(self, owner: str) -> list[MessageInfo]:
        query = select(mailbox_message_table).where(
            _m.owner_kbo == owner, _m.status == DONE, _m.acknowledged_at.is_(None)
        )
        with self.engine.connect() as conn:
            return [MessageInfo.of(r) for r in conn.execute(query.order_by(_m.received_at)).all()]

    def acknowledge_message(self, ticket: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(mailbox_message_table)
                .where(_m.ticket == ticket)
                .values(acknowledged_at=_now(), answer=None)
            )


# -- the worker ------------------------------------------------------------------------------------------


class _LostClaim(Exception):
    """Another hub process took the batch over (our lease ran out): stop without committing more."""


@dataclass(frozen=True, slots=True)
class _Chunk:
    lines: list[tuple[int, bytes | None]]  # (line number, raw line or None when it was too long)
    next_line: int
    next_offset: int


def read_chunk(fh: IO[bytes], *, first_line: int, size: int, max_line_bytes: int) -> _Chunk | None:
    """Up to ``size`` non-empty lines from the current position; None at the end of the file."""
    lines: list[tuple[int, bytes | None]] = []
    line_no = first_line
    read_any = False
    while len(lines) < size:
        raw = fh.readline(max_line_bytes + 1)
        if not raw:
            break
        read_any = True
        if len(raw) > max_line_bytes and not raw.endswith(b"\n"):
            while True:  # skip the rest of the too-long line
                rest = fh.readline(1 << 20)
                if not rest or rest.endswith(b"\n"):
                    break
            lines.append((line_no, None))
        elif raw.strip():
            lines.append((line_no, raw))
        line_no += 1
    if not read_any:
        return None
    return _Chunk(lines=lines, next_line=line_no, next_offset=fh.tell())


class MailboxWorker:
    """Runs in every hub process: takes queued batches and asynchronous messages and runs them.

    ``worker_id`` must be unique among the hub processes sharing the mailbox database and stable across a
    restart of the same process: the hub uses its log chain (``hub-chain-<n>``), unique for the same reason.
    """

    def __init__(self, hub: Hub, store: MailboxStore, settings: Settings, worker_id: str) -> None:
        self.hub = hub
        self.store = store
        self.worker_id = worker_id
        self.chunk_lines = settings.batch_chunk_lines
        self.concurrency = settings.batch_concurrency
        self.lease_s = settings.batch_lease_s
        self.poll_s = settings.batch_poll_s
        self.max_line_bytes = settings.max_body_bytes
        self._batch_wake = asyncio.Event()
        self._message_wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._failures: dict[str, int] = {}

    def start(self) -> None:
        if self._tasks:
            raise RuntimeError("mailbox worker already started")
        self._tasks = [
            asyncio.create_task(self._batch_loop(), name="kruispunt-batches"),
            asyncio.create_task(self._message_loop(), name="kruispunt-async-messages"),
        ]

    async def stop(self) -> None:
        """Stop at once: chunks in flight are not committed (they run again on the next start)."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def wake_batches(self) -> None:
        self._batch_wake.set()

    def wake_messages(self) -> None:
        self._message_wake.set()

    async def _sleep(self, event: asyncio.Event) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout=self.poll_s)
        event.clear()

    # batches ------------------------------------------------------------------------------------------

    async def _batch_loop(self) -> None:
        while True:
            try:
                batch = await asyncio.to_thread(self.store.claim_next_batch, self.worker_id, self.lease_s)
            except Exception:
                log.exception("mailbox database unavailable")
                batch = None
            if batch is None:
                await self._sleep(self._batch_wake)
                continue
            try:
                await self.run_batch(batch)
                self._failures.pop(batch.id, None)
            except asyncio.CancelledError:
                raise
            except _LostClaim:
                log.warning("batch %s was taken over by another hub process", batch.id)
            except Exception as exc:
                count = self._failures[batch.id] = self._failures.get(batch.id, 0) + 1
                log.exception("batch %s failed (attempt %d)", batch.id, count)
                if count >= 3:
                    self._failures.pop(batch.id, None)
                    diagnostic = f"unexpected error: {type(exc).__name__}; it has been logged"
                    with contextlib.suppress(Exception):
                        await asyncio.to_thread(
                            self.store.finish_batch, batch.pk, self.worker_id, FAILED, diagnostic
                        )
                else:
                    await asyncio.sleep(self.poll_s * 5)

    async def run_batch(self, batch: BatchInfo) -> None:
        """Run a claimed batch from its read position to the end, then write the result files."""
        path = self.store.folder(batch.id) / "input.jsonl"
        try:
            header = BatchHeader.model_validate_json(batch.header)
            fh = path.open("rb")
        except (OSError, ValidationError) as exc:
            await asyncio.to_thread(
                self.store.finish_batch, batch.pk, self.worker_id, FAILED, f"input unreadable: {exc}"
            )
            return
        base = header_consultation(header)
        insz_in_body = bare_body_names_insz(
            self.hub.catalogue.get(header.messageType.name, header.messageType.version)
        )
        heartbeat = asyncio.create_task(self._heartbeat(batch.pk))
        pending: deque[asyncio.Task[ChunkResult]] = deque()
        try:
            with fh:
                fh.seek(batch.next_offset)
                next_line = batch.next_line
                while True:
                    chunk = read_chunk(
                        fh, first_line=next_line, size=self.chunk_lines, max_line_bytes=self.max_line_bytes
                    )
                    if chunk is None:
                        break
                    next_line = chunk.next_line
                    pending.append(asyncio.create_task(self._run_chunk(base, chunk, insz_in_body)))
                    if len(pending) >= self.concurrency:
                        await self._commit(batch.pk, pending.popleft())
                while pending:
                    await self._commit(batch.pk, pending.popleft())
            if heartbeat.done():
                raise _LostClaim
            current = await asyncio.to_thread(self.store.batch, batch.id)
            assert current is not None
            await asyncio.to_thread(self.store.export, current)
            if not await asyncio.to_thread(self.store.finish_batch, batch.pk, self.worker_id, DONE):
                raise _LostClaim
            log.info("batch %s done: %d lines", batch.id, current.lines_done)
        finally:
            heartbeat.cancel()
            for task in pending:
                task.cancel()
            for task in pending:
                with contextlib.suppress(BaseException):
                    await task

    async def _heartbeat(self, pk: int) -> None:
        """Renew the lease while the batch runs; returns (the run then stops) when the lease is lost."""
        while True:
            await asyncio.sleep(self.lease_s / 3)
            with contextlib.suppress(Exception):
                if not await asyncio.to_thread(self.store.renew, pk, self.worker_id, self.lease_s):
                    return

    async def _commit(self, pk: int, task: asyncio.Task[ChunkResult]) -> None:
        chunk = await task
        if not await asyncio.to_thread(self.store.commit_chunk, pk, self.worker_id, chunk, self.lease_s):
            raise _LostClaim

    async def _run_chunk(self, base: Consultation, chunk: _Chunk, insz_in_body: bool) -> ChunkResult:
        """Every line of a chunk through the pipeline (readable lines together); results in file order."""
        received = _now()
        parsed: list[tuple[int, Consultation, Refusal | None]] = []
        for line_no, raw in chunk.lines:
            if raw is None:
                too_long = Refusal(
                    errors.BODY_TOO_LARGE, f"the line is longer than {self.max_line_bytes} bytes"
                )
                parsed.append((line_no, base, too_long))
            else:
                parsed.append((line_no, *parse_line(raw, base, insz_in_body=insz_in_body)))
        good = [(n, c) for n, c, refusal in parsed if refusal is None]
        bad = [(n, c, refusal) for n, c, refusal in parsed if refusal is not None]
        consulted = await self.hub.consult_many([c for _, c in good], received=received)
        refused = await asyncio.gather(*(self.hub.refuse(c, r, received=received) for _, c, r in bad))
        by_line: dict[int, tuple[Consultation, Outcome]] = {}
        for (n, c), outcome in zip(good, consulted, strict=True):
            by_line[n] = (c, outcome)
        for (n, c, _), outcome in zip(bad, refused, strict=True):
            by_line[n] = (c, outcome)
        result = ChunkResult(next_line=chunk.next_line, next_offset=chunk.next_offset)
        for line_no, _ in chunk.lines:
            c, outcome = by_line[line_no]
            result.add(line_no, *render_line(line_no, c, outcome))
        return result

    # asynchronous messages ---------------------------------------------------------------------------------

    async def _message_loop(self) -> None:
        while True:
            try:
                claimed = await asyncio.to_thread(self.store.claim_messages, self.worker_id, self.lease_s)
            except Exception:
                log.exception("mailbox database unavailable")
                claimed = []
            if not claimed:
                await self._sleep(self._message_wake)
                continue
            outcomes = await asyncio.gather(*(self._answer(m) for m in claimed), return_exceptions=True)
            for message, outcome in zip(claimed, outcomes, strict=True):
                if isinstance(outcome, Exception):  # it stays claimed by us: a later round runs it again
                    log.error("asynchronous message %s failed: %r", message.ticket, outcome)
            if any(isinstance(outcome, Exception) for outcome in outcomes):
                await asyncio.sleep(self.poll_s * 5)

    async def _answer(self, message: MessageInfo) -> None:
        try:
            parsed = rest._ADAPTER.validate_json(message.request or "")
        except ValidationError:  # checked at submission: only a changed database gets here
            log.exception("stored asynchronous message %s is invalid", message.ticket)
            fault = {
                "fault": [{"severity": "FATAL", "reasonCode": errors.INTERNAL.code, "reason": "INTERNAL"}]
            }
            await asyncio.to_thread(
                self.store.finish_message,
                message.ticket,
                self.worker_id,
                http_status=errors.INTERNAL.http_status,
                answer=orjson.dumps(fault),
            )
            return
        c = rest._to_consultation(parsed)
        (outcome,) = await self.hub.consult_many([c], received=message.received_at, tickets=[message.ticket])
        echo = parsed.informationCustomer.model_dump(mode="json", exclude_none=True)
        answer = orjson.dumps(rest.render(c, outcome, echo))
        await asyncio.to_thread(
            self.store.finish_message,
            message.ticket,
            self.worker_id,
            http_status=outcome.http_status,
            answer=answer,
        )


@dataclass
class Mailbox:
    """What the hub's HTTP routes use: the store and this process's worker."""

    store: MailboxStore
    worker: MailboxWorker
    settings: Settings


@asynccontextmanager
async def running_mailbox(hub: Hub, settings: Settings) -> AsyncIterator[Mailbox]:
    """Open the mailbox database (migrated by :func:`kruispunt.hub.service.prepare_hub`) and run this
    process's worker until exit."""
    engine = make_engine(component_url(settings.db_url, settings.data_dir, "mailbox"))
    store = MailboxStore(engine, settings.data_dir)
    worker = MailboxWorker(hub, store, settings, worker_id=f"hub-chain-{settings.audit_chain}")
    worker.start()
    try:
        yield Mailbox(store=store, worker=worker, settings=settings)
    finally:
        await worker.stop()
        engine.dispose()


def new_batch_id() -> str:
    return str(uuid.uuid4())


def count_request_lines(pieces: Sequence[bytes]) -> int:
    """How many of these lines hold a request (non-blank)."""
    return sum(1 for piece in pieces if piece.strip())
