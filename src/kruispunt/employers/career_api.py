"""A person's career as the employers declared it: Dimona employments and DmfA quarters, for the citizen.

Why here: the employers service is where Dimona periods and DmfA worker records are stored, so it is the one
place that can answer "my career" without asking every employer. Why only the KSZ, for that person: an
employer (or its social secretariat) reads its own declarations through the Dimona and DmfA routes; a whole
career across employers is the person's own data, shown to them by the KSZ's portal. The portal signs the
request with the KSZ's key and names the logged-in citizen (``sub``); the route checks both
(:mod:`kruispunt.trust.receiver`): unsigned 401, another institution 403, a replay 409, another person 403
``ONLY_THE_PERSON``. No header is believed.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from sqlalchemy import Connection, func, select
from starlette.concurrency import run_in_threadpool

from kruispunt.core.web import error_responses
from kruispunt.employers.context import EmployersContext
from kruispunt.employers.dmfa import quarter_of
from kruispunt.employers.errors import DeclarationRefused
from kruispunt.employers.models import (
    dimona_period_table,
    dmfa_declaration_table,
    dmfa_worker_record_table,
    employer_table,
)
from kruispunt.ids import InvalidIdentifier, validate_insz
from kruispunt.trust.envelopes import VerifiedEnvelope
from kruispunt.trust.receiver import CallerRefused, checked_callers, only_the_person, signed_route_errors


def employments(conn: Connection, insz: str) -> list[dict[str, Any]]:
    """The person's Dimona periods (not cancelled; daily registrations are folded into their period)."""
    p, e = dimona_period_table.c, employer_table.c
    rows = conn.execute(
        select(
            p.id,
            p.employer_kbo,
            e.name,
            p.worker_type,
            p.joint_committee,
            p.start,
            p.end,
            p.planned_hours,
        )
        .select_from(dimona_period_table.outerjoin(employer_table, e.kbo == p.employer_kbo))
        .where(p.insz == insz, p.cancelled.is_(False), p.parent_id.is_(None))
        .order_by(p.start, p.id)
    )
    return [
        {
            "period_id": r.id,
            "employer": {"kbo": r.employer_kbo, "name": r.name},
            "start": r.start.isoformat(),
            "end": r.end.isoformat() if r.end is not None else None,
            "worker_type": r.worker_type,
            "joint_committee": r.joint_committee,
            "planned_hours": r.planned_hours,
        }
        for r in rows
    ]


def quarters(conn: Connection, insz: str) -> list[dict[str, Any]]:
    """The person's DmfA worker records in the current version of each declaration, summed per quarter,
    employer and worker code (a superseded version is history, not the career)."""
    w, d, e = dmfa_worker_record_table.c, dmfa_declaration_table.c, employer_table.c
    rows = conn.execute(
        select(
            w.quarter,
            w.employer_kbo,
            e.name,
            w.worker_code,
            func.sum(w.gross_cents).label("gross_cents"),
            func.sum(w.days).label("days"),
            func.sum(w.hours).label("hours"),
        )
        .select_from(
            dmfa_worker_record_table.join(dmfa_declaration_table, d.id == w.dmfa_id).outerjoin(
                employer_table, e.kbo == w.employer_kbo
            )
        )
        .where(w.insz == insz, d.superseded.is_(False))
        .group_by(w.quarter, w.employer_kbo, e.name, w.worker_code)
        .order_by(w.quarter, w.employer_kbo, w.worker_code)
    )
    out = []
    for r in rows:
        q = quarter_of(int(r.quarter))
        out.append(
            {
                "quarter": q.label if q is not None else str(r.quarter),
                "employer": {"kbo": r.employer_kbo, "name": r.name},
                "worker_code": r.worker_code,
                "gross_cents": int(r.gross_cents or 0),
                "days": int(r.days or 0),
                "hours": int(r.hours or 0),
            }
        )
    return out


def router(ctx: EmployersContext) -> APIRouter:
    """``GET /persons/{insz}/career`` for the KSZ's portal."""
    r = APIRouter(tags=["citizens"])
    signed_by_the_ksz = Depends(checked_callers(ctx.career_callers))

    @r.get(
        "/persons/{insz}/career",
        summary="A person's employments (Dimona) and quarters (DmfA), for the KSZ's citizen portal only",
        responses={
            **error_responses(400, e400="Not a valid INSZ."),
            **signed_route_errors(
                acting_for="person",
                e403="Not signed by the KSZ, or for another person than the one asked about.",
            ),
        },
    )
    async def career(insz: str, caller: VerifiedEnvelope = signed_by_the_ksz) -> dict[str, Any]:
        """``days`` and ``hours`` are in hundredths, ``gross_cents`` in euro cents, as in the DmfA."""
        try:
            number = validate_insz(insz).number
        except InvalidIdentifier as exc:
            raise DeclarationRefused(400, "INVALID_SSIN", f"INSZ: {exc}").http() from exc
        try:
            only_the_person(caller, number, "a person's whole career")
        except CallerRefused as refused:
            raise refused.http() from None

        def read() -> dict[str, Any]:
            with ctx.engine.connect() as conn:
                return {
                    "insz": number,
                    "employments": employments(conn, number),
                    "quarters": quarters(conn, number),
                }

        return await run_in_threadpool(read)

    return r
