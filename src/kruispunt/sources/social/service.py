"""Logic of a social source: answer a consultation, issue and list attestations, receive a declaration, open
and close files (and files addressed by a key: open-or-amend, cancel), keep a managing institution's member
directory, and the meta bookkeeping.

Every message type of every social source is answered by one function, :meth:`SocialSource.answer`
``(conn_or_engine, envelope) -> ConsultReply`` — synchronous database work, so an HTTP route and a batch
route call it alike. It raises the same errors the source routes return: ``HTTPException`` 404
(``UNKNOWN_MESSAGE_TYPE``, ``UNKNOWN_VERSION``) and ``RequestValidationError`` (422) for a bad body.

Functions take an explicit connection (or engine) and keyword-only arguments (docs/architecture.md).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from sqlalchemy import Connection, Engine, Row, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from kruispunt.attest import Attestation, issue
from kruispunt.core import tables
from kruispunt.sources.common import ConsultReply, ConsultRequest, WriteRefused
from kruispunt.sources.social.changes import queue_status_change
from kruispunt.sources.social.clients import (
    DirectoryRefused,
    DirectoryUnavailable,
    HubDirectory,
    ManagingDirectory,
)
from kruispunt.sources.social.definitions import (
    AttestationHandler,
    DeclarationHandler,
    Handler,
    KindDef,
    ListAttestationsHandler,
    RecordsHandler,
    SourceDef,
)
from kruispunt.sources.social.models import (
    attestation_table,
    cancelled_table,
    file_table,
    member_line_table,
    meta_table,
)
from kruispunt.sources.social.schemas import (
    AttestationRequest,
    CancelIn,
    CloseIn,
    DeclarationRequest,
    EmptyRequest,
    FileIn,
    FileOut,
    FileReply,
    KeyedFileIn,
    KeyedFileReply,
    RecordsRequest,
)
from kruispunt.sources.social.signing import KeyRing
from kruispunt.sources.web import check_envelope, require_person, unknown_message_type

Target = Connection | Engine
Reply = ConsultReply[dict[str, Any]]

_f = file_table.c
_a = attestation_table.c
_m = member_line_table.c
_c = cancelled_table.c


def request_model(handler: Handler) -> type[BaseModel]:
    """The body (``request`` of the envelope) a handler takes."""
    if isinstance(handler, RecordsHandler):
        return RecordsRequest
    if isinstance(handler, AttestationHandler):
        return AttestationRequest
    if isinstance(handler, DeclarationHandler):
        return DeclarationRequest
    return EmptyRequest


@contextmanager
def connection(target: Target, *, write: bool = False) -> Iterator[Connection]:
    """A connection: the given one (for writes, the caller commits), or of the engine a new one for reads
    and a transaction for writes."""
    if isinstance(target, Engine):
        with target.begin() if write else target.connect() as conn:
            yield conn
    else:
        yield target


def _iso(day: dt.date | None) -> str | None:
    return None if day is None else day.isoformat()


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# ----------------------------------------------------------------------------------------------- files


def find_files(
    conn: Connection,
    *,
    insz: str,
    kinds: Sequence[str],
    member: str | None = None,
    period: tuple[dt.date, dt.date] | None = None,
    on: dt.date | None = None,
) -> list[Row[Any]]:
    """The person's files of ``kinds`` (one holder's, overlapping a period or in force on a day), by start."""
    query = select(_f.id, _f.kind, _f.member, _f.capacity, _f.start, _f.end, _f.attrs).where(
        _f.insz == insz, _f.kind.in_(list(kinds))
    )
    if member is not None:
        query = query.where(_f.member == member)
    if period is not None:
        query = query.where(_f.start <= period[1], or_(_f.end.is_(None), _f.end >= period[0]))
    if on is not None:
        query = query.where(_f.start <= on, or_(_f.end.is_(None), _f.end >= on))
    return list(conn.execute(query.order_by(_f.start, _f.id)))


def record(row: Row[Any]) -> dict[str, Any]:
    """A file as a reply record: kind, holding institution, period, then its attributes."""
    return {
        "kind": row.kind,
        "institution": row.member,
        "start": row.start.isoformat(),
        "end": _iso(row.end),
        **(row.attrs or {}),
    }


def records_data(
    conn: Connection,
    *,
    handler: RecordsHandler,
    insz: str,
    member: str | None,
    period: tuple[dt.date, dt.date] | None,
) -> dict[str, list[dict[str, Any]]] | None:
    """``{reply_key: [record, …]}`` for a records handler; None when the person has no such file."""
    rows = find_files(conn, insz=insz, kinds=handler.kinds, member=member, period=period)
    if not rows:
        return None
    records = [(row.kind, record(row)) for row in rows]
    return {key: [r for kind, r in records if kind in kinds] for key, kinds in handler.groups}


def claims_of(token: str) -> dict[str, Any]:
    """The claims of a token this source signed itself (read back from its own store; not a verification)."""
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert isinstance(claims, dict)
    return claims


def issue_attestations(
    conn: Connection,
    *,
    handler: AttestationHandler,
    keys: KeyRing,
    insz: str,
    on: dt.date,
    member: str | None,
    now: dt.datetime,
) -> list[dict[str, Any]]:
    """Issue, sign and store an attestation for every file of the handler's kinds in force on ``on``."""
    out: list[dict[str, Any]] = []
    limit = on + dt.timedelta(days=handler.validity_days)
    for row in find_files(conn, insz=insz, kinds=handler.kinds, member=member, on=on):
        attestation = Attestation(
            id=uuid.uuid4(),
            issuer=row.member,
            subject=insz,
            type=handler.type,
            status={"kind": row.kind, "institution": row.member, **(row.attrs or {})},
            valid_from=max(row.start, on),
            valid_to=limit if row.end is None else min(row.end, limit),
            legal_basis=handler.legal_basis,
            issued_at=now,
        )
        token = issue(keys.key(row.member), attestation)
        conn.execute(
            insert(attestation_table).values(
                id=attestation.id,
                insz=insz,
                type=attestation.type,
                issuer=attestation.issuer,
                valid_from=attestation.valid_from,
                valid_to=attestation.valid_to,
                legal_basis=attestation.legal_basis,
                status=attestation.status,
                issued_at=attestation.issued_at,
                token=token,
            )
        )
        out.append({**attestation.model_dump(mode="json"), "token": token})
    return out


def list_attestations(conn: Connection, *, insz: str, issuer: str | None = None) -> list[dict[str, Any]]:
    """The attestations issued about the person (of one issuer), oldest first, with their tokens."""
    query = select(_a.token).where(_a.insz == insz)
    if issuer is not None:
        query = query.where(_a.issuer == issuer)
    tokens = conn.execute(query.order_by(_a.issued_at, _a.id)).scalars().all()
    return [{**claims_of(token), "token": token} for token in tokens]


# ---------------------------------------------------------------------------------------------- source


def parse_request(handler: Handler, request: Any) -> BaseModel:
    """The envelope's ``request`` as the handler's model; a 422 (``RequestValidationError``) otherwise."""
    model = request_model(handler)
    if isinstance(request, model):
        return request
    try:
        return model.model_validate(request if request is not None else {})
    except ValidationError as exc:
        raise RequestValidationError(
            [
                {"loc": ("body", "request", *e["loc"]), "msg": e["msg"], "type": e["type"]}
                for e in exc.errors(include_url=False)
            ]
        ) from exc


def checked_consultation(
    definition: SourceDef, envelope: ConsultRequest[Any]
) -> tuple[Handler, str, BaseModel]:
    """The handler of the envelope's message type, the person's INSZ and the request as the handler's model.

    Raises ``HTTPException`` 404 (a message type the source does not serve, an unknown version) and
    ``RequestValidationError`` (422: no person, a bad body).
    """
    handler = definition.message_types.get(envelope.message_type)
    if handler is None:
        raise unknown_message_type(envelope.message_type, sorted(definition.message_types))
    check_envelope(envelope, envelope.message_type)
    insz = require_person(envelope)
    return handler, insz, parse_request(handler, envelope.request)


@dataclass
class SocialSource:
    """One social source (or one member of a secondary network): its definition and its signing keys.

    ``today`` and ``now`` are the clock (injectable for tests). ``hub`` and ``managing`` are the directories a
    declaration handler integrates the person in (set by the app that serves the source).
    """

    definition: SourceDef
    keys: KeyRing
    today: Callable[[], dt.date] = dt.date.today
    now: Callable[[], dt.datetime] = _utc_now
    hub: HubDirectory | None = None
    managing: ManagingDirectory | None = None

    @classmethod
    def of(
        cls,
        definition: SourceDef,
        *,
        keys_dir: Path | None,
        institutions: Sequence[str] | None = None,
        today: Callable[[], dt.date] = dt.date.today,
        now: Callable[[], dt.datetime] = _utc_now,
    ) -> SocialSource:
        """``institutions``: those this instance signs for (default: the definition's, if it issues)."""
        signers = definition.institutions if institutions is None else tuple(institutions)
        ring = KeyRing(keys_dir, signers if definition.issues_attestations else ())
        return cls(definition, ring, today, now)

    def served(self) -> list[str]:
        return sorted(self.definition.message_types)

    def answer(self, target: Target, envelope: ConsultRequest[Any], *, holder: str | None = None) -> Reply:
        """Answer one consultation (``POST /consult/{message_type}``) on the database ``target``.

        ``envelope.request`` may be the handler's request model or a plain dict (validated here). When the
        service answers for several institutions and the envelope's ``provider`` is one of them, only that
        institution's files (and attestations) are used. ``holder``: the member whose database ``target``
        is (a members host), the holder of a declaration received.
        """
        handler, insz, request = checked_consultation(self.definition, envelope)
        member = (
            envelope.provider
            if self.definition.several and envelope.provider in self.definition.institutions
            else None
        )
        data: dict[str, Any] | None
        if isinstance(handler, DeclarationHandler):
            assert isinstance(request, DeclarationRequest)
            if self.hub is None:
                raise FileError(503, "HUB_NOT_CONFIGURED", "no hub to integrate the person in").http()
            engine = target if isinstance(target, Engine) else target.engine
            try:
                data = receive_declaration(
                    engine,
                    definition=self.definition,
                    handler=handler,
                    insz=insz,
                    request=request,
                    holder=holder or member,
                    hub=self.hub,
                    managing=self.managing,
                )
            except FileError as exc:
                raise exc.http() from exc
        elif isinstance(handler, RecordsHandler):
            assert isinstance(request, RecordsRequest)
            period = None
            if request.period is not None:
                period = (request.period.start, request.period.end or self.today())
            with connection(target) as conn:
                data = records_data(conn, handler=handler, insz=insz, member=member, period=period)
        elif isinstance(handler, AttestationHandler):
            assert isinstance(request, AttestationRequest)
            on = request.on or self.today()
            with connection(target, write=True) as conn:
                issued = issue_attestations(
                    conn, handler=handler, keys=self.keys, insz=insz, on=on, member=member, now=self.now()
                )
            data = {"attestations": issued} if issued else None
        else:
            assert isinstance(handler, ListAttestationsHandler)
            with connection(target) as conn:
                found = list_attestations(conn, insz=insz, issuer=member)
            data = {"attestations": found} if found else None
        if data is None:
            return Reply(status="NO_DATA_FOUND")
        return Reply(status="DATA_FOUND", data=data)


# ---------------------------------------------------------------------------------- opening and closing


class FileError(WriteRefused):
    """Opening or closing a file was refused: HTTP ``status``, error ``code``, ``message``."""


def _floats(value: Any, path: str) -> str | None:
    if isinstance(value, float):
        return path
    if isinstance(value, dict):
        for k, v in value.items():
            if (found := _floats(v, f"{path}.{k}")) is not None:
                return found
    if isinstance(value, list):
        for i, v in enumerate(value):
            if (found := _floats(v, f"{path}[{i}]")) is not None:
                return found
    return None


def check_file(definition: SourceDef, body: FileIn, member: str | None) -> tuple[KindDef, str]:
    """The kind and holding institution of a new file, or FileError 422/404."""
    kind = definition.kinds.get(body.kind)
    if kind is None:
        raise FileError(
            422,
            "UNKNOWN_KIND",
            f"{definition.name} holds no files of kind {body.kind!r}",
            kinds=sorted(definition.kinds),
        )
    holder = member or body.member
    if member is not None and body.member not in (None, member):
        raise FileError(422, "WRONG_MEMBER", f"this is the service of {member}, not of {body.member}")
    if holder is None:
        if definition.several:
            raise FileError(
                422,
                "MEMBER_REQUIRED",
                "name the holding institution (member)",
                institutions=list(definition.institutions),
            )
        holder = definition.institutions[0]
    if holder not in definition.institutions:
        raise FileError(
            422,
            "UNKNOWN_MEMBER",
            f"{definition.name} does not hold files for {holder}",
            institutions=list(definition.institutions),
        )
    unknown = sorted(set(body.attrs) - set(kind.attrs))
    if unknown:
        raise FileError(
            422,
            "UNKNOWN_ATTRIBUTE",
            f"a {kind.name} file has no attribute {', '.join(unknown)}",
            attrs=list(kind.attrs),
        )
    if (path := _floats(body.attrs, "attrs")) is not None:
        raise FileError(422, "FLOAT_ATTRIBUTE", f"{path} is a float; use integers (cents) or strings")
    return kind, holder


def file_out(row: Row[Any], insz: str | None = None) -> FileOut:
    return FileOut(
        id=row.id,
        insz=insz or row.insz,
        kind=row.kind,
        member=row.member,
        capacity=row.capacity,
        start=row.start,
        end=row.end,
        attrs=row.attrs or {},
        key=getattr(row, "key", None),
    )


Span = tuple[dt.date, dt.date | None]


def member_span(
    conn: Connection, *, insz: str, member: str, capacity: int | None = None
) -> tuple[dt.date, dt.date | None] | None:
    """The span of the member's files on a person (in one capacity): earliest start, open if any file is
    open else latest end; None when it holds none."""
    where = [_f.insz == insz, _f.member == member]
    if capacity is not None:
        where.append(_f.capacity == capacity)
    row = conn.execute(
        select(
            func.min(_f.start),
            func.max(_f.end),
            func.count(),
            func.count(_f.end),
        ).where(*where)
    ).one()
    start, last_end, files, closed = row
    if not files:
        return None
    if isinstance(start, str):  # SQLite aggregates come back as text
        start = dt.date.fromisoformat(start)
    if isinstance(last_end, str):
        last_end = dt.date.fromisoformat(last_end)
    return start, (None if closed < files else last_end)


def _span_body(member: str, insz: str, span: tuple[dt.date, dt.date | None] | None) -> dict[str, Any]:
    return {
        "member": member,
        "insz": insz,
        "span": None if span is None else {"start": span[0].isoformat(), "end": _iso(span[1])},
    }


def _directory_error(exc: DirectoryRefused | DirectoryUnavailable, what: str) -> FileError:
    if isinstance(exc, DirectoryRefused):
        return FileError(
            exc.status, exc.code, f"the {what} refused: {exc.message}", refused_by=what, nothing_kept=True
        )
    return FileError(503, f"{what.upper().replace(' ', '_')}_UNAVAILABLE", str(exc), nothing_kept=True)


def _require_hub(hub: HubDirectory) -> None:
    if not hub.configured:
        raise FileError(503, "HUB_NOT_CONFIGURED", "no hub URL configured (KRUISPUNT_HUB_URL)")


@contextmanager
def _file_transaction(
    conn: Connection, managing: ManagingDirectory | None, *, insz: str, member: str
) -> Iterator[Callable[[], None]]:
    """A transaction of ``conn`` that changes ``member``'s files on a person, committed when the block ends.

    The block calls the function it is given once it has changed the files: for a member of a secondary
    network (``managing``) it tells the managing institution the member's new span on the person. When the
    block (or the commit) fails, the transaction is rolled back and a managing institution that was told is
    given the span from before again.
    """
    txn = conn.begin()
    told_managing = False
    before: tuple[dt.date, dt.date | None] | None = None

    def tell_managing() -> None:
        nonlocal told_managing
        if managing is None:
            return
        span = member_span(conn, insz=insz, member=member)
        try:
            managing.set_span(_span_body(member, insz, span))
        except (DirectoryRefused, DirectoryUnavailable) as exc:
            raise _directory_error(exc, "managing institution") from exc
        told_managing = True

    try:
        if managing is not None:
            before = member_span(conn, insz=insz, member=member)
        yield tell_managing
        txn.commit()
    except BaseException:
        txn.rollback()
        if told_managing and managing is not None:
            # if this fails too, the managing institution keeps a wider span: it asks a member that
            # answers "no data", which is harmless
            with suppress(DirectoryRefused, DirectoryUnavailable):
                managing.set_span(_span_body(member, insz, before))
        raise


def open_file(
    engine: Engine,
    *,
    definition: SourceDef,
    body: FileIn,
    hub: HubDirectory,
    managing: ManagingDirectory | None = None,
    member: str | None = None,
) -> FileReply:
    """Open a file and integrate the person in the persons directory, or keep nothing.

    The file is inserted in a transaction; a member of a secondary network then tells its managing
    institution its new span on the person; then the hub registers the line (institution = the holder,
    capacity of the kind, the file's period, the proof). Only when the hub said yes is the insert committed;
    a refusal (4xx, with the hub's code) or an unreachable hub (503) rolls it back and restores the managing
    institution's span.
    """
    kind, holder = check_file(definition, body, member)
    _require_hub(hub)
    with engine.connect() as conn:
        with _file_transaction(conn, managing, insz=body.insz, member=holder) as tell_managing:
            new_id = conn.execute(
                insert(file_table)
                .values(
                    insz=body.insz,
                    kind=kind.name,
                    member=holder,
                    capacity=kind.capacity,
                    start=body.start,
                    end=body.end,
                    attrs=body.attrs,
                )
                .returning(_f.id)
            ).scalar_one()
            queue_status_change(
                conn,
                change_type="status.opened",
                holder=holder,
                insz=body.insz,
                kind=kind.name,
                file_key=f"file-{new_id}",
                start=body.start,
                end=body.end,
                attrs=body.attrs,
                effective=body.start,
            )
            tell_managing()
            try:
                registered = hub.register(
                    {
                        "institution": holder,
                        "insz": body.insz,
                        "capacity": kind.capacity,
                        "period": {"start": body.start.isoformat(), "end": _iso(body.end)},
                        "proof": body.proof.model_dump(mode="json", exclude_none=True),
                    }
                )
            except (DirectoryRefused, DirectoryUnavailable) as exc:
                raise _directory_error(exc, "hub") from exc
        row = conn.execute(select(file_table).where(_f.id == new_id)).one()
    return FileReply(file=file_out(row), directory=registered)


def close_file(
    engine: Engine,
    *,
    file_id: int,
    body: CloseIn,
    hub: HubDirectory,
    managing: ManagingDirectory | None = None,
    member: str | None = None,
) -> FileReply:
    """Close an open file on ``body.end`` and end the integration in the persons directory.

    The hub is asked to UNREGISTER only when no other file of the holder in the same capacity stays active
    after that day (the directory keeps one line per capacity). A directory that has no active line any more
    (``NO_INSCRIPTION``) does not prevent closing the file; any other refusal, or an unreachable hub, keeps
    the file open.
    """
    _require_hub(hub)
    query = select(file_table).where(_f.id == file_id)
    if member is not None:
        query = query.where(_f.member == member)
    with engine.connect() as conn:
        with conn.begin():
            row = conn.execute(query).first()
        if row is None:
            raise FileError(404, "FILE_NOT_FOUND", f"no file {file_id} here")
        if row.end is not None:
            raise FileError(409, "FILE_CLOSED", f"file {file_id} was already closed on {row.end}")
        if body.end < row.start:
            raise FileError(422, "INVALID_PERIOD", f"end {body.end} is before the file's start {row.start}")
        answer: dict[str, Any] | None = None
        with _file_transaction(conn, managing, insz=row.insz, member=row.member) as tell_managing:
            changed = conn.execute(
                update(file_table).where(_f.id == file_id, _f.end.is_(None)).values(end=body.end)
            ).rowcount
            if changed != 1:
                raise FileError(409, "FILE_CLOSED", f"file {file_id} was closed meanwhile")
            queue_status_change(
                conn,
                change_type="status.closed",
                holder=row.member,
                insz=row.insz,
                kind=row.kind,
                file_key=row.key or f"file-{row.id}",
                start=row.start,
                end=body.end,
                attrs=row.attrs,
                effective=body.end,
            )
            still_active = conn.execute(
                select(func.count()).where(
                    _f.insz == row.insz,
                    _f.member == row.member,
                    _f.capacity == row.capacity,
                    _f.id != file_id,
                    or_(_f.end.is_(None), _f.end > body.end),
                )
            ).scalar_one()
            tell_managing()
            if not still_active:
                try:
                    answer = hub.unregister(
                        {
                            "institution": row.member,
                            "insz": row.insz,
                            "capacity": row.capacity,
                            "period": {"start": row.start.isoformat(), "end": body.end.isoformat()},
                            "proof": body.proof.model_dump(mode="json", exclude_none=True),
                        }
                    )
                except DirectoryRefused as exc:
                    if exc.code != "NO_INSCRIPTION":
                        raise _directory_error(exc, "hub") from exc
                    answer = {"action": "UNREGISTER", "closed": [], "note": exc.message}
                except DirectoryUnavailable as exc:
                    raise _directory_error(exc, "hub") from exc
        closed = conn.execute(select(file_table).where(_f.id == file_id)).one()
    return FileReply(file=file_out(closed), directory=answer)


# ------------------------------------------------------------------------------ files addressed by a key


def _later_end(a: dt.date | None, b: dt.date | None) -> bool:
    """Whether end ``a`` is after end ``b`` (None = open, the latest of all)."""
    if a is None:
        return b is not None
    return b is not None and a > b


def _unregister_tolerant(hub: HubDirectory, body: dict[str, Any]) -> dict[str, Any]:
    """UNREGISTER; a directory that has no active line any more is not an error (as in :func:`close_file`)."""
    try:
        return hub.unregister(body)
    except DirectoryRefused as exc:
        if exc.code != "NO_INSCRIPTION":
            raise _directory_error(exc, "hub") from exc
        return {"action": "UNREGISTER", "closed": [], "note": exc.message}
    except DirectoryUnavailable as exc:
        raise _directory_error(exc, "hub") from exc


def sync_directory(
    hub: HubDirectory,
    *,
    institution: str,
    insz: str,
    capacity: int,
    before: Span | None,
    after: Span | None,
    proof: dict[str, Any],
) -> dict[str, Any] | None:
    """Bring the holder's directory line in one capacity from the span ``before`` to ``after``.

    The directory merges what is registered and closes what is unregistered, it never narrows a start nor
    removes a line: a wider span is REGISTERed, an earlier end is an UNREGISTER on that end, and no file left
    in the capacity an UNREGISTER on the first day of the old span (the closest the directory comes to
    removing the line). A later start is not told (the line stays wider: harmless, the source then answers
    "no data"). None when nothing changes; the hub's answer, or both answers (``REGISTER+UNREGISTER``).
    """
    if before == after:
        return None
    answers: list[dict[str, Any]] = []
    base = {"institution": institution, "insz": insz, "capacity": capacity, "proof": proof}
    if after is None:
        assert before is not None
        day = before[0].isoformat()
        return _unregister_tolerant(hub, {**base, "period": {"start": day, "end": day}})
    period = {"start": after[0].isoformat(), "end": _iso(after[1])}
    if before is None or after[0] < before[0] or _later_end(after[1], before[1]):
        try:
            answers.append(hub.register({**base, "period": period}))
        except (DirectoryRefused, DirectoryUnavailable) as exc:
            raise _directory_error(exc, "hub") from exc
    if before is not None and after[1] is not None and _later_end(before[1], after[1]):
        answers.append(_unregister_tolerant(hub, {**base, "period": period}))
    if not answers:
        return None
    if len(answers) == 1:
        return answers[0]
    return {"action": "REGISTER+UNREGISTER", "register": answers[0], "unregister": answers[1]}


def _holder_of(definition: SourceDef, member: str | None, given: str | None) -> str:
    """The institution holding a file: the member of the route, the one named, or the only one."""
    if member is not None:
        if given not in (None, member):
            raise FileError(422, "WRONG_MEMBER", f"this is the service of {member}, not of {given}")
        return member
    if given is None:
        if definition.several:
            raise FileError(
                422,
                "MEMBER_REQUIRED",
                "name the holding institution (member)",
                institutions=list(definition.institutions),
            )
        return definition.institutions[0]
    if given not in definition.institutions:
        raise FileError(
            422,
            "UNKNOWN_MEMBER",
            f"{definition.name} does not hold files for {given}",
            institutions=list(definition.institutions),
        )
    return given


def _check_key(key: str) -> None:
    if not key or len(key) > 128 or not key.isprintable() or key.strip() != key:
        raise FileError(422, "INVALID_KEY", "a key is 1 to 128 printable characters, no surrounding spaces")


def _by_key(kind: str, member: str, key: str) -> Any:
    return select(file_table).where(_f.kind == kind, _f.member == member, _f.key == key)


def put_file(
    engine: Engine,
    *,
    definition: SourceDef,
    kind: str,
    key: str,
    body: KeyedFileIn,
    hub: HubDirectory,
    managing: ManagingDirectory | None = None,
    member: str | None = None,
) -> KeyedFileReply:
    """``PUT /files/{kind}/{key}``: the file named ``key`` must be as ``body`` says.

    A new key opens the file and registers the person (as :func:`open_file`: nothing kept when the hub
    refuses); a known key is amended (period, attributes) and the directory line of that capacity follows
    its new span (:func:`sync_directory`); the same content again changes nothing and calls nobody (a
    repeated delivery). A key already used for another person is a 409 (``KEY_CONFLICT``), a cancelled key
    too (``FILE_CANCELLED``).
    """
    _check_key(key)
    kind_def, holder = check_file(
        definition,
        FileIn(
            insz=body.insz,
            kind=kind,
            start=body.start,
            end=body.end,
            attrs=body.attrs,
            member=body.member,
            proof=body.proof,
        ),
        member,
    )
    _require_hub(hub)
    try:
        return _put_file(engine, kind=kind_def, holder=holder, key=key, body=body, hub=hub, managing=managing)
    except IntegrityError:
        # the same key was opened meanwhile by a concurrent delivery: now it is an amendment (or nothing)
        return _put_file(engine, kind=kind_def, holder=holder, key=key, body=body, hub=hub, managing=managing)


def _put_file(
    engine: Engine,
    *,
    kind: KindDef,
    holder: str,
    key: str,
    body: KeyedFileIn,
    hub: HubDirectory,
    managing: ManagingDirectory | None,
) -> KeyedFileReply:
    proof = body.proof.model_dump(mode="json", exclude_none=True)
    with engine.connect() as conn:
        with conn.begin():
            cancelled = conn.execute(
                select(_c.id).where(_c.kind == kind.name, _c.member == holder, _c.key == key)
            ).first()
        if cancelled is not None:
            raise FileError(409, "FILE_CANCELLED", f"the {kind.name} file {key!r} was cancelled")
        answer: dict[str, Any] | None = None
        with _file_transaction(conn, managing, insz=body.insz, member=holder) as tell_managing:
            row = conn.execute(_by_key(kind.name, holder, key).with_for_update()).first()
            before: Span | None = None
            if row is None:
                file_id = conn.execute(
                    insert(file_table)
                    .values(
                        insz=body.insz,
                        kind=kind.name,
                        member=holder,
                        capacity=kind.capacity,
                        start=body.start,
                        end=body.end,
                        attrs=body.attrs,
                        key=key,
                    )
                    .returning(_f.id)
                ).scalar_one()
                change = "created"
            else:
                if row.insz != body.insz:
                    raise FileError(
                        409, "KEY_CONFLICT", f"the {kind.name} file {key!r} is about another person"
                    )
                file_id = row.id
                if (row.start, row.end, row.attrs or {}) == (body.start, body.end, body.attrs):
                    return KeyedFileReply(file=file_out(row), directory=None, change="unchanged")
                before = member_span(conn, insz=body.insz, member=holder, capacity=kind.capacity)
                conn.execute(
                    update(file_table)
                    .where(_f.id == row.id)
                    .values(start=body.start, end=body.end, attrs=body.attrs)
                )
                change = "amended"
            queue_status_change(
                conn,
                change_type="status.opened" if change == "created" else "status.amended",
                holder=holder,
                insz=body.insz,
                kind=kind.name,
                file_key=key,
                start=body.start,
                end=body.end,
                attrs=body.attrs,
                effective=body.start,
            )
            tell_managing()
            if change == "created":
                # as POST /files: the hub is always asked (it checks the proof and answers the overlaps)
                try:
                    answer = hub.register(
                        {
                            "institution": holder,
                            "insz": body.insz,
                            "capacity": kind.capacity,
                            "period": {"start": body.start.isoformat(), "end": _iso(body.end)},
                            "proof": proof,
                        }
                    )
                except (DirectoryRefused, DirectoryUnavailable) as exc:
                    raise _directory_error(exc, "hub") from exc
            else:
                # a new file only widens the span (the hub merges it); an amendment may narrow it
                answer = sync_directory(
                    hub,
                    institution=holder,
                    insz=body.insz,
                    capacity=kind.capacity,
                    before=before,
                    after=member_span(conn, insz=body.insz, member=holder, capacity=kind.capacity),
                    proof=proof,
                )
        row = conn.execute(select(file_table).where(_f.id == file_id)).one()
    return KeyedFileReply(file=file_out(row), directory=answer, change=change)


def cancel_file(
    engine: Engine,
    *,
    definition: SourceDef,
    kind: str,
    key: str,
    body: CancelIn,
    hub: HubDirectory,
    managing: ManagingDirectory | None = None,
    member: str | None = None,
    now: Callable[[], dt.datetime] = _utc_now,
) -> KeyedFileReply:
    """``POST /files/{kind}/{key}/cancel``: remove the file named ``key`` (a Dimona Cancel).

    The directory line of its capacity follows the span of the holder's other files (closed on its first
    day when none is left, :func:`sync_directory`). The key and the answer are kept: a repeated cancel gets
    the same answer; an unknown key is a 404 (``FILE_NOT_FOUND``).
    """
    _check_key(key)
    if kind not in definition.kinds:
        raise FileError(
            422,
            "UNKNOWN_KIND",
            f"{definition.name} holds no files of kind {kind!r}",
            kinds=sorted(definition.kinds),
        )
    holder = _holder_of(definition, member, body.member)
    _require_hub(hub)
    proof = body.proof.model_dump(mode="json", exclude_none=True)

    def earlier() -> KeyedFileReply | None:
        with engine.connect() as conn:
            reply = conn.execute(
                select(_c.reply).where(_c.kind == kind, _c.member == holder, _c.key == key)
            ).scalar()
        return None if reply is None else KeyedFileReply.model_validate(reply)

    if (done := earlier()) is not None:
        return done
    with engine.connect() as conn:
        with conn.begin():
            row = conn.execute(_by_key(kind, holder, key)).first()
        if row is None:
            raise FileError(404, "FILE_NOT_FOUND", f"no {kind} file with key {key!r} here")
        try:
            with _file_transaction(conn, managing, insz=row.insz, member=holder) as tell_managing:
                before = member_span(conn, insz=row.insz, member=holder, capacity=row.capacity)
                removed = conn.execute(delete(file_table).where(_f.id == row.id)).rowcount
                if removed != 1:
                    raise FileError(409, "FILE_CHANGED", f"the {kind} file {key!r} changed meanwhile; retry")
                queue_status_change(
                    conn,
                    change_type="status.cancelled",
                    holder=holder,
                    insz=row.insz,
                    kind=kind,
                    file_key=key,
                    start=row.start,
                    end=row.end,
                    attrs=row.attrs,
                    effective=row.start,
                )
                after = member_span(conn, insz=row.insz, member=holder, capacity=row.capacity)
                tell_managing()
                answer = sync_directory(
                    hub,
                    institution=holder,
                    insz=row.insz,
                    capacity=row.capacity,
                    before=before,
                    after=after,
                    proof=proof,
                )
                reply = KeyedFileReply(file=file_out(row), directory=answer, change="cancelled")
                conn.execute(
                    insert(cancelled_table).values(
                        kind=kind,
                        member=holder,
                        key=key,
                        insz=row.insz,
                        cancelled_at=now(),
                        reply=reply.model_dump(mode="json"),
                    )
                )
        except (IntegrityError, FileError) as exc:
            if isinstance(exc, FileError) and exc.code != "FILE_CHANGED":
                raise
            if (done := earlier()) is not None:  # a concurrent cancel got there first
                return done
            raise
    return reply


# --------------------------------------------------------------------------------- declarations received


def receive_declaration(
    engine: Engine,
    *,
    definition: SourceDef,
    handler: DeclarationHandler,
    insz: str,
    request: DeclarationRequest,
    holder: str | None,
    hub: HubDirectory,
    managing: ManagingDirectory | None = None,
) -> dict[str, Any]:
    """Store a declaration sent to the institution as a file of the handler's kind and integrate the person.

    The file's key is the declaration id, its start the risk date (open), its attributes the declaration
    without the proof. The person is registered in the persons directory with the kind's capacity, in the
    same step as :func:`open_file` (nothing kept when the hub refuses). A declaration id already received
    is answered the same without a second write: a repeated delivery changes nothing. Returns the reply data
    ``{"received": {kind, key, capacity, start}}``.
    """
    kind = definition.kinds[handler.kind]
    member = _holder_of(definition, None, holder)
    key = request.declaration_id
    attrs = {
        "declaration_id": key,
        "risk_date": request.risk_date.isoformat(),
        **(request.model_extra or {}),
    }
    unknown = sorted(set(attrs) - set(kind.attrs))
    if unknown:
        raise FileError(
            422,
            "UNKNOWN_ATTRIBUTE",
            f"a {kind.name} declaration has no {', '.join(unknown)}",
            attrs=list(kind.attrs),
        )
    if (path := _floats(attrs, "request")) is not None:
        raise FileError(422, "FLOAT_ATTRIBUTE", f"{path} is a float; use integers (cents) or strings")
    _require_hub(hub)

    def received(start: dt.date) -> dict[str, Any]:
        return {
            "received": {
                "kind": kind.name,
                "key": key,
                "capacity": kind.capacity,
                "start": start.isoformat(),
            }
        }

    def earlier(conn: Connection) -> dict[str, Any] | None:
        with conn.begin():
            row = conn.execute(_by_key(kind.name, member, key)).first()
        if row is None:
            return None
        if row.insz != insz:
            raise FileError(409, "KEY_CONFLICT", f"declaration {key!r} was received about another person")
        return received(row.start)

    with engine.connect() as conn:
        if (done := earlier(conn)) is not None:
            return done
        try:
            with _file_transaction(conn, managing, insz=insz, member=member) as tell_managing:
                conn.execute(
                    insert(file_table).values(
                        insz=insz,
                        kind=kind.name,
                        member=member,
                        capacity=kind.capacity,
                        start=request.risk_date,
                        end=None,
                        attrs=attrs,
                        key=key,
                    )
                )
                tell_managing()
                try:
                    hub.register(
                        {
                            "institution": member,
                            "insz": insz,
                            "capacity": kind.capacity,
                            "period": {"start": request.risk_date.isoformat(), "end": None},
                            "proof": request.proof.model_dump(mode="json", exclude_none=True),
                        }
                    )
                except (DirectoryRefused, DirectoryUnavailable) as exc:
                    raise _directory_error(exc, "hub") from exc
        except IntegrityError:
            if (done := earlier(conn)) is not None:  # a concurrent delivery of the same declaration
                return done
            raise
    return received(request.risk_date)


# ------------------------------------------------------------------------------------ member directory


def members_knowing(conn: Connection, *, insz: str) -> list[str]:
    """The members with a span on the person (any period), by KBO."""
    return list(conn.execute(select(_m.member).where(_m.insz == insz).order_by(_m.member)).scalars().all())


def set_member_span(
    conn: Connection, *, insz: str, member: str, span: tuple[dt.date, dt.date | None] | None
) -> None:
    """Replace the member's span on the person (None: remove it)."""
    conn.execute(delete(member_line_table).where(_m.insz == insz, _m.member == member))
    if span is not None:
        conn.execute(insert(member_line_table).values(insz=insz, member=member, start=span[0], end=span[1]))


# ------------------------------------------------------------------------------------------------ meta


def get_meta(conn: Connection) -> dict[str, str]:
    return tables.read_meta(conn, meta_table)


def set_meta(conn: Connection, values: Mapping[str, str]) -> None:
    tables.write_meta(conn, meta_table, values)


def count_files(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(file_table)).scalar_one())


def count_member_lines(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(member_line_table)).scalar_one())


def clear(conn: Connection) -> None:
    """Delete every row (files, cancelled keys, attestations, member lines, meta)."""
    for table in (file_table, cancelled_table, attestation_table, member_line_table, meta_table):
        conn.execute(delete(table))
