"""Shared fixtures of the change-notification tests: a fresh mutations database (SQLite and PostgreSQL),
changes built from valid numbers, a persons directory given as data, and each transport (the database;
NATS JetStream on 127.0.0.1:4222, a stream of its own per test)."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from typing import Any

import pytest
from sqlalchemy import Engine

from kruispunt.core.db import make_engine
from kruispunt.core.migrate import upgrade
from kruispunt.ids import make_insz
from kruispunt.mutations import service
from kruispunt.mutations.definitions import default_subscriptions
from kruispunt.mutations.transport import Transport, make_transport

RVA = "0206737484"
NR = "0362475538"
FPD = "0206738078"
KSZ = "0244640631"  # the derived-rights engine (GSS): every status change of every person
OCMW_GENT = "0212140186"
CM = "0411702543"  # a mutuality
NATS_URL = os.environ.get("KRUISPUNT_TEST_NATS_URL", "nats://127.0.0.1:4222")

Lines = Mapping[str, Sequence[tuple[str, int, int]]]


def people(count: int, start: int = 0) -> list[str]:
    return [
        make_insz(dt.date(1970, 1, 1) + dt.timedelta(days=start + i), 1 + (start + i) % 997)
        for i in range(count)
    ]


def unemployment(
    n: int, insz: str, *, kind: str = "unemployment", change_type: str = "status.opened"
) -> dict[str, Any]:
    """The RVA's n-th change: an unemployment file of ``insz`` opened (or closed …)."""
    data: dict[str, Any] = {"kind": kind, "file_key": f"u{n}", "start": "2026-10-01"}
    if change_type == "status.closed":
        data["end"] = "2026-11-30"
    return {
        "change_id": f"rva-{n}",
        "source": RVA,
        "type": change_type,
        "insz": insz,
        "effective": "2026-10-01",
        "data": data,
    }


def known_by_ocmw_and_mutuality(inszs: Sequence[str]) -> dict[str, list[tuple[str, int, int]]]:
    """Every person integrated by OCMW Gent (leefloon, capacity 2) and a mutuality (capacity 1): an RVA
    unemployment change then reaches three recipients (the OCMW, the mutuality, the rights engine)."""
    return {i: [(OCMW_GENT, 17, 2), (CM, 11, 1), (RVA, 18, 1)] for i in inszs}


def directory_of(lines: Lines) -> service.DirectoryLookup:
    def lookup(inszs: Sequence[str], _day: dt.date) -> Mapping[str, Sequence[tuple[str, int, int]]]:
        return {i: lines[i] for i in inszs if i in lines}

    return lookup


def ingest(engine: Engine, changes: Sequence[Mapping[str, Any]], lines: Lines) -> list[service.Outcome]:
    with engine.begin() as conn:
        return service.receive(
            conn,
            items=service.parse_changes(list(changes)),
            subscriptions=default_subscriptions(),
            directory=directory_of(lines),
        )


@pytest.fixture
def mutations_engine(fresh_db: Callable[[str], str]) -> Iterator[Engine]:
    url = fresh_db("mutations")
    upgrade(url, "mutations")
    engine = make_engine(url)
    yield engine
    engine.dispose()


def nats_reachable() -> bool:
    host, port = NATS_URL.removeprefix("nats://").split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(params=["database", "nats"])
def transport_name(request: pytest.FixtureRequest) -> str:
    name = str(request.param)
    if name == "nats":
        pytest.importorskip("kruispunt.mutations.nats_transport")
        if not nats_reachable():
            if os.environ.get("KRUISPUNT_REQUIRE_NATS") == "1":
                pytest.fail(f"NATS is required (KRUISPUNT_REQUIRE_NATS=1) but not reachable at {NATS_URL}")
            pytest.skip(f"no NATS server at {NATS_URL}")
    return name


@pytest.fixture
def open_transport(
    transport_name: str, mutations_engine: Engine
) -> Callable[[], contextlib.AbstractAsyncContextManager[Transport]]:
    """``async with open_transport() as t``: a started transport on the test's database (tests run their
    scenario with ``asyncio.run``); on NATS a stream of its own, deleted afterwards."""

    @contextlib.asynccontextmanager
    async def opened() -> AsyncIterator[Transport]:
        stream = f"KPTEST_{uuid.uuid4().hex[:10].upper()}"
        t = make_transport(transport_name, mutations_engine, nats_url=NATS_URL, stream=stream)
        await t.start()
        try:
            yield t
        finally:
            drop = getattr(t, "delete_stream", None)
            if drop is not None:
                await drop()
            await t.close()

    return opened
