"""The citizen area's pages that show a person's own data, always for the INSZ of the session.

A citizen never names an INSZ: every page asks the network for the session's subject only, so there is no
parameter through which another person's data could be asked. A session whose subject is not an INSZ (a
user id of the username + password means, an operator) gets a 403 page.

Where each page reads, always over HTTP and always as the KSZ, whose front the portal is:

* ``/citizen/my-file`` (450) — the hub's ``POST /directory/person-file``: every institution holding a file
  on the person, in which capacity, for which period (a read the hub serves the KSZ alone);
* ``/citizen/who-consulted`` (450) — the hub's log, ``GET /audit/persons/{insz}/consultations``;
* ``/citizen/my-rights`` (400) — the rights service, ``GET /rights/persons/{insz}``: statuses and the
  supplementary rights granted automatically, with why;
* ``/citizen/attestations`` (400) — the hub's ``list_of_attestations`` (and, on request, a fresh attestation
  of each kind) under deliberation 24/020, each token verified against ``GET /hub/keys`` and downloadable
  as the compact JWS the source signed;
* ``/citizen/career`` (450) — the employers service, ``GET /persons/{insz}/career``: Dimona and DmfA.

A service that cannot be reached gives the 503 page; an answer that is not what the page expects a 502.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import uuid
from datetime import UTC, date, datetime
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from kruispunt.attest.errors import AttestationError
from kruispunt.attest.keys import KeySet
from kruispunt.attest.service import verify
from kruispunt.ids import InvalidIdentifier, validate_insz
from kruispunt.network import KSZ
from kruispunt.portal.areas import AreaContext
from kruispunt.portal.backend import BackendUnavailable, call_backend, unavailable_page
from kruispunt.portal.i18n import Translate
from kruispunt.portal.sessions import Session
from kruispunt.portal.web import error_page, language_of, render, require_level, translate_of

log = logging.getLogger("kruispunt.portal.citizen")

WHO_CONSULTED_LEVEL = 450
MY_FILE_LEVEL = 450
MY_RIGHTS_LEVEL = 400
ATTESTATIONS_LEVEL = 400
CAREER_LEVEL = 450

"""The portal asks the network as the KSZ, for the citizen's own access to their data."""
OWN_DATA_CONTEXT = "KSZ:CITIZEN_OWN_DATA"
"""The legal context of deliberation 24/020 (the citizen's own attestations)."""
PORTAL_USER = "kruispunt-portal-citizen"

ATTESTATION_TYPES: tuple[str, ...] = (
    "attestation_unemployment",
    "attestation_leefloon",
    "attestation_disability_allowance",
    "attestation_pension",
)
"""The attestations a citizen may have issued afresh (deliberation 24/020); the list shows every kind."""

KNOWN_TYPES: frozenset[str] = frozenset(
    {
        "unemployment",
        "leefloon",
        "disability_allowance",
        "pension",
        "child_benefit",
        "increased_reimbursement",
        "work_incapacity",
    }
)
"""Attestation types (``type`` in the claims) with a translated name; another shows as its code."""

_ATTESTATION_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


# ------------------------------------------------------------------------------------------------ helpers


def citizen_of(request: Request, level: int) -> tuple[Session, str] | Response:
    """The session and its INSZ; the login / upgrade redirect, or a 403 page when the subject is no INSZ."""
    found = require_level(request, level)
    if isinstance(found, Response):
        return found
    try:
        return found, validate_insz(found.subject).number
    except InvalidIdentifier:
        t = translate_of(request)
        return error_page(request, 403, "forbidden_title", t("citizen_not_a_citizen"))


def bad_answer(request: Request, service: str, answer: Any) -> Response:
    """A 502 page: the service answered, but not as this page expects (logged, not shown)."""
    log.warning("portal: %s answered %s unexpectedly", service, getattr(answer, "status_code", "?"))
    return error_page(request, 502, "error_title", translate_of(request)("citizen_bad_answer"))


async def read_object(
    request: Request,
    service: str,
    method: str,
    path: str,
    *,
    lists: tuple[str, ...],
    insz: str | None = None,
    **options: Any,
) -> dict[str, Any] | Response:
    """A service's answer as a JSON object with the list members ``lists`` (and, with ``insz``, about that
    person), or the page to show instead: 503 when it cannot be reached, 502 when it answers otherwise."""
    try:
        answer = await call_backend(request, service, method, path, **options)
    except BackendUnavailable as exc:
        return unavailable_page(request, exc)
    body = _json_object(answer) if answer.status_code == 200 else None
    if (
        body is None
        or any(not isinstance(body.get(name), list) for name in lists)
        or (insz is not None and body.get("insz") != insz)
    ):
        return bad_answer(request, service, answer)
    return body


def _json_object(answer: Any) -> dict[str, Any] | None:
    try:
        body = answer.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _number(value: float, lang: str, decimals: int = 2) -> str:
    """``1234.5`` as ``1.234,50`` (nl), ``1 234,50`` (fr) or ``1,234.50`` (en)."""
    text = f"{value:,.{decimals}f}"
    if lang == "en":
        return text
    thousands = "." if lang == "nl" else "\u202f"
    return text.replace(",", "\0").replace(".", ",").replace("\0", thousands)


def _obj(value: Any) -> dict[str, Any]:
    """A nested object of a service's JSON, or an empty one when it is something else."""
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int:
    """A count from a service's JSON; anything that is not a whole number counts as 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def money(cents: int, lang: str) -> str:
    return f"€ {_number(cents / 100, lang)}"


def hundredths(value: int, lang: str) -> str:
    return _number(value / 100, lang)


def _sentence(t: Translate, ground: dict[str, Any]) -> str:
    """Why a right is granted, in the user's language; a household member is not named by INSZ."""
    whose = t("citizen_because_household") if ground.get("via_household") else t("citizen_because_you")
    held = (
        t("citizen_because_held_until", start=ground.get("status_start"), end=ground.get("status_end"))
        if ground.get("status_end")
        else t("citizen_because_held_open", start=ground.get("status_start"))
    )
    gives = (
        t("citizen_because_gives_until", start=ground.get("start"), end=ground.get("end"))
        if ground.get("end")
        else t("citizen_because_gives", start=ground.get("start"))
    )
    return t(
        "citizen_because",
        status=ground.get("status_title") or ground.get("status") or "",
        whose=whose,
        source=ground.get("source_name") or ground.get("source_kbo") or "",
        held=held,
        rule=ground.get("rule") or "",
        gives=gives,
    )


def _envelope(insz: str, message: str, request_body: dict[str, Any]) -> dict[str, Any]:
    """A consultation of the hub by the KSZ for the citizen's own access (CBSS new-style header)."""
    return {
        "informationCustomer": {
            "ticket": f"portal-{uuid.uuid4().hex[:24]}",  # at most 36 characters
            "timestampSent": datetime.now(UTC).isoformat(),
            "customerIdentification": {"cbeNumber": KSZ},
            "userId": PORTAL_USER,
        },
        "legalContext": OWN_DATA_CONTEXT,
        "messageType": {"name": message, "version": "1"},
        "ssin": insz,
        "request": request_body,
    }


class HubRefused(Exception):
    """The hub answered the consultation with a refusal or a fault (not a reply with data or none)."""


async def consult_hub(
    request: Request, insz: str, message: str, body: dict[str, Any]
) -> list[dict[str, Any]]:
    """The attestations a consultation returns (none on NO_DATA_FOUND); only those about ``insz``, by the
    list and by the token itself."""
    answer = await call_backend(
        request, "hub", "POST", "/hub/messages", json=_envelope(insz, message, body), signed=True
    )
    reply = _json_object(answer) if answer.status_code == 200 else None
    if reply is None:
        raise HubRefused(f"{message}: HTTP {answer.status_code}")
    status = _obj(reply.get("status")).get("value")
    if status == "NO_DATA_FOUND":
        return []
    if status != "DATA_FOUND":
        raise HubRefused(f"{message}: status {status!r}")
    found = _obj(reply.get("data")).get("attestations")
    if not isinstance(found, list):
        raise HubRefused(f"{message}: no list of attestations")
    return [
        a
        for a in found
        if isinstance(a, dict)
        and a.get("subject") == insz
        and isinstance(a.get("token"), str)
        and signed_subject(a["token"]) == insz
    ]


async def network_keys(request: Request) -> KeySet | None:
    """The network's published keys, or None when the hub does not give a usable key set."""
    answer = await call_backend(request, "hub", "GET", "/hub/keys")
    doc = _json_object(answer) if answer.status_code == 200 else None
    try:
        return KeySet.from_jwks(doc)
    except AttestationError as exc:
        log.warning("portal: the hub's key set is refused: %s", exc)
        return None


async def institution_names(request: Request) -> dict[str, str]:
    """KBO → name of the network's institutions (empty when the list cannot be read: KBOs are shown)."""
    answer = await call_backend(request, "hub", "GET", "/network/institutions")
    try:
        rows = answer.json() if answer.status_code == 200 else []
    except ValueError:
        rows = []
    if not isinstance(rows, list):
        return {}
    return {str(r["kbo"]): str(r["name"]) for r in rows if isinstance(r, dict) and "kbo" in r and "name" in r}


def signed_subject(token: str) -> str | None:
    """The ``subject`` inside the token's payload (not verified: the page verifies, this only makes sure a
    token about somebody else is never shown or served, whatever the list around it says)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        return None
    subject = claims.get("subject") if isinstance(claims, dict) else None
    return subject if isinstance(subject, str) else None


def attestation_rows(
    found: list[dict[str, Any]], keys: KeySet | None, names: dict[str, str], t: Translate
) -> list[dict[str, Any]]:
    """One row per attestation, newest first, with the verification of its signature in words."""
    today = date.today()
    rows = []
    for a in found:
        token = a.get("token")
        check_class = "status-down"
        if keys is None:
            check = t("citizen_attest_no_keys")
        elif not isinstance(token, str):
            check = t("citizen_attest_refused", reason="no token")
        else:
            try:
                verified = verify(token, keys, on=today)
            except AttestationError as exc:
                check = t("citizen_attest_refused", reason=exc.code)
            else:
                check = t(f"citizen_attest_{verified.validity}")
                check_class = "status-up" if verified.in_force else "status-unknown"
        kind = str(a.get("type") or "")
        issuer = str(a.get("issuer") or "")
        rows.append(
            {
                "id": str(a.get("id") or ""),
                "kind": t(f"citizen_attest_type_{kind}") if kind in KNOWN_TYPES else kind,
                "issuer": names.get(issuer, issuer),
                "valid_from": a.get("valid_from") or "",
                "valid_to": a.get("valid_to") or t("citizen_open_ended"),
                "issued_at": str(a.get("issued_at") or "")[:19].replace("T", " "),
                "check": check,
                "check_class": check_class,
                "downloadable": isinstance(token, str)
                and bool(_ATTESTATION_ID.match(str(a.get("id") or ""))),
            }
        )
    rows.sort(key=lambda r: str(r["issued_at"]), reverse=True)
    return rows


# -------------------------------------------------------------------------------------------------- pages


def create_router(ctx: AreaContext) -> APIRouter:
    router = APIRouter()

    @router.get("/citizen/who-consulted", include_in_schema=False)
    async def who_consulted(request: Request) -> Response:
        """Who consulted my data in the last 12 months, from the hub's log."""
        found = citizen_of(request, WHO_CONSULTED_LEVEL)
        if isinstance(found, Response):
            return found
        session, insz = found
        body = await read_object(
            request,
            "hub",
            "GET",
            f"/audit/persons/{insz}/consultations",
            lists=("consultations",),
            params={"months": 12},
            signed=True,
            subject=insz,
        )
        if isinstance(body, Response):
            return body
        consultations: list[dict[str, Any]] = [c for c in body["consultations"] if isinstance(c, dict)]
        for c in consultations:
            c["when"] = str(c.get("time") or "")[:19].replace("T", " ")
        return render(
            request,
            "who_consulted.html",
            "citizen_who_title",
            active="citizen",
            consultations=consultations,
            session=session,
        )

    @router.get("/citizen/my-file", include_in_schema=False)
    async def my_file(request: Request) -> Response:
        """Which institutions hold a file on me, in which capacity, for which period (the directory)."""
        found = citizen_of(request, MY_FILE_LEVEL)
        if isinstance(found, Response):
            return found
        session, insz = found
        body = await read_object(
            request,
            "hub",
            "POST",
            "/directory/person-file",
            lists=("lines",),
            insz=insz,
            json={"institution": KSZ, "insz": insz},
            signed=True,
            subject=insz,
        )
        if isinstance(body, Response):
            return body
        lang = language_of(request)
        t = translate_of(request)
        today = date.today().isoformat()
        lines = []
        for line in body["lines"]:
            if not isinstance(line, dict):
                continue
            institution = _obj(line.get("institution"))
            labels = _obj(line.get("capacity_label"))
            label_lang = "fr" if lang == "fr" else "nl"
            period = _obj(line.get("period"))
            end = period.get("end")
            lines.append(
                {
                    "name": institution.get("name") or institution.get("kbo") or "",
                    "kbo": institution.get("kbo") or "",
                    "capacity": line.get("capacity"),
                    "label": labels.get(label_lang) or "",
                    "label_lang": label_lang,
                    "start": period.get("start") or "",
                    "end": end or t("citizen_open_ended"),
                    "active": (period.get("start") or "") <= today and (end is None or end >= today),
                }
            )
        lines.sort(key=lambda x: (not x["active"], str(x["name"]), str(x["start"])))
        return render(
            request,
            "citizen_my_file.html",
            "citizen_file_title",
            active="citizen",
            lines=lines,
            session=session,
        )

    @router.get("/citizen/my-rights", include_in_schema=False)
    async def my_rights(request: Request) -> Response:
        """My statuses and the supplementary rights granted automatically, each with why."""
        found = citizen_of(request, MY_RIGHTS_LEVEL)
        if isinstance(found, Response):
            return found
        session, insz = found
        body = await read_object(
            request, "rights", "GET", f"/rights/persons/{insz}", lists=("statuses", "rights")
        )
        if isinstance(body, Response):
            return body
        t = translate_of(request)
        statuses = [
            {
                "title": s.get("status_title") or s.get("status") or "",
                "source": s.get("source_name") or s.get("source_kbo") or "",
                "start": s.get("start") or "",
                "end": s.get("end") or t("citizen_open_ended"),
            }
            for s in body["statuses"]
            if isinstance(s, dict)
        ]
        rights = [
            {
                "title": r.get("title") or r.get("right") or "",
                "body": _obj(r.get("granted_by")).get("name") or _obj(r.get("granted_by")).get("kbo") or "",
                "start": r.get("start") or "",
                "end": r.get("end") or t("citizen_open_ended"),
                "because": [_sentence(t, g) for g in r.get("because") or [] if isinstance(g, dict)],
            }
            for r in body["rights"]
            if isinstance(r, dict)
        ]
        return render(
            request,
            "citizen_my_rights.html",
            "citizen_rights_title",
            active="citizen",
            statuses=statuses,
            rights=rights,
            replaced=body.get("insz") not in (None, insz),
            session=session,
        )

    @router.get("/citizen/attestations", include_in_schema=False)
    async def attestations(request: Request) -> Response:
        """My electronic attestations, each verified against the network's keys, downloadable."""
        found = citizen_of(request, ATTESTATIONS_LEVEL)
        if isinstance(found, Response):
            return found
        session, insz = found
        try:
            listed = await consult_hub(request, insz, "list_of_attestations", {})
            keys = await network_keys(request)
            names = await institution_names(request)
        except BackendUnavailable as exc:
            return unavailable_page(request, exc)
        except HubRefused as exc:
            log.warning("portal: attestations of a citizen refused by the hub: %s", exc)
            return error_page(
                request, 502, "error_title", translate_of(request)("citizen_attest_hub_refused")
            )
        t = translate_of(request)
        return render(
            request,
            "citizen_attestations.html",
            "citizen_attest_title",
            active="citizen",
            rows=attestation_rows(listed, keys, names, t),
            issued=request.query_params.get("issued"),
            session=session,
        )

    @router.post("/citizen/attestations", include_in_schema=False)
    async def ask_attestations(request: Request) -> Response:
        """Have every source that holds one of my statuses issue a fresh attestation in force today."""
        found = citizen_of(request, ATTESTATIONS_LEVEL)
        if isinstance(found, Response):
            return found
        _, insz = found
        issued = 0
        try:
            for message in ATTESTATION_TYPES:
                issued += len(await consult_hub(request, insz, message, {}))
        except BackendUnavailable as exc:
            return unavailable_page(request, exc)
        except HubRefused as exc:
            log.warning("portal: a fresh attestation was refused by the hub: %s", exc)
            return error_page(
                request, 502, "error_title", translate_of(request)("citizen_attest_hub_refused")
            )
        return RedirectResponse(f"/citizen/attestations?issued={issued}", status_code=303)

    @router.get("/citizen/attestations/{attestation_id}.jwt", include_in_schema=False)
    async def download(request: Request, attestation_id: str) -> Response:
        """One of my attestations as the compact JWS its source signed (verifiable offline)."""
        found = citizen_of(request, ATTESTATIONS_LEVEL)
        if isinstance(found, Response):
            return found
        _, insz = found
        t = translate_of(request)
        wanted = attestation_id.lower()
        if not _ATTESTATION_ID.match(wanted):
            return error_page(request, 400, "error_title", t("citizen_attest_bad_id"))
        try:
            listed = await consult_hub(request, insz, "list_of_attestations", {})
        except BackendUnavailable as exc:
            return unavailable_page(request, exc)
        except HubRefused as exc:
            log.warning("portal: attestations of a citizen refused by the hub: %s", exc)
            return error_page(request, 502, "error_title", t("citizen_attest_hub_refused"))
        token = next(
            (a["token"] for a in listed if str(a.get("id")) == wanted and isinstance(a.get("token"), str)),
            None,
        )
        if token is None:
            return error_page(request, 404, "not_found_title", t("citizen_attest_not_found"))
        return Response(
            token,
            media_type="application/jwt",
            headers={"content-disposition": f'attachment; filename="attestation-{wanted}.jwt"'},
        )

    @router.get("/citizen/career", include_in_schema=False)
    async def career(request: Request) -> Response:
        """My employments (Dimona) and quarterly data (DmfA) as my employers declared them."""
        found = citizen_of(request, CAREER_LEVEL)
        if isinstance(found, Response):
            return found
        session, insz = found
        body = await read_object(
            request,
            "employers",
            "GET",
            f"/persons/{insz}/career",
            lists=("employments", "quarters"),
            insz=insz,
            signed=True,
            subject=insz,
        )
        if isinstance(body, Response):
            return body
        lang = language_of(request)
        t = translate_of(request)
        employments = [
            {
                "employer": _obj(e.get("employer")).get("name") or "",
                "kbo": _obj(e.get("employer")).get("kbo") or "",
                "start": e.get("start") or "",
                "end": e.get("end") or t("citizen_open_ended"),
                "worker_type": e.get("worker_type") or "",
                "joint_committee": e.get("joint_committee") or "",
            }
            for e in body["employments"]
            if isinstance(e, dict)
        ]
        employments.reverse()  # the most recent first
        quarters = [
            {
                "quarter": q.get("quarter") or "",
                "employer": _obj(q.get("employer")).get("name") or _obj(q.get("employer")).get("kbo") or "",
                "worker_code": q.get("worker_code") or "",
                "days": hundredths(_int(q.get("days")), lang),
                "wages": money(_int(q.get("gross_cents")), lang),
            }
            for q in body["quarters"]
            if isinstance(q, dict)
        ]
        quarters.reverse()
        return render(
            request,
            "citizen_career.html",
            "citizen_career_title",
            active="citizen",
            employments=employments,
            quarters=quarters,
            session=session,
        )

    return router
