"""The operators' routes of the warehouse: load a quarter through the network, see what is loaded.

``POST /warehouse/loads`` ``{"quarter": "2024Q4"}`` fetches the quarter's coded extracts through the hub,
rebuilds its snapshot and recomputes every published table (one load at a time; a failed load keeps the
quarter as it was). ``GET /warehouse/loads`` lists the loaded quarters and the published tables.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pyarrow as pa
from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from kruispunt.warehouse import service
from kruispunt.warehouse.extract import ExtractError


class LoadIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    quarter: str = Field(pattern=r"^\d{4}Q[1-4]$", description="The quarter to load, e.g. 2024Q4.")


class LoadOut(BaseModel):
    quarter: str
    quarters: list[str] = Field(description="Every quarter loaded now, oldest first.")
    tables: list[str] = Field(description="The tables recomputed and published.")


class LoadsOut(BaseModel):
    quarters: list[str]


def create_loads_router(
    folders: service.Folders, *, fetch: Callable[[str], dict[str, pa.Table]], min_frequency: int = 10
) -> APIRouter:
    router = APIRouter(tags=["operations"])
    lock = threading.Lock()

    def load(quarter: str) -> LoadOut:
        # a second load is refused at once rather than left waiting (a load takes minutes, and a waiting
        # request would hold a worker thread and time out at its client)
        if not lock.acquire(blocking=False):
            raise HTTPException(status_code=409, detail="a load is running; try again when it is done")
        try:
            metas = service.load_quarter(folders, quarter, fetch=fetch, min_frequency=min_frequency)
            return LoadOut(
                quarter=quarter, quarters=service.loaded_quarters(folders), tables=[m.id for m in metas]
            )
        finally:
            lock.release()

    @router.post(
        "/warehouse/loads",
        summary="Load a quarter through the network and recompute the tables",
        responses={409: {"description": "another load is running"}, 502: {"description": "the load failed"}},
    )
    async def post_load(body: LoadIn) -> LoadOut:
        try:
            return await run_in_threadpool(load, body.quarter)
        except (service.LoadError, ExtractError) as exc:
            raise HTTPException(status_code=502, detail=str(exc)) from None

    @router.get("/warehouse/loads", summary="The quarters loaded")
    def get_loads() -> LoadsOut:
        return LoadsOut(quarters=service.loaded_quarters(folders))

    return router
