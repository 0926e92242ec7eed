"""Routes of the employers service for the DmfA: files (streamed to disk), JSON declarations, modifications,
and reading what is stored (versions, history, a worker's records, the XML export).

Thin: every route ends in :mod:`dmfa` (``process_dmfa_file`` / ``process_dmfa_forms``). An uploaded file is
spooled to ``ctx.spool_dir`` as it arrives (never held in memory, refused past ``ctx.max_file_bytes``), then
read streamed. The JSON bodies are the XML tree with the XML names (``{"EmployerDeclaration": {"Quarter":
"20243", "NOSSRegistrationNbr": 123456789, …, "NaturalPerson": [{"INSS": "…", "WorkerRecord": [...]}]}}``);
their pydantic models are generated from the official XSD, so the two channels cannot drift apart.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from functools import cache
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, ValidationError, create_model
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from kruispunt.core.web import FILE_NAME_PATTERN, JSONResponse
from kruispunt.employers import dmfa, service
from kruispunt.employers import dmfa_xml as dx
from kruispunt.employers.context import EmployersContext
from kruispunt.employers.errors import DeclarationRefused, no_declarant
from kruispunt.employers.xmlsafe import XmlRefused
from kruispunt.ids import InvalidIdentifier, validate_enterprise_number, validate_insz
from kruispunt.sources.common import error_detail

# ------------------------------------------------------------------------------------ JSON models from XSD


@cache
def form_model(kind: dx.Kind) -> type[BaseModel]:
    """The pydantic model of one Form (``EmployerDeclaration`` or ``EmployerDeclarationUpdate`` and the
    Form's own zones), every element of the XSD with its XML name; presence and formats are the XSD's."""
    shape = dx.SHAPES[kind]
    lay = dx.layout(shape.schema)
    prefix = "DmfA" if kind == "original" else "DmfAUpdate"
    built: dict[str, type[BaseModel]] = {}
    config = ConfigDict(extra="forbid")

    def model(tag: str) -> type[BaseModel]:
        if tag in built:
            return built[tag]
        fields: dict[str, Any] = {}
        for child in lay.order[tag]:
            annotation: Any
            if child in lay.order:
                annotation = model(child)
            elif child in lay.ints:
                annotation = int
            else:
                annotation = str
            if child in lay.repeat:
                annotation = list[annotation]
            fields[child] = (annotation | None, None)
        built[tag] = create_model(f"{prefix}{tag}", __config__=config, **fields)
        return built[tag]

    return model("Form")


def _forms_of(body: Any, kind: dx.Kind) -> list[dict[str, Any]]:
    """The Form(s) of a JSON body (one Form, or ``{"Form": [...]}``) as plain dicts; 422 when malformed."""
    model = form_model(kind)
    items = body.get("Form") if isinstance(body, dict) and set(body) == {"Form"} else [body]
    if not isinstance(items, list) or not items:
        raise RequestValidationError(
            [{"loc": ["body", "Form"], "msg": "a list of forms", "type": "list_type"}]
        )
    out = []
    for i, item in enumerate(items):
        try:
            out.append(model.model_validate(item).model_dump(exclude_none=True))
        except ValidationError as exc:
            raise RequestValidationError(
                [{**e, "loc": ("body", i, *e.get("loc", ()))} for e in exc.errors(include_url=False)]
            ) from exc
    return out


# ----------------------------------------------------------------------------------------------- helpers


def _declarant(value: str | None) -> str:
    try:
        found = service.valid_declarant(value)
    except DeclarationRefused as exc:
        raise exc.http() from exc
    if found is None:
        raise no_declarant().http()
    return found


def _kbo(value: str) -> str:
    try:
        return validate_enterprise_number(value)
    except InvalidIdentifier as exc:
        raise DeclarationRefused(400, "INVALID_CBE_NUMBER", f"employer: {exc}").http() from exc


def _quarter(value: str) -> dmfa.Quarter:
    q = dmfa.quarter_of(value)
    if q is None:
        raise DeclarationRefused(
            400, "INVALID_QUARTER", f"quarter {value!r}: YYYYQ (20243) or 2024-Q3"
        ).http()
    return q


def _answer(summary: dmfa.FileSummary) -> JSONResponse:
    body = summary.as_json()
    if summary.result_code == 1:
        return JSONResponse(body, status_code=201)
    error = summary.error or {}
    detail = error_detail(
        str(error.get("code", "SCHEMA_VIOLATION")),
        str(error.get("message", "the document was refused")),
        ticket=summary.ticket,
        line=error.get("line"),
        column=error.get("column"),
    )
    return JSONResponse({**detail, "ticket": summary.ticket, "links": body["links"]}, status_code=400)


class _TooLarge(Exception):
    pass


async def _spool(request: Request, ctx: EmployersContext) -> str:
    """Stream the request body to a file under ``ctx.spool_dir`` (bounded by ``ctx.max_file_bytes``)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > ctx.max_file_bytes:
        raise _TooLarge
    folder = Path(ctx.spool_dir or tempfile.gettempdir())
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="dmfa-", suffix=".xml", dir=folder)
    size = 0
    try:
        with os.fdopen(fd, "wb") as fh:
            async for chunk in request.stream():
                size += len(chunk)
                if size > ctx.max_file_bytes:
                    raise _TooLarge
                fh.write(chunk)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(name)
        raise
    return name


def _too_large(ctx: EmployersContext) -> DeclarationRefused:
    return DeclarationRefused(413, "BODY_TOO_LARGE", f"file larger than {ctx.max_file_bytes} bytes")


# ------------------------------------------------------------------------------------------------ routes


def router(ctx: EmployersContext) -> APIRouter:
    r = APIRouter(tags=["dmfa"])

    def refused(exc: DeclarationRefused, *, kind: str, declarant: str) -> Exception:
        ctx.log.refused(
            kind=kind, declarant=declarant, employer=exc.details.get("employer"), insz=None, code=exc.code
        )
        return exc.http()

    def process_file(path: str, *, declarant: str, update: bool, filename: str | None) -> dmfa.FileSummary:
        kind = dmfa.KIND_UPDATE if update else dmfa.KIND
        try:
            with open(path, "rb") as fh:
                summary = dmfa.process_dmfa_file(
                    ctx.engine,
                    fileobj=fh,
                    declarant_kbo=declarant,
                    today=ctx.today(),
                    filename=filename,
                    update_file=update,
                )
        except DeclarationRefused as exc:
            raise refused(exc, kind=kind, declarant=declarant) from exc
        finally:
            with contextlib.suppress(OSError):
                os.unlink(path)
        dmfa.log_summary(ctx.log, summary, declarant=declarant)
        return summary

    def process_forms(forms: list[dict[str, Any]], *, declarant: str, update: bool) -> dmfa.FileSummary:
        kind = dmfa.KIND_UPDATE if update else dmfa.KIND
        try:
            summary = dmfa.process_dmfa_forms(
                ctx.engine, forms=forms, declarant_kbo=declarant, today=ctx.today(), update_forms=update
            )
        except DeclarationRefused as exc:
            raise refused(exc, kind=kind, declarant=declarant) from exc
        except XmlRefused as exc:
            raise DeclarationRefused(422, "INVALID_REQUEST", exc.message).http() from exc
        dmfa.log_summary(ctx.log, summary, declarant=declarant)
        return summary

    async def receive_file(
        request: Request, declarant: str, *, update: bool, filename: str | None
    ) -> Response:
        try:
            path = await _spool(request, ctx)
        except _TooLarge as exc:
            raise _too_large(ctx).http() from exc
        summary = await run_in_threadpool(
            process_file, path, declarant=declarant, update=update, filename=filename
        )
        return _answer(summary)

    @r.post(
        "/dmfa/files",
        status_code=201,
        summary="A DmfA file (DmfAOriginal XML, one or more Forms), streamed",
        openapi_extra={"requestBody": {"content": {"application/xml": {"schema": {"type": "string"}}}}},
    )
    async def upload(
        request: Request,
        x_kruispunt_declarant: str | None = Header(default=None),
        filename: str | None = Query(default=None, max_length=255, pattern=FILE_NAME_PATTERN),
    ) -> Response:
        declarant = _declarant(x_kruispunt_declarant)
        return await receive_file(request, declarant, update=False, filename=filename)

    @r.post("/dmfa", status_code=201, summary="One DmfA declaration as JSON (the XML tree, XML names)")
    def declare(
        body: Annotated[Any, Body()],
        x_kruispunt_declarant: str | None = Header(default=None),
    ) -> Response:
        declarant = _declarant(x_kruispunt_declarant)
        forms = _forms_of(body, "original")
        return _answer(process_forms(forms, declarant=declarant, update=False))

    @r.post(
        "/dmfa/updates",
        status_code=201,
        summary="A modification (DMFAUPD): DmfAUpdate XML, or its JSON tree",
        openapi_extra={"requestBody": {"content": {"application/xml": {"schema": {"type": "string"}}}}},
    )
    async def modify(
        request: Request,
        x_kruispunt_declarant: str | None = Header(default=None),
        filename: str | None = Query(default=None, max_length=255, pattern=FILE_NAME_PATTERN),
    ) -> Response:
        declarant = _declarant(x_kruispunt_declarant)
        if "json" not in request.headers.get("content-type", ""):
            return await receive_file(request, declarant, update=True, filename=filename)
        try:
            raw = await request.body()
            import orjson

            body = orjson.loads(raw)
        except ValueError as exc:
            raise DeclarationRefused(422, "INVALID_REQUEST", f"not JSON: {exc}").http() from exc
        forms = _forms_of(body, "update")
        summary = await run_in_threadpool(process_forms, forms, declarant=declarant, update=True)
        return _answer(summary)

    def readable(declarant_header: str | None, employer: str) -> str:
        declarant = _declarant(declarant_header)
        with ctx.engine.connect() as conn:
            try:
                service.require_mandate(conn, declarant_kbo=declarant, employer_kbo=employer, on=ctx.today())
            except DeclarationRefused as exc:
                raise refused(exc, kind="DMFA_READ", declarant=declarant) from exc
        return declarant

    @r.get("/dmfa/{employer}/{quarter}", summary="An employer's DmfA for a quarter: every version (history)")
    def read(employer: str, quarter: str, x_kruispunt_declarant: str | None = Header(default=None)) -> Any:
        kbo, q = _kbo(employer), _quarter(quarter)
        readable(x_kruispunt_declarant, kbo)
        with ctx.engine.connect() as conn:
            found = dmfa.versions(conn, employer_kbo=kbo, quarter=q.code)
        if not found:
            raise DeclarationRefused(404, "UNKNOWN_DMFA", f"no DmfA of {kbo} for quarter {q.code}").http()
        current = next((v for v in reversed(found) if not v.superseded), None)
        return {
            "employer": kbo,
            "quarter": q.code,
            "pid": int(found[0].declaration_id),
            "current": int(current.version) if current is not None else None,
            "versions": [
                {
                    "version": int(v.version),
                    "declarationId": int(v.declaration_id),
                    "ticket": v.ticket,
                    "kind": v.kind,
                    "declarant": v.declarant_kbo,
                    "receivedAt": v.received_at.isoformat(),
                    "superseded": bool(v.superseded),
                    "workerRecords": int(v.worker_records),
                    "netOwedCents": int(v.net_owed_cents),
                    "computedOwedCents": int(v.computed_owed_cents),
                }
                for v in found
            ],
        }

    @r.get(
        "/dmfa/{employer}/{quarter}/workers/{insz}",
        summary="A worker's records in an employer's DmfA: the current version and the history",
    )
    def read_worker(
        employer: str, quarter: str, insz: str, x_kruispunt_declarant: str | None = Header(default=None)
    ) -> Any:
        kbo, q = _kbo(employer), _quarter(quarter)
        try:
            number = validate_insz(insz).number
        except InvalidIdentifier as exc:
            raise DeclarationRefused(400, "INVALID_SSIN", f"INSZ: {exc}").http() from exc
        readable(x_kruispunt_declarant, kbo)
        history = []
        with ctx.engine.connect() as conn:
            for v in dmfa.versions(conn, employer_kbo=kbo, quarter=q.code):
                records = dmfa.worker_records(conn, dmfa_id=int(v.id), insz=number)
                history.append(
                    {
                        "version": int(v.version),
                        "superseded": bool(v.superseded),
                        "declarationId": int(v.declaration_id),
                        "records": [
                            {
                                "employerClass": w.employer_class,
                                "workerCode": w.worker_code,
                                "grossCents": int(w.gross_cents),
                                "days": int(w.days),
                                "hours": int(w.hours),
                                "tree": w.tree,
                            }
                            for w in records
                        ],
                    }
                )
        if not any(h["records"] for h in history):
            raise DeclarationRefused(
                404, "UNKNOWN_WORKER", f"{number} is in no DmfA of {kbo} for quarter {q.code}"
            ).http()
        current = next((h for h in reversed(history) if not h["superseded"]), None)
        return {
            "employer": kbo,
            "quarter": q.code,
            "insz": number,
            "current": current,
            "history": history,
        }

    @r.get("/dmfa/{employer}/{quarter}/xml", summary="The current version as DmfAOriginal XML (XSD-valid)")
    def export(
        employer: str, quarter: str, x_kruispunt_declarant: str | None = Header(default=None)
    ) -> Response:
        kbo, q = _kbo(employer), _quarter(quarter)
        readable(x_kruispunt_declarant, kbo)
        with ctx.engine.connect() as conn:
            try:
                data = dx.export_dmfa(conn, employer_kbo=kbo, quarter=q.code)
            except LookupError as exc:
                raise DeclarationRefused(404, "UNKNOWN_DMFA", str(exc)).http() from exc
        return Response(data, media_type="application/xml")

    return r
