"""The enterprise / employer area of the portal: access management, Dimona, DmfA, DRS and notifications.

Why this shape: a person logs in as themselves (an INSZ) and then *acts for* one enterprise, chosen among
those where they hold a position (:mod:`kruispunt.portal.access`); the choice is remembered in a cookie but
re-checked against the database on every request, so a revoked role stops working at once. What a page
may do depends only on the person's positions in that enterprise: a role ``dimona`` opens the Dimona page
and so on; no position, or no role for the page, is a 403 with a clear message, logged.

Declarations go to the employers service over HTTP with ``X-Kruispunt-Declarant: <KBO acted for>``: an
employer declares for itself; a social secretariat (or service provider) acts for itself and names its
client employer in the form, and the employers service checks the mandate. The portal never reads another
enterprise's data on its own: everything shown comes back from the service for that declarant.

Forms are parsed here (urlencoded, and multipart with the standard library's e-mail parser) so that the
portal needs no extra dependency; the CSRF middleware has checked every POST before it arrives.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, get_args
from urllib.parse import urlencode

import httpx
from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from kruispunt.core.db import component_url
from kruispunt.core.settings import get_settings
from kruispunt.employers.codes import DIMONA_JOINT_COMMITTEES, DIMONA_WORKER_TYPES, WORKER_TYPES_ENDED
from kruispunt.employers.codes import MANDATE_ROLES as CODE_MANDATE_ROLES
from kruispunt.employers.drs import Wech001Risk, Zima001Risk
from kruispunt.ids import InvalidIdentifier, validate_enterprise_number, validate_insz
from kruispunt.portal.access import COMPONENT, ROLES, AccessRefused, AccessStore, Positions
from kruispunt.portal.areas import AreaContext
from kruispunt.portal.backend import BackendUnavailable, call_backend, unavailable_page
from kruispunt.portal.forms import form_fields
from kruispunt.portal.sessions import Session, is_secure
from kruispunt.portal.web import error_page, render, require_level, safe_next, translate_of

log = logging.getLogger("kruispunt.portal.employer")

DECLARE_LEVEL = 400
ACCESS_LEVEL = 450
ENTERPRISE_COOKIE = "kp_enterprise"
EMPLOYERS = "employers"
DECLARANT_HEADER = "X-Kruispunt-Declarant"

_USUAL_WORKER_TYPES = ("OTH", "STU", "FLX", "EXT", "DWD")
WORKER_TYPES: tuple[str, ...] = tuple(
    sorted(
        DIMONA_WORKER_TYPES - set(WORKER_TYPES_ENDED),
        key=lambda w: ((*_USUAL_WORKER_TYPES, w).index(w), w),
    )
)
"""Dimona worker types (zone 00655) still in force, the usual ones first (from the employers' code lists)."""
JOINT_COMMITTEES: tuple[str, ...] = tuple(sorted(DIMONA_JOINT_COMMITTEES, key=lambda c: (c != "XXX", c)))
"""The joint committees Dimona distinguishes (XXX: every other sector)."""
MANDATE_ROLES: tuple[int, ...] = tuple(sorted(CODE_MANDATE_ROLES))
WECH001_REASONS: tuple[str, ...] = get_args(Wech001Risk.model_fields["reason"].annotation)
ZIMA001_KINDS: tuple[str, ...] = get_args(Zima001Risk.model_fields["kind"].annotation)
DRS_SCENARIOS: tuple[str, ...] = ("WECH001", "ZIMA001")
_TICKET = re.compile(r"^[A-Za-z0-9-]{1,64}$")
_HHMM = re.compile(r"^(([01]\d)|(2[0-3]))[0-5]\d$")
_PERIOD = re.compile(r"^\d{1,12}$")
MAX_FIELD = 200
LOGGED_ACTIONS: tuple[str, ...] = (
    "appoint_main_manager",
    "appoint_manager",
    "end_manager",
    "grant_role",
    "revoke_role",
    "grant_mandate",
    "end_mandate",
    "act_for",
    "dimona",
    "dmfa",
    "drs",
    "read_submission",
    *(f"use_{r}" for r in (*ROLES, "notifications")),
)
"""The actions the access log names, each with its label ``employer_action_<action>``."""


# ----------------------------------------------------------------------------------------------- forms


class FormError(Exception):
    """A field of a form is not valid: ``key`` is the message, ``values`` fill it."""

    def __init__(self, key: str, **values: Any) -> None:
        super().__init__(key)
        self.key = key
        self.values = values


def _text(fields: Mapping[str, str], name: str) -> str:
    return fields.get(name, "").strip()[:MAX_FIELD]


def _insz_field(fields: Mapping[str, str], name: str = "insz") -> str:
    value = _text(fields, name)
    try:
        return validate_insz(value).number
    except InvalidIdentifier as exc:
        raise FormError("employer_error_insz", reason=str(exc)) from exc


def _kbo_field(fields: Mapping[str, str], name: str) -> str:
    value = _text(fields, name)
    try:
        return validate_enterprise_number(value)
    except InvalidIdentifier as exc:
        raise FormError("employer_error_kbo", reason=str(exc)) from exc


def _date_field(fields: Mapping[str, str], name: str, *, required: bool) -> dt.date | None:
    value = _text(fields, name)
    if not value:
        if required:
            raise FormError("employer_error_date_missing")
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise FormError("employer_error_date", value=value) from exc


def _choice(fields: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str:
    value = _text(fields, name)
    if value not in allowed:
        raise FormError("employer_error_choice")
    return value


# ------------------------------------------------------------------------------------------ the router


@dataclass(frozen=True)
class Acting:
    """A session acting for an enterprise, with its positions there."""

    session: Session
    positions: Positions

    @property
    def kbo(self) -> str:
        return self.positions.enterprise

    @property
    def subject(self) -> str:
        return self.session.subject


def _service_error(answer: httpx.Response) -> tuple[str, str, list[str]]:
    """Code, message and the detailed errors of a 4xx answer of the employers service."""
    try:
        body = answer.json()
    except ValueError:
        return "UNKNOWN", answer.text[:300], []
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        detail = body.get("detail") if isinstance(body, dict) else None
        if isinstance(detail, dict) and isinstance(detail.get("error"), dict):
            error = detail["error"]
        else:
            return "UNKNOWN", str(detail or body)[:300], []
    details = error.get("details") or {}
    errors = details.get("errors") if isinstance(details, dict) else None
    lines = []
    for e in errors or []:
        if isinstance(e, dict):
            where = ".".join(str(p) for p in e.get("loc", []) if p != "body")
            lines.append(f"{where}: {e.get('msg', '')}" if where else str(e.get("msg", "")))
    return str(error.get("code", "UNKNOWN")), str(error.get("message", ""))[:500], lines


def create_router(ctx: AreaContext, *, database_url: str | None = None) -> APIRouter:
    """The employer area's pages over the portal database at ``database_url`` (default: the deployment's
    ``portal`` database, under the portal's data folder on SQLite)."""
    url = database_url or component_url(get_settings().db_url, ctx.data_dir, COMPONENT)
    store = AccessStore.open(url, ctx.roles.legal_representatives)
    router = APIRouter()

    def refusal(request: Request, status: int, key: str, **values: Any) -> Response:
        t = translate_of(request)
        title = "forbidden_title" if status == 403 else "error_title"
        return error_page(request, status, title, t(key, **values))

    def access_refused(request: Request, exc: AccessRefused) -> Response:
        return refusal(request, exc.status, f"employer_refused_{exc.code}")

    def acting(request: Request, level: int, role: str | None) -> Acting | Response:
        """The session and the enterprise it acts for, if it may use ``role`` there (None: any position)."""
        found = require_level(request, level)
        if isinstance(found, Response):
            return found
        enterprises = store.enterprises_of(found.subject)
        wanted = request.cookies.get(ENTERPRISE_COOKIE)
        positions = next((p for p in enterprises if p.enterprise == wanted), None)
        if positions is None and len(enterprises) == 1:
            positions = enterprises[0]
        if positions is None:
            if not enterprises:
                log.warning(
                    "portal: %s refused to %s: no position in any enterprise", request.url.path, found.subject
                )
                return refusal(request, 403, "employer_refused_no_enterprise")
            if request.method != "GET":
                return refusal(request, 403, "employer_refused_choose_first")
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/employer/enterprise?{urlencode({'next': target})}", status_code=303)
        if role is not None and not positions.may_use(role):
            store.refused(actor=found.subject, kbo=positions.enterprise, action=f"use_{role}", code="no_role")
            t = translate_of(request)
            return refusal(
                request,
                403,
                "employer_refused_no_role",
                role=t(f"employer_role_{role}"),
                enterprise=positions.enterprise,
            )
        return Acting(found, positions)

    def page(request: Request, template: str, title_key: str, who: Acting, **context: Any) -> Response:
        return render(
            request,
            template,
            title_key,
            active="employer",
            session=who.session,
            acting=who.positions,
            status_code=context.pop("status_code", 200),
            **context,
        )

    def record(who: Acting, *, employer: str | None, kind: str, ticket: str | None, result: str) -> None:
        if ticket:
            store.record_submission(
                enterprise=who.kbo, employer=employer, by=who.subject, kind=kind, ticket=ticket, result=result
            )

    async def employers(
        request: Request, who: Acting, method: str, path: str, **kwargs: Any
    ) -> httpx.Response:
        headers = {DECLARANT_HEADER: who.kbo, **kwargs.pop("headers", {})}
        return await call_backend(request, EMPLOYERS, method, path, headers=headers, **kwargs)

    def no_mandate(request: Request, who: Acting, *, kind: str, employer: str) -> Response:
        store.refused(actor=who.subject, kbo=who.kbo, action=kind, code="no_mandate", employer=employer)
        return refusal(request, 403, "employer_refused_no_mandate", declarant=who.kbo, employer=employer)

    # ------------------------------------------------------------------------------ the enterprise

    @router.get("/employer/enterprise", include_in_schema=False)
    async def choose(request: Request, next: str = "/employer") -> Response:
        found = require_level(request, DECLARE_LEVEL)
        if isinstance(found, Response):
            return found
        return render(
            request,
            "employer_enterprise.html",
            "employer_enterprise_title",
            active="employer",
            session=found,
            enterprises=store.enterprises_of(found.subject),
            current=request.cookies.get(ENTERPRISE_COOKIE),
            next=safe_next(next),
        )

    @router.post("/employer/enterprise", include_in_schema=False)
    async def act_for(request: Request) -> Response:
        found = require_level(request, DECLARE_LEVEL)
        if isinstance(found, Response):
            return found
        fields, _ = await form_fields(request)
        wanted = _text(fields, "enterprise")
        enterprises = {p.enterprise for p in store.enterprises_of(found.subject)}
        if wanted not in enterprises:
            try:
                kbo = validate_enterprise_number(wanted)
            except InvalidIdentifier:
                log.warning("portal: %s asked to act for %r, not an enterprise number", found.subject, wanted)
                return refusal(request, 400, "employer_error_kbo", reason=wanted[:20])
            store.refused(actor=found.subject, kbo=kbo, action="act_for", code="no_position")
            return refusal(request, 403, "employer_refused_no_position", enterprise=kbo)
        response = RedirectResponse(safe_next(fields.get("next") or "/employer"), status_code=303)
        response.set_cookie(
            ENTERPRISE_COOKIE,
            wanted,
            max_age=8 * 3600,
            path="/employer",
            httponly=True,
            samesite="lax",
            secure=is_secure(request),
        )
        return response

    # ------------------------------------------------------------------------------ access management

    @router.get("/employer/access", include_in_schema=False)
    async def access_page(request: Request, done: str = "") -> Response:
        who = acting(request, ACCESS_LEVEL, None)
        if isinstance(who, Response):
            return who
        me = who.positions
        t = translate_of(request)
        mandates: list[dict[str, Any]] | None = None
        if me.may_use("mandates"):
            try:
                answer = await employers(request, who, "GET", f"/employers/{who.kbo}/mandates")
            except BackendUnavailable as exc:
                return unavailable_page(request, exc)
            mandates = answer.json().get("mandates", []) if answer.status_code == 200 else []
        sees_all = me.legal_representative or me.manages
        return page(
            request,
            "employer_access.html",
            "employer_access_title",
            who,
            managers=store.managers(who.kbo) if sees_all else [],
            grants=store.roles(who.kbo) if sees_all else [],
            events=store.events(who.kbo) if sees_all else [],
            action_labels={a: t(f"employer_action_{a}") for a in LOGGED_ACTIONS},
            mandates=mandates,
            roles=ROLES,
            mandate_roles=MANDATE_ROLES,
            today=dt.date.today().isoformat(),
            done=done
            if done in ("manager", "manager_end", "role", "role_revoke", "mandate", "mandate_end")
            else "",
        )

    def back(done: str) -> Response:
        return RedirectResponse(f"/employer/access?done={done}", status_code=303)

    @router.post("/employer/access/managers", include_in_schema=False)
    async def appoint(request: Request) -> Response:
        who = acting(request, ACCESS_LEVEL, None)
        if isinstance(who, Response):
            return who
        fields, _ = await form_fields(request)
        try:
            store.appoint_manager(
                actor=who.subject, kbo=who.kbo, insz=_text(fields, "insz"), main=fields.get("main") == "1"
            )
        except AccessRefused as exc:
            return access_refused(request, exc)
        return back("manager")

    @router.post("/employer/access/managers/end", include_in_schema=False)
    async def end_manager(request: Request) -> Response:
        who = acting(request, ACCESS_LEVEL, None)
        if isinstance(who, Response):
            return who
        fields, _ = await form_fields(request)
        try:
            store.end_manager(actor=who.subject, kbo=who.kbo, insz=_text(fields, "insz"))
        except AccessRefused as exc:
            return access_refused(request, exc)
        return back("manager_end")

    @router.post("/employer/access/roles", include_in_schema=False)
    async def grant(request: Request) -> Response:
        who = acting(request, ACCESS_LEVEL, None)
        if isinstance(who, Response):
            return who
        fields, _ = await form_fields(request)
        try:
            start = _date_field(fields, "start", required=False)
            end = _date_field(fields, "end", required=False)
        except FormError as exc:
            return refusal(request, 400, exc.key, **exc.values)
        try:
            store.grant_role(
                actor=who.subject,
                kbo=who.kbo,
                insz=_text(fields, "insz"),
                role=_text(fields, "role"),
                start=start,
                end=end,
            )
        except AccessRefused as exc:
            return access_refused(request, exc)
        return back("role")

    @router.post("/employer/access/roles/revoke", include_in_schema=False)
    async def revoke(request: Request) -> Response:
        who = acting(request, ACCESS_LEVEL, None)
        if isinstance(who, Response):
            return who
        fields, _ = await form_fields(request)
        grant_id = _text(fields, "grant")
        if not grant_id.isdigit() or len(grant_id) > 18:
            return refusal(request, 400, "employer_refused_no_such_role")
        try:
            store.revoke_role(actor=who.subject, kbo=who.kbo, grant_id=int(grant_id))
        except AccessRefused as exc:
            return access_refused(request, exc)
        return back("role_revoke")

    @router.post("/employer/access/mandates", include_in_schema=False)
    async def give_mandate(request: Request) -> Response:
        who = acting(request, ACCESS_LEVEL, "mandates")
        if isinstance(who, Response):
            return who
        fields, _ = await form_fields(request)
        try:
            declarant = _kbo_field(fields, "declarant")
            role = int(_choice(fields, "role", tuple(str(r) for r in MANDATE_ROLES)))
            start = _date_field(fields, "start", required=True)
            end = _date_field(fields, "end", required=False)
        except FormError as exc:
            return refusal(request, 400, exc.key, **exc.values)
        body = {
            "employer": who.kbo,
            "declarant": declarant,
            "role": role,
            "start": start.isoformat() if start else None,
            "end": end.isoformat() if end else None,
        }
        try:
            answer = await employers(request, who, "POST", "/mandates", json=body)
        except BackendUnavailable as exc:
            return unavailable_page(request, exc)
        if answer.status_code != 201:
            code, message, lines = _service_error(answer)
            store.log_use(
                actor=who.subject, kbo=who.kbo, action="grant_mandate", outcome="refused", code=code
            )
            return refusal(request, 400, "employer_mandate_refused", reason=" ".join([message, *lines]))
        store.log_use(
            actor=who.subject,
            kbo=who.kbo,
            action="grant_mandate",
            outcome="done",
            declarant=declarant,
            role=role,
        )
        return back("mandate")

    @router.post("/employer/access/mandates/end", include_in_schema=False)
    async def end_mandate(request: Request) -> Response:
        who = acting(request, ACCESS_LEVEL, "mandates")
        if isinstance(who, Response):
            return who
        fields, _ = await form_fields(request)
        mandate = _text(fields, "mandate")
        try:
            end = _date_field(fields, "end", required=True)
        except FormError as exc:
            return refusal(request, 400, exc.key, **exc.values)
        if not mandate.isdigit() or len(mandate) > 18 or end is None:
            return refusal(request, 400, "employer_mandate_refused", reason=mandate[:20])
        try:
            answer = await employers(
                request, who, "POST", f"/mandates/{int(mandate)}/end", json={"end": end.isoformat()}
            )
        except BackendUnavailable as exc:
            return unavailable_page(request, exc)
        if answer.status_code != 200:
            code, message, _ = _service_error(answer)
            store.log_use(actor=who.subject, kbo=who.kbo, action="end_mandate", outcome="refused", code=code)
            return refusal(request, 400, "employer_mandate_refused", reason=message)
        store.log_use(
            actor=who.subject, kbo=who.kbo, action="end_mandate", outcome="done", mandate=int(mandate)
        )
        return back("mandate_end")

    # ------------------------------------------------------------------------------------- Dimona

    def dimona_form(
        request: Request, who: Acting, values: Mapping[str, str], error: str = "", status: int = 200
    ) -> Response:
        return page(
            request,
            "employer_dimona.html",
            "employer_dimona_title",
            who,
            values=values,
            error=error,
            errors=[],
            worker_types=WORKER_TYPES,
            joint_committees=JOINT_COMMITTEES,
            status_code=status,
        )

    @router.get("/employer/dimona", include_in_schema=False)
    async def dimona_page(request: Request) -> Response:
        who = acting(request, DECLARE_LEVEL, "dimona")
        if isinstance(who, Response):
            return who
        return dimona_form(request, who, {"employer": who.kbo})

    def dimona_body(fields: Mapping[str, str]) -> tuple[str, dict[str, Any]]:
        kind = _choice(fields, "kind", ("in", "out", "cancel"))
        employer = _kbo_field(fields, "employer")
        body: dict[str, Any] = {"employer": {"enterpriseNumber": employer}}
        if kind == "in":
            body["worker"] = {"ssin": _insz_field(fields)}
            start = _date_field(fields, "start", required=True)
            end = _date_field(fields, "end", required=False)
            part: dict[str, Any] = {
                "features": {
                    "workerType": _choice(fields, "worker_type", WORKER_TYPES),
                    "jointCommissionNumber": _choice(fields, "joint_committee", JOINT_COMMITTEES),
                },
                "startDate": start.isoformat() if start else None,
            }
            if end is not None:
                part["endDate"] = end.isoformat()
            hour = _text(fields, "start_hour").replace(":", "")
            if hour:
                if not _HHMM.match(hour):
                    raise FormError("employer_error_hour", value=hour)
                part["startHour"] = hour
            planned = _text(fields, "planned_hours")
            if planned:
                if not planned.isdigit() or not 1 <= int(planned) <= 999:
                    raise FormError("employer_error_planned")
                part["plannedHoursNumber"] = int(planned)
            body["dimonaIn"] = part
            return employer, body
        period = _text(fields, "period")
        if not _PERIOD.match(period):
            raise FormError("employer_error_period")
        if kind == "out":
            end = _date_field(fields, "end", required=True)
            body["dimonaOut"] = {"periodId": period, "endDate": end.isoformat() if end else None}
        else:
            body["dimonaCancel"] = {"periodId": period}
        return employer, body

    @router.post("/employer/dimona", include_in_schema=False)
    async def dimona_declare(request: Request) -> Response:
        who = acting(request, DECLARE_LEVEL, "dimona")
        if isinstance(who, Response):
            return who
        fields, _ = await form_fields(request)
        values = {k: v[:MAX_FIELD] for k, v in fields.items() if k != "csrf_token"}
        t = translate_of(request)
        try:
            employer, body = dimona_body(fields)
        except FormError as exc:
            return dimona_form(request, who, values, t(exc.key, **exc.values), 400)
        try:
            answer = await employers(request, who, "POST", "/declarations", json=body)
        except BackendUnavailable as exc:
            return unavailable_page(request, exc)
        if answer.status_code == 403:
            return no_mandate(request, who, kind="dimona", employer=employer)
        if answer.status_code != 201:
            _, message, lines = _service_error(answer)
            return page(
                request,
                "employer_dimona.html",
                "employer_dimona_title",
                who,
                values=values,
                error=t("employer_error_service", reason=message),
                errors=lines,
                worker_types=WORKER_TYPES,
                joint_committees=JOINT_COMMITTEES,
                status_code=400,
            )
        result = answer.json()
        status = result.get("declarationStatus") or {}
        record(
            who,
            employer=employer,
            kind="DIMONA",
            ticket=result.get("ticket"),
            result=str(status.get("result")),
        )
        return page(
            request,
            "employer_dimona_result.html",
            "employer_dimona_result_title",
            who,
            answer=result,
            result=status.get("result"),
            period=(status.get("period") or {}).get("id"),
            anomalies=status.get("anomalies") or [],
        )

    # --------------------------------------------------------------------------------------- DmfA

    @router.get("/employer/dmfa", include_in_schema=False)
    async def dmfa_page(request: Request) -> Response:
        who = acting(request, DECLARE_LEVEL, "dmfa")
        if isinstance(who, Response):
            return who
        return page(request, "employer_dmfa.html", "employer_dmfa_title", who, error="")

    @router.post("/employer/dmfa", include_in_schema=False)
    async def dmfa_upload(request: Request) -> Response:
        who = acting(request, DECLARE_LEVEL, "dmfa")
        if isinstance(who, Response):
            return who
        _, files = await form_fields(request)
        upload = files.get("file")
        t = translate_of(request)
        if upload is None or not upload.data:
            return page(
                request,
                "employer_dmfa.html",
                "employer_dmfa_title",
                who,
                error=t("employer_error_file"),
                status_code=400,
            )
        try:
            answer = await employers(
                request,
                who,
                "POST",
                "/dmfa/files",
                content=upload.data,
                params={"filename": upload.filename} if upload.filename else None,
                headers={"content-type": "application/xml"},
                timeout=120.0,
            )
        except BackendUnavailable as exc:
            return unavailable_page(request, exc)
        report = (
            answer.json() if answer.headers.get("content-type", "").startswith("application/json") else {}
        )
        if answer.status_code == 403:
            employer = str(((report.get("error") or {}).get("details") or {}).get("employer") or "")
            return no_mandate(request, who, kind="dmfa", employer=employer or "?")
        if answer.status_code not in (201, 400):
            _, message, _ = _service_error(answer)
            return page(
                request,
                "employer_dmfa.html",
                "employer_dmfa_title",
                who,
                error=t("employer_error_service", reason=message),
                status_code=400,
            )
        declarations = report.get("declarations") or []
        results = "".join(sorted({str(d.get("result")) for d in declarations})) or "B"
        employers_named = sorted({str(d["employer"]) for d in declarations if d.get("employer")})
        record(
            who,
            employer=employers_named[0] if len(employers_named) == 1 else None,
            kind="DMFA",
            ticket=report.get("ticket"),
            result=results if answer.status_code == 201 else "B",
        )
        return page(
            request,
            "employer_dmfa_report.html",
            "employer_dmfa_report_title",
            who,
            report=report,
            declarations=declarations,
            file_error=(report.get("error") if answer.status_code == 400 else None),
            filename=upload.filename,
            status_code=201 if answer.status_code == 201 else 400,
        )

    # ---------------------------------------------------------------------------------------- DRS

    def drs_form(
        request: Request,
        who: Acting,
        values: Mapping[str, str],
        error: str = "",
        errors: list[str] | None = None,
        status: int = 200,
    ) -> Response:
        return page(
            request,
            "employer_drs.html",
            "employer_drs_title",
            who,
            values=values,
            error=error,
            errors=errors or [],
            reasons=WECH001_REASONS,
            kinds=ZIMA001_KINDS,
            status_code=status,
        )

    @router.get("/employer/drs", include_in_schema=False)
    async def drs_page(request: Request) -> Response:
        who = acting(request, DECLARE_LEVEL, "drs")
        if isinstance(who, Response):
            return who
        return drs_form(request, who, {"employer": who.kbo})

    def drs_body(fields: Mapping[str, str]) -> tuple[str, str, dict[str, Any]]:
        scenario = _choice(fields, "scenario", DRS_SCENARIOS)
        employer = _kbo_field(fields, "employer")
        insz = _insz_field(fields)
        risk: dict[str, Any]
        if scenario == "WECH001":
            end = _date_field(fields, "end_of_contract_date", required=True)
            last = _date_field(fields, "last_day_worked", required=False)
            risk = {
                "end_of_contract_date": end.isoformat() if end else None,
                "reason": _choice(fields, "reason", WECH001_REASONS),
            }
            if last is not None:
                risk["last_day_worked"] = last.isoformat()
        else:
            start = _date_field(fields, "incapacity_start", required=True)
            last = _date_field(fields, "last_day_worked", required=True)
            risk = {
                "incapacity_start": start.isoformat() if start else None,
                "kind": _choice(fields, "kind", ZIMA001_KINDS),
                "last_day_worked": last.isoformat() if last else None,
            }
        return scenario, employer, {"employer": employer, "insz": insz, "risk": risk}

    @router.post("/employer/drs", include_in_schema=False)
    async def drs_declare(request: Request) -> Response:
        who = acting(request, DECLARE_LEVEL, "drs")
        if isinstance(who, Response):
            return who
        fields, _ = await form_fields(request)
        values = {k: v[:MAX_FIELD] for k, v in fields.items() if k != "csrf_token"}
        t = translate_of(request)
        try:
            scenario, employer, body = drs_body(fields)
        except FormError as exc:
            return drs_form(request, who, values, t(exc.key, **exc.values), status=400)
        try:
            answer = await employers(request, who, "POST", f"/drs/{scenario}", json=body)
        except BackendUnavailable as exc:
            return unavailable_page(request, exc)
        if answer.status_code == 403:
            return no_mandate(request, who, kind="drs", employer=employer)
        if answer.status_code != 201:
            _, message, lines = _service_error(answer)
            return drs_form(request, who, values, t("employer_error_service", reason=message), lines, 400)
        view = answer.json()
        record(
            who, employer=employer, kind=scenario, ticket=view.get("ticket"), result=str(view.get("result"))
        )
        return page(
            request,
            "employer_drs_result.html",
            "employer_drs_result_title",
            who,
            view=view,
            anomalies=view.get("anomalies") or [],
        )

    # ------------------------------------------------------------------------------ notifications

    def may_read_submissions(positions: Positions) -> bool:
        return any(positions.may_use(r) for r in ("dimona", "dmfa", "drs"))

    def reader(request: Request) -> Acting | Response:
        who = acting(request, DECLARE_LEVEL, None)
        if isinstance(who, Response):
            return who
        if not may_read_submissions(who.positions):
            store.refused(actor=who.subject, kbo=who.kbo, action="use_notifications", code="no_role")
            t = translate_of(request)
            return refusal(
                request, 403, "employer_refused_no_role", role=t("employer_role_dimona"), enterprise=who.kbo
            )
        return who

    @router.get("/employer/notifications", include_in_schema=False)
    async def notifications(request: Request, ticket: str = "") -> Response:
        who = reader(request)
        if isinstance(who, Response):
            return who
        if ticket:
            if not _TICKET.match(ticket):
                return refusal(request, 400, "employer_error_ticket")
            return RedirectResponse(f"/employer/notifications/{ticket}", status_code=303)
        return page(
            request,
            "employer_notifications.html",
            "employer_notifications_title",
            who,
            submissions=store.submissions(who.kbo),
        )

    async def submission(
        request: Request, who: Acting, ticket: str, suffix: str = ""
    ) -> httpx.Response | Response:
        if not _TICKET.match(ticket):
            return refusal(request, 400, "employer_error_ticket")
        try:
            answer = await employers(request, who, "GET", f"/submissions/{ticket}{suffix}")
        except BackendUnavailable as exc:
            return unavailable_page(request, exc)
        if answer.status_code != 200:
            # unknown, or another enterprise's: the same answer, nothing of it shown
            if answer.status_code == 403:
                store.refused(actor=who.subject, kbo=who.kbo, action="read_submission", code="not_yours")
            return refusal(request, 404, "employer_no_submission")
        return answer

    @router.get("/employer/notifications/{ticket}", include_in_schema=False)
    async def notification(request: Request, ticket: str) -> Response:
        who = reader(request)
        if isinstance(who, Response):
            return who
        answer = await submission(request, who, ticket)
        if isinstance(answer, Response):
            return answer
        view = answer.json()
        return page(
            request,
            "employer_notification.html",
            "employer_notification_title",
            who,
            view=view,
            declarations=view.get("declarations") or [],
        )

    @router.get("/employer/notifications/{ticket}/{document}.xml", include_in_schema=False)
    async def notification_xml(request: Request, ticket: str, document: str) -> Response:
        who = reader(request)
        if isinstance(who, Response):
            return who
        if document not in ("noti001", "acrf001"):
            return refusal(request, 404, "employer_no_submission")
        answer = await submission(request, who, ticket, "/notification" if document == "noti001" else "/acrf")
        if isinstance(answer, Response):
            return answer
        return Response(
            answer.content,
            media_type="application/xml",
            headers={"content-disposition": f'attachment; filename="{document}-{ticket}.xml"'},
        )

    return router
