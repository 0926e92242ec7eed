"""The warehouse's publication service: the PxWeb API and the five web applications over one table store.

Why small: the app only wires the routers to a :class:`TableStore` of ``tables_dir`` and installs the shared
error handling of :mod:`kruispunt.core.web` (``GET /health`` included); other warehouse routers are
mounted here alongside.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
from fastapi import FastAPI

from kruispunt.core.db import component_url, make_engine
from kruispunt.core.migrate import upgrade
from kruispunt.core.settings import Settings
from kruispunt.core.web import create_service_app
from kruispunt.network import KSZ
from kruispunt.trust.receiver import EnvelopeAuth, optional_callers, own_identity
from kruispunt.warehouse import apps, pxweb, service
from kruispunt.warehouse.loads_api import create_loads_router
from kruispunt.warehouse.published import TableStore
from kruispunt.warehouse.requests_api import create_requests_router, http_recoder


def create_app(*, tables_dir: Path, lifespan: Any = None) -> FastAPI:
    """The publication app: ``/api/v2/…`` (PxWebApi 2 subset), ``/apps/…`` (HTML) and ``/health``."""
    store = TableStore(tables_dir)
    app = create_service_app(
        title="kruispunt warehouse publication",
        description="Published warehouse statistics: a PxWebApi 2 compatible API and web applications.",
        max_body_bytes=pxweb.MAX_BODY_BYTES,
        lifespan=lifespan,
    )
    app.include_router(pxweb.create_router(store))
    app.include_router(apps.create_router(store))
    return app


def create_warehouse_app(settings: Settings) -> FastAPI:
    """The warehouse service of ``kruispunt up``: publication, the operators' loads through the hub
    (``settings.hub_url``) and the research requests (own database; recoding at ``settings.coding_url``),
    in the folder ``<data_dir>/warehouse``."""
    folders = service.Folders(settings.data_dir / "warehouse")
    url = component_url(settings.db_url, settings.data_dir, "warehouse")
    upgrade(url, "warehouse")
    engine = make_engine(url)
    ksz = own_identity(settings.data_dir / "trust", KSZ)
    ttp = (
        httpx.Client(
            base_url=settings.coding_url, timeout=120.0, auth=EnvelopeAuth(ksz) if ksz is not None else None
        )
        if settings.coding_url
        else None
    )
    hub_url = settings.hub_url

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if ttp is not None:
            ttp.close()
        engine.dispose()

    def fetch(quarter: str) -> dict[str, pa.Table]:
        if hub_url is None:
            raise service.LoadError("no hub is configured (KRUISPUNT_HUB_URL)")
        return service.fetch_extracts(hub_url, quarter)

    app = create_app(tables_dir=folders.tables, lifespan=lifespan)
    app.include_router(create_loads_router(folders, fetch=fetch))
    app.include_router(
        create_requests_router(
            engine=engine,
            snapshot_dir=folders.snapshot,
            extracts_dir=folders.root / "research",
            callers=optional_callers(settings.data_dir / "trust", {KSZ}, service="the research requests"),
            recoder=http_recoder(ttp) if ttp is not None else None,
        )
    )
    return app
