"""Routes of the employers service for Dimona (like Dimona v2 REST), Dimona XML files, and the receipts and
notifications of every submission.

* ``POST /declarations`` — one declaration as JSON (``dimonaIn`` / ``dimonaOut`` / ``dimonaUpdate`` /
  ``dimonaCancel`` / ``dailyRegistration``): ``201`` with ``Location: /declarations/{id}`` and the body of
  the GET — refused (B) declarations too, as the real API does; a body that is not JSON or not of that
  shape is answered ``400``/``422`` without storing anything.
* ``GET /declarations/{id}`` — the result (A/W/B), the period and the anomalies.
* ``POST /dimona/files`` — a ``Dimona_20231.xsd`` file, 1..n Forms, each its own declaration; refused whole
  (ACRF ResultCode 0, ``400``) when it cannot be read or breaks the schema.
* ``GET /submissions/{ticket}`` (JSON), ``…/acrf`` (ACRF001) and ``…/notification`` (NOTI001) for every
  kind of submission (Dimona, DmfA, DRS).

Thin: the rules are :mod:`kruispunt.employers.dimona`, the files :mod:`~kruispunt.employers.dimona_xml`, the
documents :mod:`~kruispunt.employers.notifications`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import uuid
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Header, Path, Query, Request
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from sqlalchemy import Row
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from kruispunt.core.web import FILE_NAME_PATTERN, BodyTooLarge, JSONResponse, error_body, read_body_limited
from kruispunt.employers import codes, dimona, dimona_xml, notifications, service
from kruispunt.employers.anomalies import as_json
from kruispunt.employers.context import EmployersContext
from kruispunt.employers.dimona import FORM, DimonaDeclaration, Kind, Outcome
from kruispunt.employers.errors import DeclarationRefused, no_declarant
from kruispunt.employers.writer import DimonaWriter
from kruispunt.employers.xmlsafe import XmlRefused

DIMONA_MAX_FILE_BYTES = 64 * 1024 * 1024
"""A Dimona file is read whole (one Form per declaration): at most this much, or ``ctx.max_file_bytes``."""
MAX_ID = 2**63 - 1

# ------------------------------------------------------------------------------------------ JSON model

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date(value: Any) -> dt.date:
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise ValueError("a date is a string YYYY-MM-DD")
    return dt.date.fromisoformat(value)


def _number_text(value: Any) -> Any:
    """Ids are numbers in Dimona v2 and strings of digits here: both are taken."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    return value


IsoDate = Annotated[dt.date, BeforeValidator(_iso_date)]
Hhmm = Annotated[str, StringConstraints(pattern=r"^(([01]\d)|(2[0-3]))[0-5]\d$")]
PeriodId = Annotated[
    str,
    BeforeValidator(_number_text),
    StringConstraints(pattern=r"^\d{1,12}$"),
    Field(description="12 digits"),
]
Planned = Annotated[int, Field(strict=True, ge=1, le=999)]


def _one_of(allowed: frozenset[str], what: str) -> Any:
    def check(value: str) -> str:
        if value not in allowed:
            raise ValueError(f"{what} is one of {', '.join(sorted(allowed))}")
        return value

    return AfterValidator(check)


WorkerType = Annotated[
    str,
    _one_of(codes.DIMONA_WORKER_TYPES, "workerType"),
    WithJsonSchema({"type": "string", "enum": sorted(codes.DIMONA_WORKER_TYPES)}),
]
JointCommittee = Annotated[
    str,
    _one_of(codes.DIMONA_JOINT_COMMITTEES, "jointCommissionNumber"),
    WithJsonSchema({"type": "string", "enum": sorted(codes.DIMONA_JOINT_COMMITTEES)}),
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EmployerIn(_Body):
    enterpriseNumber: (
        Annotated[str, BeforeValidator(_number_text), StringConstraints(pattern=r"^\d{9,10}$")] | None
    ) = None
    nossRegistrationNumber: (
        Annotated[str, BeforeValidator(_number_text), StringConstraints(pattern=r"^\d{5,10}$")] | None
    ) = None

    @model_validator(mode="after")
    def _one(self) -> EmployerIn:
        if self.enterpriseNumber is None and self.nossRegistrationNumber is None:
            raise ValueError("give enterpriseNumber or nossRegistrationNumber")
        return self


class WorkerIn(_Body):
    ssin: Annotated[str, StringConstraints(pattern=r"^\d{11}$")]


class FeaturesIn(_Body):
    workerType: WorkerType
    jointCommissionNumber: JointCommittee | None = None


class _Planned(_Body):
    plannedHoursNumber: Planned | None = None
    plannedDaysNumber: Planned | None = None

    @model_validator(mode="after")
    def _choice(self) -> _Planned:
        if self.plannedHoursNumber is not None and self.plannedDaysNumber is not None:
            raise ValueError("plannedHoursNumber or plannedDaysNumber, not both")
        return self


class DimonaInBody(_Planned):
    features: FeaturesIn
    startDate: IsoDate
    startHour: Hhmm | None = None
    endDate: IsoDate | None = None
    endHour: Hhmm | None = None
    studentPlaceOfWork: dict[str, Any] | None = None
    usingEmployer: dict[str, Any] | None = None


class DimonaOutBody(_Body):
    periodId: PeriodId
    endDate: IsoDate
    endHour: Hhmm | None = None


class DimonaUpdateBody(_Planned):
    periodId: PeriodId
    startDate: IsoDate | None = None
    startHour: Hhmm | None = None
    endDate: IsoDate | None = None
    endHour: Hhmm | None = None


class DimonaCancelBody(_Body):
    periodId: PeriodId


class DailyRegistrationBody(_Body):
    attestationStatus: Literal[0, 1, 3] = Field(description="0 create, 1 modify, 3 cancel")
    dailyRegistrationId: PeriodId | None = None
    periodId: PeriodId | None = None
    startDate: IsoDate | None = None
    startHour: Hhmm | None = None
    endDate: IsoDate | None = None
    endHour: Hhmm | None = None


_KINDS: Mapping[str, Kind] = {dimona.REST_KEY[k]: k for k in dimona.KINDS}


class DeclarationIn(_Body):
    """``POST /declarations``: the employer, the worker and exactly one declaration."""

    employer: EmployerIn | None = None
    worker: WorkerIn | None = None
    dimonaIn: DimonaInBody | None = None
    dimonaOut: DimonaOutBody | None = None
    dimonaUpdate: DimonaUpdateBody | None = None
    dimonaCancel: DimonaCancelBody | None = None
    dailyRegistration: DailyRegistrationBody | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> DeclarationIn:
        given = [k for k in _KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"exactly one of {', '.join(_KINDS)}")
        return self

    def declaration(self) -> DimonaDeclaration:
        key = next(k for k in _KINDS if getattr(self, k) is not None)
        part = getattr(self, key)
        values = part.model_dump(exclude_none=True)
        decl = DimonaDeclaration(
            kind=_KINDS[key],
            channel="rest",
            employer_kbo=self.employer.enterpriseNumber if self.employer else None,
            employer_rsz=self.employer.nossRegistrationNumber if self.employer else None,
            insz=self.worker.ssin if self.worker else None,
            period_id=values.get("periodId"),
            registration_id=values.get("dailyRegistrationId"),
            attestation_status=values.get("attestationStatus", 0),
            start=values.get("startDate"),
            start_hour=values.get("startHour"),
            end=values.get("endDate"),
            end_hour=values.get("endHour"),
            planned_hours=values.get("plannedHoursNumber"),
            planned_days=values.get("plannedDaysNumber"),
        )
        if isinstance(part, DimonaInBody):
            decl.worker_type = part.features.workerType
            decl.joint_committee = part.features.jointCommissionNumber
            decl.extra = {
                k: v
                for k, v in (
                    ("studentPlaceOfWork", part.studentPlaceOfWork),
                    ("usingEmployer", part.usingEmployer),
                )
                if v
            }
        return decl


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """The JSON schema with its ``$defs`` put in place (the OpenAPI document has no ``$defs`` of ours)."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return walk(dict(defs[ref.split("/")[-1]]))
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return dict(walk(schema))


# -------------------------------------------------------------------------------------------- answers


def _declarant(value: str | None) -> str:
    try:
        found = service.valid_declarant(value)
    except DeclarationRefused as exc:
        raise exc.http() from exc
    if found is None:
        raise no_declarant().http()
    return found


def _links(ticket: str) -> dict[str, str]:
    return {
        "submission": f"/submissions/{ticket}",
        "acrf": f"/submissions/{ticket}/acrf",
        "notification": f"/submissions/{ticket}/notification",
    }


def declaration_json(row: Row[Any]) -> dict[str, Any]:
    """``GET /declarations/{id}``: the declaration's status as Dimona v2 gives it, and where it went."""
    return {
        "declarationId": int(row.id),
        "ticket": row.ticket,
        "sequence": int(row.sequence),
        "kind": row.kind,
        "employer": row.employer_kbo,
        "declarant": row.declarant_kbo,
        "worker": {"ssin": row.insz} if row.insz else None,
        "receivedAt": _iso(row.received_at),
        "declarationStatus": {
            "result": row.result,
            "period": {"id": row.period_id} if row.period_id else None,
            "anomalies": list(row.anomalies or []),
        },
        "delivery": row.delivery,
        "links": _links(row.ticket),
    }


def _iso(value: dt.datetime) -> str:
    return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).isoformat()


def _log_ticket(ticket: str, sequence: int) -> str:
    """The declarations log wants one ticket per entry: the submission's for its first declaration, a
    name-based UUID of it for the others."""
    return ticket if sequence == 1 else str(uuid.uuid5(uuid.UUID(ticket), f"form-{sequence}"))


def _file_error_code(exc: XmlRefused) -> str:
    if "DOCTYPE" in exc.message or "entity" in exc.message:
        return "DOCTYPE_REFUSED"
    if "well-formed" in exc.message:
        return "NOT_WELL_FORMED"
    return "SCHEMA_VIOLATION"


def router(ctx: EmployersContext) -> APIRouter:
    r = APIRouter(tags=["dimona"])
    body_schema = _inline(DeclarationIn.model_json_schema())

    def wake(request: Request) -> None:
        worker = getattr(request.app.state, "delivery", None)
        if worker is not None:
            worker.wake()

    def refuse(exc: DeclarationRefused, *, kind: str, declarant: str, insz: str | None) -> Exception:
        employer = exc.details.get("employer")
        ctx.log.refused(
            kind=kind,
            declarant=declarant,
            employer=str(employer) if employer else None,
            insz=insz,
            code=exc.code,
        )
        return exc.http()

    # ------------------------------------------------------------------------------------------ REST

    writer = DimonaWriter(ctx)
    ctx.closers.append(writer.close)

    def answer_of(decl: DimonaDeclaration, ticket: str, out: Outcome, declarant: str) -> dict[str, Any]:
        return {
            "declarationId": out.declaration_id,
            "ticket": ticket,
            "sequence": 1,
            "kind": decl.kind,
            "employer": out.employer_kbo,
            "declarant": declarant,
            "worker": {"ssin": out.insz} if out.insz else None,
            "receivedAt": service.utc_now().isoformat(),
            "declarationStatus": {
                "result": out.result,
                "period": {"id": out.period_id} if out.period_id else None,
                "anomalies": as_json(out.anomalies),
            },
            "delivery": None,
            "links": _links(ticket),
        }

    @r.post(
        "/declarations",
        status_code=201,
        summary="One Dimona declaration (In, Out, Update, Cancel, daily registration), like Dimona v2",
        openapi_extra={
            "requestBody": {"required": True, "content": {"application/json": {"schema": body_schema}}}
        },
        responses={201: {"description": "stored: result A, W or B (refused) with its anomalies"}},
    )
    async def declare(request: Request, x_kruispunt_declarant: str | None = Header(default=None)) -> Response:
        declarant = _declarant(x_kruispunt_declarant)
        raw = await request.body()
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            return JSONResponse(error_body("MALFORMED_JSON", f"the body is not JSON: {exc}"), status_code=400)
        try:
            body = DeclarationIn.model_validate(data)
        except ValidationError as exc:
            errors = [
                {
                    "loc": [str(p) for p in e.get("loc", ())],
                    "msg": str(e.get("msg", "")),
                    "type": e.get("type"),
                }
                for e in exc.errors(include_url=False, include_input=False, include_context=False)
            ]
            return JSONResponse(
                error_body("INVALID_REQUEST", "the declaration does not match the schema", errors=errors),
                status_code=422,
            )
        decl = body.declaration()
        ticket, future = writer.submit(decl, declarant)
        try:
            out = await asyncio.wrap_future(future)
        except DeclarationRefused as exc:  # logged by the writer
            raise exc.http() from exc
        answer = answer_of(decl, ticket, out, declarant)
        wake(request)
        return JSONResponse(
            answer, status_code=201, headers={"Location": f"/declarations/{answer['declarationId']}"}
        )

    @r.get("/declarations/{declaration_id}", summary="A declaration's result, period and anomalies")
    def read_declaration(
        declaration_id: Annotated[int, Path(ge=1, le=MAX_ID)],
        x_kruispunt_declarant: str | None = Header(default=None),
    ) -> Response:
        declarant = _declarant(x_kruispunt_declarant)
        with ctx.engine.connect() as conn:
            row = service.get_declaration(conn, declaration_id)
        if row is None:
            raise DeclarationRefused(404, "UNKNOWN_DECLARATION", f"no declaration {declaration_id}").http()
        if declarant not in (row.declarant_kbo, row.employer_kbo):
            raise DeclarationRefused(
                403, "NOT_YOURS", "only the declarant or the employer reads a declaration"
            ).http()
        return JSONResponse(declaration_json(row))

    # ------------------------------------------------------------------------------------------ files

    def receive_file(data: bytes, declarant: str, filename: str | None) -> Response:
        ticket = service.new_ticket()
        today = ctx.today()
        try:
            decls = dimona_xml.parse_dimona_file(data)
        except XmlRefused as exc:
            error = {"code": _file_error_code(exc), **exc.as_json()}
            with dimona.transaction(ctx.engine) as conn:
                service.open_submission(
                    conn,
                    channel="xml",
                    form=FORM,
                    declarant_kbo=declarant,
                    filename=filename,
                    ticket=ticket,
                    result_code=0,
                    errors=[error],
                )
            ctx.log.record(
                ticket=ticket,
                kind=FORM,
                declarant=declarant,
                employer=None,
                insz=None,
                result="B",
                reason=error["code"],
            )
            body = error_body(error["code"], exc.message, ticket=ticket, line=exc.line, column=exc.column)
            return JSONResponse(
                {**body, "ticket": ticket, "resultCode": 0, "links": _links(ticket)}, status_code=400
            )
        with ctx.engine.connect() as conn:
            for decl in decls:
                refusal = dimona.mandate_refusal(conn, decl, declarant_kbo=declarant, today=today)
                if refusal is not None:
                    raise refuse(refusal, kind=FORM, declarant=declarant, insz=None)
        with dimona.transaction(ctx.engine) as conn:
            dimona.open_receipt(
                conn, ticket=ticket, channel="xml", declarant_kbo=declarant, filename=filename
            )
        answers: list[dict[str, Any]] = []
        refused = 0
        for sequence, decl in enumerate(decls, start=1):
            try:
                with dimona.transaction(ctx.engine) as conn:
                    # progress first: on SQLite this write takes the lock the rules then read under
                    service.close_submission(conn, ticket=ticket, declarations=sequence - 1, refused=refused)
                    out = dimona.process(
                        conn,
                        declaration=decl,
                        ticket=ticket,
                        sequence=sequence,
                        declarant_kbo=declarant,
                        today=today,
                    )
            except DeclarationRefused as exc:  # a mandate ended while the file was read
                refuse(exc, kind=decl.kind, declarant=declarant, insz=decl.insz)
                refused += 1
                answers.append(
                    {"sequence": sequence, "id": None, "kind": decl.kind, "result": "B", "error": exc.code}
                )
                continue
            refused += out.result == "B"
            ctx.log.record(
                ticket=_log_ticket(ticket, sequence),
                kind=decl.kind,
                declarant=declarant,
                employer=out.employer_kbo,
                insz=out.insz,
                result=out.result,
                reason=service.first_blocking(out.anomalies),
            )
            answers.append(
                {
                    "sequence": sequence,
                    "id": out.declaration_id,
                    "kind": decl.kind,
                    "result": out.result,
                    "periodId": out.period_id,
                    "anomalies": as_json(out.anomalies),
                }
            )
        with dimona.transaction(ctx.engine) as conn:
            service.close_submission(conn, ticket=ticket, declarations=len(decls), refused=refused)
        return JSONResponse(
            {"ticket": ticket, "resultCode": 1, "declarations": answers, "links": _links(ticket)},
            status_code=201,
            headers={"Location": f"/submissions/{ticket}"},
        )

    @r.post(
        "/dimona/files",
        status_code=201,
        summary="A Dimona file (Dimona_20231.xsd, one or more Forms): each Form one declaration",
        openapi_extra={"requestBody": {"content": {"application/xml": {"schema": {"type": "string"}}}}},
    )
    async def upload(
        request: Request,
        x_kruispunt_declarant: str | None = Header(default=None),
        filename: str | None = Query(default=None, max_length=255, pattern=FILE_NAME_PATTERN),
    ) -> Response:
        declarant = _declarant(x_kruispunt_declarant)
        limit = min(ctx.max_file_bytes, DIMONA_MAX_FILE_BYTES)
        try:
            data = await read_body_limited(request, limit)
        except BodyTooLarge:
            return JSONResponse(
                error_body("BODY_TOO_LARGE", f"a Dimona file is at most {limit} bytes"), status_code=413
            )
        answer = await run_in_threadpool(receive_file, data, declarant, filename)
        wake(request)
        return answer

    # ------------------------------------------------------------------------------------ submissions

    def submission_of(ticket: str, declarant_header: str | None) -> tuple[Row[Any], list[Row[Any]]]:
        declarant = _declarant(declarant_header)
        with ctx.engine.connect() as conn:
            row = service.get_submission(conn, ticket)
            declarations = service.declarations_of(conn, ticket) if row is not None else []
        if row is None:
            raise DeclarationRefused(404, "UNKNOWN_SUBMISSION", f"no submission {ticket}").http()
        if declarant != row.declarant_kbo and all(d.employer_kbo != declarant for d in declarations):
            raise DeclarationRefused(
                403, "NOT_YOURS", "only the declarant or the employer reads a submission"
            ).http()
        return row, declarations

    @r.get("/submissions/{ticket}", tags=["submissions"], summary="A receipt and its declarations")
    def read_submission(
        ticket: Annotated[str, Path(max_length=64)], x_kruispunt_declarant: str | None = Header(default=None)
    ) -> Response:
        row, declarations = submission_of(ticket, x_kruispunt_declarant)
        return JSONResponse(
            {
                "ticket": row.ticket,
                "channel": row.channel,
                "form": row.form,
                "declarant": row.declarant_kbo,
                "filename": row.filename,
                "receivedAt": _iso(row.received_at),
                "resultCode": int(row.result_code),
                "errors": list(row.errors or []),
                "declarationCount": int(row.declarations),
                "refused": int(row.refused),
                "declarations": [
                    {
                        "sequence": int(d.sequence),
                        "id": int(d.id),
                        "kind": d.kind,
                        "employer": d.employer_kbo,
                        "result": d.result,
                        "periodId": d.period_id,
                        "anomalies": list(d.anomalies or []),
                    }
                    for d in declarations
                ],
                "links": _links(row.ticket),
            }
        )

    @r.get(
        "/submissions/{ticket}/acrf",
        tags=["submissions"],
        summary="The acknowledgement of receipt (ACRF001, ACRF_20231.xsd)",
        response_class=Response,
    )
    def read_acrf(
        ticket: Annotated[str, Path(max_length=64)], x_kruispunt_declarant: str | None = Header(default=None)
    ) -> Response:
        row, _ = submission_of(ticket, x_kruispunt_declarant)
        return Response(notifications.acrf_xml(row), media_type="application/xml")

    @r.get(
        "/submissions/{ticket}/notification",
        tags=["submissions"],
        summary="The notification (NOTI001, NOTIFICATION_20223.xsd): every anomaly, the period before/after",
        response_class=Response,
    )
    def read_notification(
        ticket: Annotated[str, Path(max_length=64)], x_kruispunt_declarant: str | None = Header(default=None)
    ) -> Response:
        row, declarations = submission_of(ticket, x_kruispunt_declarant)
        return Response(notifications.notification_xml(row, declarations), media_type="application/xml")

    return r
