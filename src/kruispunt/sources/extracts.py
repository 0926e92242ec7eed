"""The quarterly extract every source gives the data warehouse: ``POST /warehouse/extract/{dataset}``.

The hub calls it under the warehouse's deliberation (``deliberations/24-014-…``) and codes the answer at the
trusted third party before anything reaches the warehouse; a source never sends an extract to anyone else.
The body is ``{"quarter": "2024Q4"}``; the answer is an Arrow IPC stream in the schema of
:mod:`kruispunt.warehouse.schemas` (``RAW_PERSONS``, ``RAW_FILES``, ``RAW_EMPLOYERS``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

import pyarrow as pa
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine, Table, and_, or_, select
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from kruispunt.simulate import KINDS
from kruispunt.warehouse import extract

ARROW_STREAM = "application/vnd.apache.arrow.stream"

Extractor = Callable[[str], pa.Table]
"""quarter → the dataset's rows for that quarter."""


class ExtractIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    quarter: str = Field(pattern=r"^\d{4}Q[1-4]$", description="The quarter, e.g. 2024Q4.")


def arrow_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def read_arrow(body: bytes) -> pa.Table:
    with pa.ipc.open_stream(pa.py_buffer(body)) as reader:
        return reader.read_all()


def add_extract_routes(app: FastAPI, extractors: Mapping[str, Extractor], *, prefix: str = "") -> None:
    """``POST {prefix}/warehouse/extract/{dataset}`` for each dataset this source gives."""
    for dataset, extractor in extractors.items():
        _add_route(app, f"{prefix}/warehouse/extract/{dataset}", dataset, extractor)


def _add_route(app: FastAPI, path: str, dataset: str, extractor: Extractor) -> None:
    async def route(body: ExtractIn) -> Response:
        try:
            table = await run_in_threadpool(extractor, body.quarter)
        except extract.ExtractError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None
        return Response(arrow_bytes(table), media_type=ARROW_STREAM)

    app.add_api_route(
        path,
        route,
        methods=["POST"],
        tags=["warehouse"],
        summary=f"The quarterly {dataset} extract for the data warehouse (Arrow IPC stream)",
        response_class=Response,
    )


def _overlapping(table: Table, start: str, end: str, first: dt.date, last: dt.date) -> Any:
    c = table.c
    return and_(c[start] <= last, or_(c[end].is_(None), c[end] >= first))


def _on(table: Table, start: str, end: str, day: dt.date) -> Any:
    return _overlapping(table, start, end, day, day)


def social_files(engine: Engine, file_table: Table) -> Extractor:
    """A social source's (or member's) files that overlap the quarter."""

    def run(quarter: str) -> pa.Table:
        first, last = extract.quarter_bounds(quarter)
        c = file_table.c
        query = (
            select(c.insz, c.kind, c.start, c.end, c.attrs)
            .where(_overlapping(file_table, "start", "end", first, last))
            .order_by(c.id)
        )
        with engine.connect() as conn:
            rows = conn.execute(query).all()
        return extract.files_table(
            insz=[r.insz for r in rows],
            source=[KINDS[r.kind].source if r.kind in KINDS else "" for r in rows],
            kind=[r.kind for r in rows],
            start=[r.start for r in rows],
            end=[r.end for r in rows],
            attrs=[r.attrs or {} for r in rows],
        )

    return run


def employers_of(files: Extractor) -> Extractor:
    """The RSZ's employers of the quarter, from its own Dimona files."""
    return lambda quarter: extract.employers_of_files(files(quarter), quarter)


def _birth_month(birth_date: str) -> str:
    """``YYYY-MM`` of a birth date whose month may be unknown (``00``: counted from January)."""
    return birth_date[:5] + (birth_date[5:7] if birth_date[5:7] != "00" else "01")


def register_persons(
    engine: Engine,
    person_table: Table,
    address_table: Table,
    member_table: Table | None,
    *,
    in_use: Any = None,
) -> Extractor:
    """A register's people alive and born on the quarter's last day, with residence and household then;
    ``in_use`` keeps only the numbers in use (the bis register: not replaced, not cancelled)."""

    def run(quarter: str) -> pa.Table:
        _, last = extract.quarter_bounds(quarter)
        p, a = person_table.c, address_table.c
        alive = or_(p.death_date.is_(None), p.death_date > last)
        if in_use is not None:
            alive = and_(alive, in_use)
        with engine.connect() as conn:
            people = conn.execute(
                select(p.insz, p.sex, p.birth_date, p.nationality).where(alive).order_by(p.insz)
            ).all()
            nis = dict(
                conn.execute(
                    select(a.insz, a.nis_code).where(_on(address_table, "start_date", "end_date", last))
                ).all()
            )
            households: dict[str, tuple[str, str]] = {}
            if member_table is not None:
                m = member_table.c
                for r in conn.execute(
                    select(m.insz, m.household_id, m.relationship).where(
                        _on(member_table, "start_date", "end_date", last)
                    )
                ):
                    households[r.insz] = (str(r.household_id), r.relationship)
        month = last.strftime("%Y-%m")
        born = [r for r in people if _birth_month(r.birth_date) <= month]
        return extract.persons_table(
            insz=[r.insz for r in born],
            sex=[r.sex for r in born],
            birth_date=[r.birth_date for r in born],
            nationality=[r.nationality for r in born],
            nis_code=[nis.get(r.insz) for r in born],
            household=[households[r.insz][0] if r.insz in households else None for r in born],
            relationship=[households[r.insz][1] if r.insz in households else "" for r in born],
            quarter=quarter,
        )

    return run
