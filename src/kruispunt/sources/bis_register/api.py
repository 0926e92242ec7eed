"""HTTP service of the KSZ bis register.

``POST /consult/identify_person`` (bis numbers), ``POST /persons`` (issue a bis number: 201),
``POST /persons/verify``, ``GET /health``; the end of a bis number: ``POST /persons/{insz}/replace``
(``insz.replaced``), ``POST /persons/{insz}/cancel`` (``insz.cancelled``), published to ``mutations_url``
when one is given. Run with ``uvicorn --factory`` over :func:`create_app`.
"""

from __future__ import annotations

import threading

from fastapi import FastAPI, HTTPException

from kruispunt.sources import extracts
from kruispunt.sources.bis_register import service
from kruispunt.sources.bis_register.models import address_table, change_outbox_table, person_table
from kruispunt.sources.bis_register.schemas import CancelIn, IssueBisReply, IssueBisRequest, ReplaceIn
from kruispunt.sources.common import RecordedReply, error_detail
from kruispunt.sources.web import (
    add_batch_consult_route,
    add_identify_person_route,
    add_unknown_message_type_route,
    add_verify_route,
    consult_routes_answer,
    open_source_app,
    path_insz,
    record,
)

MESSAGE_TYPES = ["identify_person"]


def create_app(url: str, *, mutations_url: str | None = None) -> FastAPI:
    """The bis register service on the database at ``url`` (migrated at start-up); with ``mutations_url``
    the changes it records are published there."""
    app, engine = open_source_app(
        url=url,
        component="bis_register",
        description="Authentic source: the KSZ bis register of people without a national-register number.",
        prepare=service.ensure_indexes,
        meta=service.get_meta,
        outbox=change_outbox_table,
        mutations_url=mutations_url,
    )
    extracts.add_extract_routes(
        app,
        {
            "persons": extracts.register_persons(
                engine,
                person_table,
                address_table,
                None,
                in_use=person_table.c.replaced_by.is_(None) & person_table.c.cancelled_on.is_(None),
            )
        },
    )
    # SQLite has one writer at a time; serialising issuers in-process avoids "database is locked" retries.
    # On PostgreSQL concurrent issuers are safe (primary key + retry in the service).
    issue_lock = threading.Lock() if engine.dialect.name == "sqlite" else None

    add_identify_person_route(
        app,
        engine,
        service.identify_person,
        summary="identify_person v1 for bis numbers: by INSZ or by phonetic search",
    )

    @app.post(
        "/persons", status_code=201, tags=["persons"], summary="Register a person and issue a bis number"
    )
    def issue(body: IssueBisRequest) -> IssueBisReply:
        def run() -> str:
            with engine.begin() as conn:
                return service.issue_bis_number(
                    conn,
                    last_name=body.last_name,
                    first_names=body.first_names,
                    birth_date=body.birth_date,
                    sex=body.sex,
                    nationality=body.nationality,
                    address=body.address,
                    civil_state=body.civil_state,
                )

        try:
            if issue_lock is None:
                insz = run()
            else:
                with issue_lock:
                    insz = run()
        except service.BisNumbersExhausted as exc:
            raise HTTPException(
                status_code=409, detail=error_detail("BIS_NUMBERS_EXHAUSTED", str(exc))
            ) from exc
        except service.BisNumberContention as exc:
            raise HTTPException(status_code=503, detail=error_detail("TRY_AGAIN", str(exc))) from exc
        return IssueBisReply(insz=insz)

    @app.post(
        "/persons/{insz}/replace",
        status_code=201,
        tags=["events"],
        summary="Record that a bis number is replaced by another INSZ (insz.replaced)",
    )
    def replace(insz: str, body: ReplaceIn) -> RecordedReply:
        number = path_insz(insz)
        return record(app, lambda conn: service.record_replacement(conn, insz=number, body=body))

    @app.post(
        "/persons/{insz}/cancel",
        status_code=201,
        tags=["events"],
        summary="Record that a bis number was given in error (insz.cancelled)",
    )
    def cancel(insz: str, body: CancelIn) -> RecordedReply:
        number = path_insz(insz)
        return record(app, lambda conn: service.record_cancellation(conn, insz=number, body=body))

    add_verify_route(app, engine, service.verify_proof)
    add_unknown_message_type_route(app, MESSAGE_TYPES)
    # the hub's batches: many envelopes per call, each answered by the single route's handler above
    add_batch_consult_route(app, consult_routes_answer(app))
    return app
