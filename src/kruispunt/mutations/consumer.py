"""The recipient's side: apply each delivered change exactly once, whether pulled or pushed.

Delivery is at least once (a crash between applying and acknowledging sends it again), so a recipient
keeps the keys it applied — in the same transaction as what it applied — and passes over a key it has
seen. :func:`apply_once` is that rule; :class:`PullConsumer` reads a feed with it and acknowledges after
committing; :func:`receiver_router` is a push callback with it (signature checked first).
:func:`create_recorder_app` is a recipient that only records what it received (tests, benchmarks, a lab).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx
import orjson
from fastapi import APIRouter, FastAPI, Request
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    insert,
    select,
)
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from kruispunt.core.db import make_engine
from kruispunt.core.web import JSONResponse, create_service_app, error_body
from kruispunt.mutations.push import SIGNATURE_HEADER, verify_signature

Apply = Callable[[Connection, Mapping[str, Any]], None]
"""Apply one delivered change in the recipient's transaction; raise ValueError when it can never apply."""


def applied_table(metadata: MetaData, name: str = "applied_change") -> Table:
    """The table of keys a recipient applied (add it to the recipient's own metadata)."""
    return Table(
        name,
        metadata,
        Column("key", String(40), primary_key=True),
        Column("seq", BigInteger, nullable=False),
        Column("cursor", BigInteger, nullable=False),
        Column("applied_at", DateTime(timezone=True), nullable=False),
    )


def apply_once(conn: Connection, table: Table, delivered: Mapping[str, Any], apply: Apply) -> bool:
    """Apply ``delivered`` unless its key was applied before; True when it was applied now."""
    key = str(delivered["key"])
    if conn.execute(select(table.c.key).where(table.c.key == key)).first() is not None:
        return False
    apply(conn, delivered)
    conn.execute(
        insert(table).values(
            key=key,
            seq=int(delivered["seq"]),
            cursor=int(delivered["cursor"]),
            applied_at=dt.datetime.now(dt.UTC),
        )
    )
    return True


def apply_batch(engine: Engine, table: Table, deliveries: Sequence[Mapping[str, Any]], apply: Apply) -> int:
    """Apply a batch in order in one transaction; how many were new."""
    with engine.begin() as conn:
        return sum(apply_once(conn, table, d, apply) for d in deliveries)


class PullConsumer:
    """Read a recipient's feed, apply, then acknowledge — until stopped."""

    def __init__(
        self,
        *,
        base_url: str,
        recipient: str,
        engine: Engine,
        table: Table,
        apply: Apply,
        batch: int = 500,
        client: httpx.Client | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.recipient = recipient
        self.engine = engine
        self.table = table
        self.apply = apply
        self.batch = batch
        self.client = client or httpx.Client(timeout=40)
        self.headers = {"X-Kruispunt-Institution": recipient}

    def poll(self, *, wait_s: float = 0) -> int:
        """One page: fetched from the acknowledged position, applied, acknowledged; the count fetched."""
        response = self.client.get(
            f"{self.base_url}/mutations/feed/{self.recipient}",
            params={"limit": self.batch, "wait_s": wait_s},
            headers=self.headers,
        )
        response.raise_for_status()
        deliveries = response.json()["deliveries"]
        if not deliveries:
            return 0
        apply_batch(self.engine, self.table, deliveries, self.apply)
        self.client.post(
            f"{self.base_url}/mutations/feed/{self.recipient}/ack",
            json={"cursor": int(deliveries[-1]["cursor"])},
            headers=self.headers,
        ).raise_for_status()
        return len(deliveries)

    def run(self, stop: threading.Event, *, wait_s: float = 5.0, retry_s: float = 1.0) -> None:
        while not stop.is_set():
            try:
                self.poll(wait_s=wait_s)
            except (httpx.HTTPError, OSError):  # the service is away: try again
                stop.wait(retry_s)


def receiver_router(
    *, path: str, engine: Engine, table: Table, apply: Apply, secret: Callable[[], str | None]
) -> APIRouter:
    """``POST path``: a push callback that checks the signature and applies each delivery once."""
    router = APIRouter()

    @router.post(path, tags=["changes"], summary="Signed deliveries of changes (push)")
    async def receive(request: Request) -> Response:
        body = await request.body()
        key = secret()
        if key and not verify_signature(key, body, request.headers.get(SIGNATURE_HEADER)):
            return JSONResponse(error_body("BAD_SIGNATURE", "the signature does not match"), status_code=401)
        try:
            deliveries = orjson.loads(body)["deliveries"]
            if not isinstance(deliveries, list) or not all(
                isinstance(d, dict) and {"key", "seq", "cursor"} <= d.keys() for d in deliveries
            ):
                raise ValueError("deliveries must be a list of delivered changes")
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            return JSONResponse(error_body("MALFORMED", f"not a batch of deliveries: {exc}"), status_code=400)
        try:
            applied = await run_in_threadpool(apply_batch, engine, table, deliveries, apply)
        except ValueError as exc:  # can never apply: tell the sender (it dead-letters)
            return JSONResponse(error_body("CANNOT_APPLY", str(exc)), status_code=422)
        return JSONResponse({"applied": applied, "skipped": len(deliveries) - applied})

    return router


# --------------------------------------------------------------------------------------- the recorder


recorder_metadata = MetaData()
recorder_applied = applied_table(recorder_metadata)
received_change = Table(
    "received_change",
    recorder_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(40), nullable=False, unique=True),
    Column("seq", BigInteger, nullable=False),
    Column("insz", String(11), nullable=False),
    Column("change_id", String(64), nullable=False),
    Column("type", String(32), nullable=False),
)


def record_change(conn: Connection, delivered: Mapping[str, Any]) -> None:
    change = delivered["change"]
    conn.execute(
        insert(received_change).values(
            key=delivered["key"],
            seq=int(delivered["seq"]),
            insz=change["insz"],
            change_id=change["change_id"],
            type=change["type"],
        )
    )


def create_recorder_app(url: str, *, secret: str | None) -> FastAPI:
    """A recipient that records every change pushed to it (``POST /changes``) once, in ``url``."""
    engine = make_engine(url)
    recorder_metadata.create_all(engine)
    app = create_service_app(
        title="kruispunt change recorder", description=__doc__ or "", max_body_bytes=64 << 20
    )
    app.include_router(
        receiver_router(
            path="/changes", engine=engine, table=recorder_applied, apply=record_change, secret=lambda: secret
        )
    )
    return app
